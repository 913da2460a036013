package index

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/distribution/v3/registry/api/errcode"
	registrymiddleware "github.com/distribution/distribution/v3/registry/middleware/registry"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/storage/metadata"
)

// MiddlewareName is the registry middleware that writes the index. Its
// options carry the *Indexer under the key "indexer".
const MiddlewareName = "berth-index"

func init() {
	// Registration is distribution's own hook; it fails only on a duplicate name.
	_ = registrymiddleware.Register(MiddlewareName, func(_ context.Context, ns distribution.Namespace, driver storagedriver.StorageDriver, opts map[string]any) (distribution.Namespace, error) {
		ix, ok := opts["indexer"].(*Indexer)
		if !ok {
			return nil, fmt.Errorf("%s: missing indexer option", MiddlewareName)
		}
		wrapped := ix.Wrap(ns)
		ix.setNamespace(wrapped, driver)
		return wrapped, nil
	})
}

var timeNow = time.Now

// Wrap applies the index to a namespace: writes through it are indexed and
// catalog and tag lists are read from the index.
func (ix *Indexer) Wrap(ns distribution.Namespace) distribution.Namespace {
	return &namespace{Namespace: ns, ix: ix}
}

type namespace struct {
	distribution.Namespace
	ix *Indexer
}

func (n *namespace) Repository(ctx context.Context, name reference.Named) (distribution.Repository, error) {
	r, err := n.Namespace.Repository(ctx, name)
	if err != nil {
		return nil, err
	}
	return &repository{Repository: r, ix: n.ix}, nil
}

// Repositories answers /v2/_catalog from the index: names in byte order
// after last, io.EOF when nothing follows.
func (n *namespace) Repositories(ctx context.Context, repos []string, last string) (int, error) {
	if len(repos) == 0 {
		return 0, nil
	}
	names, err := n.ix.db.CatalogPage(ctx, last, len(repos)+1, visibleProjects(ctx))
	if err != nil {
		return 0, err
	}
	filled := copy(repos, names)
	if len(names) <= len(repos) {
		return filled, io.EOF
	}
	return filled, nil
}

// Remove deletes a repository from storage and from the index.
func (n *namespace) Remove(ctx context.Context, name reference.Named) error {
	rr, ok := n.Namespace.(distribution.RepositoryRemover)
	if !ok {
		return distribution.ErrUnsupported
	}
	if err := rr.Remove(ctx, name); err != nil {
		return err
	}
	if err := n.ix.db.DeleteRepositoryDigestAliases(ctx, name.Name()); err != nil {
		return err
	}
	r, err := n.ix.db.GetRepository(ctx, name.Name())
	if err != nil {
		return nil
	}
	if err := n.ix.db.DeleteRepository(ctx, r.ID); err != nil {
		return err
	}
	return n.ix.touchCharts(ctx, name.Name())
}

func (n *namespace) Enumerate(ctx context.Context, ingester func(string) error) error {
	re, ok := n.Namespace.(distribution.RepositoryEnumerator)
	if !ok {
		return distribution.ErrUnsupported
	}
	return re.Enumerate(ctx, ingester)
}

type visibleKey struct{}

// WithVisibleProjects limits catalog answers in ctx to the given project ids
// (nil: all). The access layer sets it for callers who may not see every project.
func WithVisibleProjects(ctx context.Context, ids []int64) context.Context {
	return context.WithValue(ctx, visibleKey{}, ids)
}

func visibleProjects(ctx context.Context) []int64 {
	ids, _ := ctx.Value(visibleKey{}).([]int64)
	return ids
}

type repository struct {
	distribution.Repository
	ix *Indexer
}

func (r *repository) Manifests(ctx context.Context, options ...distribution.ManifestServiceOption) (distribution.ManifestService, error) {
	ms, err := r.Repository.Manifests(ctx, options...)
	if err != nil {
		return nil, err
	}
	return &manifests{ManifestService: ms, repo: r}, nil
}

func (r *repository) Tags(ctx context.Context) distribution.TagService {
	return &tags{TagService: r.Repository.Tags(ctx), repo: r}
}

type manifests struct {
	distribution.ManifestService
	repo *repository
}

func (m *manifests) Put(ctx context.Context, man distribution.Manifest, options ...distribution.ManifestServiceOption) (digest.Digest, error) {
	// Described once: the quota check needs its blobs, the index all of it
	// (distribution stores a manifest under the sha256 of its payload).
	_, payload, err := man.Payload()
	if err != nil {
		return "", err
	}
	a, err := Describe(ctx, digest.FromBytes(payload), man, nil)
	if err != nil {
		return "", err
	}
	p, err := m.repo.ix.checkQuota(ctx, m.repo.Named().Name(), a.Blobs)
	if errors.Is(err, ErrQuotaExceeded) {
		return "", errcode.ErrorCodeDenied.WithMessage(err.Error())
	} else if err != nil {
		return "", err
	}
	dgst, err := m.ManifestService.Put(ctx, man, options...)
	if err != nil {
		return dgst, err
	}
	if err := m.linkManifestAlias(ctx, dgst, man); err != nil {
		return dgst, err
	}
	if dgst.String() != a.Digest {
		a, err = Describe(ctx, dgst, man, nil)
	}
	if err == nil {
		err = m.repo.ix.recordArtifact(ctx, m.repo, p, a)
	}
	if err != nil {
		m.repo.ix.log.ErrorContext(ctx, "index: recording manifest", "repository", m.repo.Named().Name(), "digest", dgst, "err", err)
		return dgst, err
	}
	return dgst, nil
}

