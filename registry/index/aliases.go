package index

import (
	"context"
	_ "crypto/sha512" // sha384 and sha512 digests
	"errors"
	"net/http"
	"path"
	"strings"

	"github.com/distribution/distribution/v3"
	diststorage "github.com/distribution/distribution/v3/registry/storage"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/storage"
	"github.com/berth-registry/berth/storage/metadata"
)

// Digest aliases. Distribution stores all content under its sha256 digest.
// A blob upload finished with a sha512 digest is verified by distribution
// itself (it re-reads the upload and hashes it) and linked into the
// repository under both digests. berth completes that picture where
// distribution stops short:
//
//   - the answers name the digest the client used (Docker-Content-Digest,
//     Location, ETag), not the sha256 one;
//   - a mount by sha512 links both digests into the target repository
//     (distribution would write a link to a sha512 blob that does not exist);
//   - a manifest pushed by a sha512 digest is stored under its sha256 digest
//     and linked under the sha512 one, the same way distribution links blobs,
//     so gets, heads and the references of image indexes resolve natively;
//   - a delete by either digest removes every link of the content, found in
//     the digest_aliases index.
//
// The index records every alias (digest_aliases) and answers by it; the
// links also live in storage, in distribution's own layout, as the copy
// reindex rebuilds from (which sees sha256 artifacts only).

// IsAlias reports whether d is a valid digest of another algorithm than
// the canonical one (sha256) distribution stores content under.
func IsAlias(d digest.Digest) bool {
	return d.Validate() == nil && d.Algorithm() != digest.Canonical
}

// aliasLinkPath is where distribution keeps a repository's link of a blob
// (kind blob) or manifest revision (kind manifest) by digest d
// (registry/storage/paths.go: layerLinkPathSpec, manifestRevisionLinkPathSpec).
func aliasLinkPath(repo, kind string, d digest.Digest) string {
	dir := "_layers"
	if kind == metadata.AliasManifest {
		dir = "_manifests/revisions"
	}
	return path.Join("/docker/registry/v2/repositories", repo, dir, d.Algorithm().String(), d.Encoded(), "link")
}

// tagLinkPath is where distribution keeps what a tag points at.
func tagLinkPath(repo, tag string) string {
	return path.Join("/docker/registry/v2/repositories", repo, "_manifests/tags", tag, "current/link")
}

// linkAlias links content already in repo under canonical by alias too and
// records the alias in the index.
func (ix *Indexer) linkAlias(ctx context.Context, repo, kind string, alias, canonical digest.Digest) error {
	driver := ix.storageDriver()
	if driver == nil {
		return errors.New("index: no storage driver to link digest aliases with")
	}
	if err := driver.PutContent(ctx, aliasLinkPath(repo, kind, alias), []byte(canonical)); err != nil {
		return err
	}
	// Durable before the index records it (it records no sync row here).
	if err := storage.Barrier(ctx); err != nil {
		return storage.Observe(ctx, err)
	}
	return ix.db.PutDigestAlias(ctx, repo, kind, alias.String(), canonical.String())
}

type manifestAliasKey struct{}

// WithManifestAlias marks a manifest put as made by alias, a digest the
// caller checked against the payload: the manifest is linked under it too.
func WithManifestAlias(ctx context.Context, alias digest.Digest) context.Context {
	return context.WithValue(ctx, manifestAliasKey{}, alias)
}

func manifestAlias(ctx context.Context) (digest.Digest, bool) {
	d, ok := ctx.Value(manifestAliasKey{}).(digest.Digest)
	return d, ok && IsAlias(d)
}

// blobs answers for blobs by alias digests.
type blobs struct {
	distribution.BlobStore
	repo *repository
}

func (r *repository) Blobs(ctx context.Context) distribution.BlobStore {
	return &blobs{BlobStore: r.Repository.Blobs(ctx), repo: r}
}

func (b *blobs) name() string { return b.repo.Named().Name() }

// Stat describes the blob by the digest asked for. A client that finds a
// blob in a repository (HEAD before a push skips uploading it) is about to
// refer to it: the link's garbage-collection review starts over.
func (b *blobs) Stat(ctx context.Context, dgst digest.Digest) (v1.Descriptor, error) {
	desc, err := b.BlobStore.Stat(ctx, dgst)
	if err == nil {
		linked, lerr := b.repo.ix.linkSeen(ctx, b.name(), desc.Digest.String())
		if lerr == nil && !linked {
			// A manifest is a blob of its repository too (distribution serves
			// it from /blobs/), indexed as an artifact rather than a link.
			linked, lerr = b.repo.ix.manifestLinked(ctx, b.name(), desc.Digest.String())
		}
		switch {
		case lerr != nil:
			return v1.Descriptor{}, lerr
		case !linked, b.repo.ix.dataGone(ctx, desc.Digest):
			return v1.Descriptor{}, distribution.ErrBlobUnknown
		}
	}
	if err == nil && IsAlias(dgst) {
		desc.Digest = dgst
	}
	return desc, err
}

