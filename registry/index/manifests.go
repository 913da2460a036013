package index

import (
	"context"
	"errors"
	"strings"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/distribution/v3/registry/api/errcode"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/observe"
	"github.com/berth-registry/berth/storage/metadata"
)

// manifests is a repository's manifest service with the index as the
// source of truth: reads are answered from the index (its bytes, verified
// against the digest), a put is stored and then committed to the index
// together with its tag, and a delete is committed to the index first.
// Storage links follow (see sync.go).
type manifests struct {
	distribution.ManifestService
	repo *repository
}

func (m *manifests) name() string { return m.repo.Named().Name() }

// Exists reports whether the index holds the manifest (by its digest or an
// alias of it) in this repository.
func (m *manifests) Exists(ctx context.Context, dgst digest.Digest) (bool, error) {
	_, err := m.repo.ix.db.LinkedManifest(ctx, m.name(), dgst.String())
	if errors.Is(err, metadata.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, m.repo.ix.dbError(ctx, err)
	}
	return true, nil
}

// Get returns a manifest the index holds, from its bytes in the index
// (verified against the digest), or from storage for manifests indexed
// before the index kept bytes.
func (m *manifests) Get(ctx context.Context, dgst digest.Digest, options ...distribution.ManifestServiceOption) (distribution.Manifest, error) {
	canonical, err := m.repo.ix.db.LinkedManifest(ctx, m.name(), dgst.String())
	if errors.Is(err, metadata.ErrNotFound) {
		return nil, distribution.ErrManifestUnknownRevision{Name: m.name(), Revision: dgst}
	}
	if err != nil {
		return nil, m.repo.ix.dbError(ctx, err)
	}
	mt, payload, err := m.repo.ix.db.ManifestBytes(ctx, m.name(), canonical)
	if err == nil && len(payload) > 0 && digest.Digest(canonical).Algorithm().FromBytes(payload).String() == canonical {
		man, _, err := distribution.UnmarshalManifest(mt, payload)
		if err == nil {
			return man, nil
		}
	} else if err != nil && !errors.Is(err, metadata.ErrNotFound) {
		return nil, m.repo.ix.dbError(ctx, err)
	}
	return m.ManifestService.Get(ctx, digest.Digest(canonical), options...)
}

// Put stores a manifest through distribution (which validates it and writes
// its bytes and revision link), then records it in the index, with its tag
// when the put names one, in one transaction: the push is in the index
// whole or not at all. The manifest's key is recorded before storage is
// written, so a crash in between is repaired (the stray link removed).
func (m *manifests) Put(ctx context.Context, man distribution.Manifest, options ...distribution.ManifestServiceOption) (digest.Digest, error) {
	ix := m.repo.ix
	// Described once: the quota check needs its blobs, the index all of it
	// (distribution stores a manifest under the sha256 of its payload).
	_, payload, err := man.Payload()
	if err != nil {
		return "", err
	}
	canonical := digest.FromBytes(payload)
	a, err := Describe(ctx, canonical, man, nil)
	if err != nil {
		return "", err
	}
	p, err := ix.checkQuota(ctx, m.name(), a.Blobs)
	if errors.Is(err, ErrQuotaExceeded) {
		observe.Emit(ctx, observe.Event{Action: observe.QuotaExceeded, Repository: m.name(), Project: strings.SplitN(m.name(), "/", 2)[0],
			Digest: canonical.String(), MediaType: a.MediaType, Size: a.Size, Result: observe.ResultRefused})
		return "", errcode.ErrorCodeDenied.WithMessage(err.Error())
	} else if err != nil {
		return "", ix.dbError(ctx, err)
	}
	keys := []metadata.SyncKey{{Repository: m.name(), Kind: metadata.SyncManifest, Name: canonical.String()}}
	if alias, ok := manifestAlias(ctx); ok {
		keys = append(keys, metadata.SyncKey{Repository: m.name(), Kind: metadata.SyncManifest, Name: alias.String()})
	}
	// In use from now: a collector deleting these bytes finishes first, so
	// the put below stores them again; one that comes later keeps them.
	ids, err := ix.db.AddSyncTouch(ctx, ix.sync.owner, a.Blobs[0], keys...)
	if err != nil {
		return "", ix.dbError(ctx, err)
	}
	rows := metadata.SyncRows(keys, ids)
	var dgst digest.Digest
	for attempt := 0; attempt < 3; attempt++ {
		// A concurrent delete of the same manifest may remove the directory
		// distribution is writing the link into: write it again.
		if dgst, err = m.ManifestService.Put(ctx, man, options...); err == nil || !IsPathNotFound(err) {
			break
		}
	}
	if err == nil {
		err = m.linkManifestAlias(ctx, dgst, man)
	}
	if err != nil {
		ix.settle(ctx, rows) // removes what storage got, if anything
		return dgst, err
	}
	if p.ID == 0 {
		if p, err = ix.ProjectForPush(ctx, m.name()); err != nil {
			ix.settle(ctx, rows)
			return dgst, ix.dbError(ctx, err)
		}
	}
	blobs := m.repo.Blobs(ctx)
	describeConfig(ctx, &a, blobs)
	a.PushedBy = pusher(ctx)
	tag := putTag(options)
	gctx, err := ix.guarded(ctx, m.name())
	if err != nil {
		ix.settle(ctx, rows)
		return dgst, ix.dbError(ctx, err)
	}
	a, pushed, err := ix.db.PushManifest(gctx, p.ID, m.name(), a, tag, ix.sync.owner)
	if IsImmutable(err) {
		ix.settle(ctx, rows)
		return dgst, errcode.ErrorCodeDenied.WithMessage(err.Error())
	}
	if errors.Is(err, metadata.ErrBlobDeleted) {
		ix.settle(ctx, rows)
		// Garbage collection deleted a blob the manifest names after the
		// client uploaded it: it uploads it again.
		return dgst, errcode.ErrorCodeManifestBlobUnknown.WithMessage(err.Error())
	}
	if err != nil {
		ix.settle(ctx, rows)
		ix.log.ErrorContext(ctx, "index: recording manifest", "repository", m.name(), "digest", dgst, "err", err)
		return dgst, ix.dbError(ctx, err)
	}
	rows = append(rows, pushed...)
	if tag != "" {
		markTagged(ctx, tag, dgst)
	}
	if err := ix.recordChart(ctx, p.ID, a, blobs); err != nil {
		ix.log.ErrorContext(ctx, "index: recording chart", "repository", m.name(), "digest", dgst, "err", err)
	}
	if tag != "" || a.ConfigMediaType == HelmConfigMediaType {
		if err := ix.touchCharts(ctx, m.name()); err != nil {
			ix.log.ErrorContext(ctx, "index: chart generation", "repository", m.name(), "err", err)
		}
	}
	ix.settle(ctx, rows)
	if a.SubjectDigest != "" {
		recordSubject(ctx, a.SubjectDigest)
	}
	return dgst, nil
}