// Delete removes a manifest under every digest it is linked by (asked by
// an alias, the sha256 one too) and, like Harbor does with accessories,
// every manifest that refers to it (signatures, SBOMs, ...) with their tags,
// so no referrer is left dangling.
func (m *manifests) Delete(ctx context.Context, dgst digest.Digest) error {
	canonical, err := m.canonicalManifest(ctx, dgst)
	if err != nil {
		return err
	}
	aliases, err := m.manifestAliases(ctx, canonical, dgst)
	if err != nil {
		return err
	}
	refs := m.repo.ix.referrers(ctx, m.repo.Named(), canonical)
	for _, a := range aliases {
		refs = append(refs, m.repo.ix.referrers(ctx, m.repo.Named(), a)...)
	}
	if err := m.ManifestService.Delete(ctx, canonical); err != nil && (canonical == dgst || !isUnknownBlob(err)) {
		return err
	}
	if err := m.unlinkManifestAliases(ctx, canonical, aliases); err != nil {
		return err
	}
	if err := m.repo.ix.removeManifest(ctx, m.repo.Named(), canonical); err != nil {
		return err
	}
	ts := m.repo.Tags(ctx)
	if canonical != dgst {
		// Distribution untags what points at the digest asked for only.
		if err := untagAll(ctx, ts, canonical); err != nil {
			return err
		}
	}
	for _, ref := range refs {
		if err := untagAll(ctx, ts, ref); err != nil {
			return err
		}
		if err := m.Delete(ctx, ref); err != nil && !IsPathNotFound(err) && !isUnknownManifest(err) && !isUnknownBlob(err) {
			return err
		}
	}
	return nil
}

func untagAll(ctx context.Context, ts distribution.TagService, dgst digest.Digest) error {
	tags, _ := ts.Lookup(ctx, v1.Descriptor{Digest: dgst})
	for _, tag := range tags {
		if err := ts.Untag(ctx, tag); err != nil && !IsPathNotFound(err) {
			return err
		}
	}
	return nil
}

func isUnknownBlob(err error) bool {
	return errors.Is(err, distribution.ErrBlobUnknown) || IsPathNotFound(err)
}

func isUnknownManifest(err error) bool {
	var um distribution.ErrManifestUnknownRevision
	var mu distribution.ErrManifestUnknown
	return errors.As(err, &um) || errors.As(err, &mu)
}

func (m *manifests) Enumerate(ctx context.Context, ingester func(digest.Digest) error) error {
	me, ok := m.ManifestService.(distribution.ManifestEnumerator)
	if !ok {
		return distribution.ErrUnsupported
	}
	return me.Enumerate(ctx, ingester)
}

type tags struct {
	distribution.TagService
	repo *repository
}

func (t *tags) Tag(ctx context.Context, tag string, desc v1.Descriptor) error {
	if err := t.TagService.Tag(ctx, tag, desc); err != nil {
		return err
	}
	if err := t.repo.ix.recordTag(ctx, t.repo, tag, desc.Digest); err != nil {
		t.repo.ix.log.ErrorContext(ctx, "index: recording tag", "repository", t.repo.Named().Name(), "tag", tag, "err", err)
		return err
	}
	return nil
}

func (t *tags) Untag(ctx context.Context, tag string) error {
	if err := t.TagService.Untag(ctx, tag); err != nil {
		return err
	}
	return t.repo.ix.removeTag(ctx, t.repo.Named(), tag)
}

// List answers /v2/<name>/tags/list from the index: names in byte order
// after last, at most limit (all when limit < 0), io.EOF when nothing follows.
func (t *tags) List(ctx context.Context, limit int, last string) ([]string, error) {
	name := t.repo.Named().Name()
	r, err := t.repo.ix.db.GetRepository(ctx, name)
	if err != nil {
		if errors.Is(err, metadata.ErrNotFound) {
			return nil, distribution.ErrRepositoryUnknown{Name: name}
		}
		return nil, err
	}
	n := limit
	if limit >= 0 {
		n = limit + 1
	}
	names, err := t.repo.ix.db.TagPage(ctx, r.ID, last, n)
	if err != nil {
		return nil, err
	}
	if limit < 0 || len(names) <= limit {
		if names == nil {
			names = []string{}
		}
		return names, io.EOF
	}
	return names[:limit], nil
}

type subjectKey struct{}

// WithSubjectHolder returns a context in which a manifest put records the
// digest of its subject, and a function that returns it ("" when none): the
// registry answers it in the OCI-Subject header.
func WithSubjectHolder(ctx context.Context) (context.Context, func() string) {
	holder := new(string)
	return context.WithValue(ctx, subjectKey{}, holder), func() string { return *holder }
}

func recordSubject(ctx context.Context, subject string) {
	if h, ok := ctx.Value(subjectKey{}).(*string); ok {
		*h = subject
	}
}