// ServeBlob serves a blob asked for by alias with the alias in
// Docker-Content-Digest and ETag; conditional requests may name either.
// Blobs are served by the index's lean blob server (blobserve.go) unless
// storage redirects are on.
func (b *blobs) ServeBlob(ctx context.Context, w http.ResponseWriter, r *http.Request, dgst digest.Digest) error {
	canonical, err := b.BlobStore.Stat(ctx, dgst)
	if err != nil {
		return err
	}
	if !IsAlias(dgst) {
		if ok, err := b.repo.ix.serveBlob(ctx, w, r, canonical.Digest, canonical.Size, canonical.MediaType); ok || err != nil {
			return err
		}
		return b.BlobStore.ServeBlob(ctx, w, r, dgst)
	}
	etag := `"` + dgst.String() + `"`
	if r.Header.Get("If-None-Match") != "" || r.Header.Get("If-Range") != "" {
		r = r.Clone(ctx)
		swap := strings.NewReplacer(dgst.String(), canonical.Digest.String())
		for _, h := range []string{"If-None-Match", "If-Range"} {
			if v := r.Header.Get(h); v != "" {
				r.Header.Set(h, swap.Replace(v))
			}
		}
	}
	w.Header().Set("Docker-Content-Digest", dgst.String())
	ew := &etagWriter{ResponseWriter: w, etag: etag}
	if ok, err := b.repo.ix.serveBlob(ctx, ew, r, canonical.Digest, canonical.Size, canonical.MediaType); ok || err != nil {
		return err
	}
	return b.BlobStore.ServeBlob(ctx, ew, r, dgst)
}

// etagWriter replaces the ETag distribution set when the header goes out.
type etagWriter struct {
	http.ResponseWriter
	etag string
	sent bool
}

func (w *etagWriter) fix() {
	if !w.sent {
		w.sent = true
		if w.Header().Get("ETag") != "" {
			w.Header().Set("ETag", w.etag)
		}
	}
}

func (w *etagWriter) WriteHeader(code int) { w.fix(); w.ResponseWriter.WriteHeader(code) }

func (w *etagWriter) Write(p []byte) (int, error) { w.fix(); return w.ResponseWriter.Write(p) }

func (w *etagWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Create starts an upload whose commit by an alias is indexed, written by
// berth's upload store when there is one (see storage/upload). A mount by
// an alias mounts the canonical blob and links the alias beside it; when
// the source does not hold the blob, an upload starts instead.
func (b *blobs) Create(ctx context.Context, options ...distribution.BlobCreateOption) (distribution.BlobWriter, error) {
	var opts distribution.CreateOptions
	for _, o := range options {
		if err := o.Apply(&opts); err != nil {
			return b.writer(b.BlobStore.Create(ctx, options...))
		}
	}
	if !opts.Mount.ShouldMount || opts.Mount.From == nil {
		return b.create(ctx)
	}
	if !IsAlias(opts.Mount.From.Digest()) {
		return b.mount(ctx, options...)
	}
	alias := opts.Mount.From.Digest()
	canonical, err := b.repo.ix.sourceStat(ctx, opts.Mount.From)
	if err != nil {
		return b.create(ctx)
	}
	from, err := reference.WithDigest(reference.TrimNamed(opts.Mount.From), canonical)
	if err != nil {
		return nil, err
	}
	bw, err := b.mount(ctx, diststorage.WithMountFrom(from))
	var mounted distribution.ErrBlobMounted
	if !errors.As(err, &mounted) {
		return bw, err
	}
	if err := b.repo.ix.linkAlias(ctx, b.name(), metadata.AliasBlob, alias, canonical); err != nil {
		return nil, err
	}
	mounted.Descriptor.Digest = alias
	return nil, mounted
}

// create starts an upload.
func (b *blobs) create(ctx context.Context) (distribution.BlobWriter, error) {
	if up := b.repo.ix.uploads; up != nil {
		w, err := up.Create(ctx, b.name())
		if err != nil {
			return nil, err
		}
		return b.writer(w, nil)
	}
	return b.writer(b.BlobStore.Create(ctx))
}

// mount asks distribution to mount (it links the blob, copying nothing);
// when the source does not hold the blob, distribution starts an upload of
// its own, which is dropped for one of berth's.
func (b *blobs) mount(ctx context.Context, options ...distribution.BlobCreateOption) (distribution.BlobWriter, error) {
	bw, err := b.BlobStore.Create(ctx, options...)
	var mounted distribution.ErrBlobMounted
	if errors.As(err, &mounted) {
		if lerr := b.repo.ix.blobCommitted(ctx, b.name(), mounted.Descriptor, metadata.EventBlobMount); lerr != nil {
			return nil, lerr
		}
	}
	if err != nil || b.repo.ix.uploads == nil {
		return b.writer(bw, err)
	}
	if err := bw.Cancel(ctx); err != nil {
		b.repo.ix.log.WarnContext(ctx, "index: dropping the upload of a failed mount", "repository", b.name(), "err", err)
	}
	return b.create(ctx)
}

// sourceStat finds the canonical digest of the blob a mount names by alias.
func (ix *Indexer) sourceStat(ctx context.Context, from reference.Canonical) (digest.Digest, error) {
	ns, ok := ix.Namespace().(*namespace)
	if !ok {
		return "", errors.New("index: namespace not initialised")
	}
	repo, err := ns.Namespace.Repository(ctx, reference.TrimNamed(from))
	if err != nil {
		return "", err
	}
	desc, err := repo.Blobs(ctx).Stat(ctx, from.Digest())
	if err != nil {
		return "", err
	}
	return desc.Digest, nil
}

// Put stores a small blob as an upload would (Create, Write, Commit), so
// it is indexed like one.
func (b *blobs) Put(ctx context.Context, mediaType string, p []byte) (v1.Descriptor, error) {
	bw, err := b.Create(ctx)
	if err != nil {
		return v1.Descriptor{}, err
	}
	if _, err := bw.Write(p); err != nil {
		_ = bw.Cancel(ctx)
		return v1.Descriptor{}, err
	}
	desc, err := bw.Commit(ctx, v1.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(p), Size: int64(len(p))})
	if err != nil {
		_ = bw.Cancel(ctx)
	}
	return desc, err
}