// putTag is the tag a manifest put names (distribution.WithTag), or "".
func putTag(options []distribution.ManifestServiceOption) string {
	for _, o := range options {
		if t, ok := o.(distribution.WithTagOption); ok {
			return t.Tag
		}
	}
	return ""
}

// Delete removes a manifest (by its digest or an alias) from the index with
// its referrers and their tags (as Harbor does with accessories), then from
// storage. A manifest the index does not hold is unknown.
func (m *manifests) Delete(ctx context.Context, dgst digest.Digest) error {
	ix := m.repo.ix
	canonical, err := ix.db.LinkedManifest(ctx, m.name(), dgst.String())
	if errors.Is(err, metadata.ErrNotFound) {
		return distribution.ErrBlobUnknown
	}
	if err != nil {
		return ix.dbError(ctx, err)
	}
	gctx, err := ix.guarded(ctx, m.name())
	if err != nil {
		return ix.dbError(ctx, err)
	}
	removed, err := ix.db.DeleteManifest(gctx, m.name(), canonical, ix.sync.owner)
	if IsImmutable(err) {
		return err
	}
	if errors.Is(err, metadata.ErrNotFound) {
		return distribution.ErrBlobUnknown // deleted by a concurrent request
	}
	if err != nil {
		return ix.dbError(ctx, err)
	}
	if err := ix.touchCharts(ctx, m.name()); err != nil {
		ix.log.ErrorContext(ctx, "index: chart generation", "repository", m.name(), "err", err)
	}
	ix.settle(ctx, removed.SyncRows())
	return nil
}

func (m *manifests) Enumerate(ctx context.Context, ingester func(digest.Digest) error) error {
	me, ok := m.ManifestService.(distribution.ManifestEnumerator)
	if !ok {
		return distribution.ErrUnsupported
	}
	return me.Enumerate(ctx, ingester)
}

type taggedKey struct{}

// tagged is a tag a manifest put already pointed at its digest.
type tagged struct{ tag, digest string }

// WithTagHolder returns a context in which a manifest put that names a tag
// records that it tagged the manifest, so the Tag call distribution makes
// after it (same tag, same digest) changes nothing again.
func WithTagHolder(ctx context.Context) context.Context {
	return context.WithValue(ctx, taggedKey{}, new(tagged))
}

func markTagged(ctx context.Context, tag string, dgst digest.Digest) {
	if h, ok := ctx.Value(taggedKey{}).(*tagged); ok {
		*h = tagged{tag, dgst.String()}
	}
}

func wasTagged(ctx context.Context, tag string, dgst digest.Digest) bool {
	h, ok := ctx.Value(taggedKey{}).(*tagged)
	return ok && h.tag == tag && h.digest == dgst.String()
}