func (b *blobs) Resume(ctx context.Context, id string) (distribution.BlobWriter, error) {
	if up := b.repo.ix.uploads; up != nil {
		w, err := up.Resume(ctx, b.name(), id)
		if err != nil {
			return nil, err
		}
		return b.writer(w, nil)
	}
	return b.writer(b.BlobStore.Resume(ctx, id))
}

func (b *blobs) writer(bw distribution.BlobWriter, err error) (distribution.BlobWriter, error) {
	if err != nil || bw == nil {
		return bw, err
	}
	return &blobWriter{BlobWriter: bw, blobs: b}, nil
}

// blobWriter indexes a commit by an alias digest: distribution verified the
// content against it and linked both digests.
type blobWriter struct {
	distribution.BlobWriter
	blobs *blobs
}

// Unwrap is the writer this one indexes the commit of.
func (w *blobWriter) Unwrap() distribution.BlobWriter { return w.BlobWriter }

func (w *blobWriter) Commit(ctx context.Context, desc v1.Descriptor) (v1.Descriptor, error) {
	alias := desc.Digest
	got, err := w.BlobWriter.Commit(ctx, desc)
	if err != nil {
		return got, err
	}
	ix := w.blobs.repo.ix
	if err := ix.blobCommitted(ctx, w.blobs.name(), got, metadata.EventBlobPush); err != nil {
		return got, err
	}
	if !IsAlias(alias) || got.Digest == alias {
		return got, nil
	}
	// As blobCommitted does for the sha256 link, the alias's link is
	// checked after: a collector may have deleted the link distribution
	// wrote before this commit (the row, in the alias's transaction, says
	// so to the repair if this process dies first).
	key := metadata.SyncKey{Repository: w.blobs.name(), Kind: metadata.SyncLayer, Name: alias.String()}
	if ids, err := ix.db.PutDigestAliasSync(ctx, w.blobs.name(), metadata.AliasBlob, alias.String(), got.Digest.String(), ix.sync.owner, key); err != nil {
		// The blob is stored and linked under both digests; only a later
		// delete by its sha256 digest would leave the alias link behind.
		ix.log.WarnContext(ctx, "index: recording digest alias", "repository", w.blobs.name(), "alias", alias, "err", err)
	} else {
		ix.settle(ctx, metadata.SyncRows([]metadata.SyncKey{key}, ids))
	}
	got.Digest = alias
	return got, nil
}

// Delete removes the blob from the repository under every digest it is
// linked by.
func (b *blobs) Delete(ctx context.Context, dgst digest.Digest) error {
	canonical := dgst
	if IsAlias(dgst) {
		desc, err := b.BlobStore.Stat(ctx, dgst)
		if err != nil {
			return err
		}
		canonical = desc.Digest
	}
	if err := b.BlobStore.Delete(ctx, dgst); err != nil {
		return err
	}
	aliases, err := b.repo.ix.db.DigestAliases(ctx, b.name(), metadata.AliasBlob, canonical.String())
	if err != nil {
		return err
	}
	others := append(aliases, canonical.String())
	for _, d := range others {
		if d == dgst.String() {
			continue
		}
		if err := b.BlobStore.Delete(ctx, digest.Digest(d)); err != nil && !errors.Is(err, distribution.ErrBlobUnknown) && !IsPathNotFound(err) {
			return err
		}
	}
	return b.repo.ix.db.DeleteDigestAliases(ctx, b.name(), metadata.AliasBlob, canonical.String())
}
