package index

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/distribution/distribution/v3"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/storage/metadata"
)

// tags is a repository's tag service with the index as the source of
// truth: every read is answered from the index, and a change is committed
// there first (concurrent writers of one tag are ordered by the database:
// the last to commit wins), then copied to storage (see sync.go).
type tags struct {
	distribution.TagService
	repo *repository
}

func (t *tags) name() string { return t.repo.Named().Name() }

// Get resolves a tag in the index.
func (t *tags) Get(ctx context.Context, tag string) (v1.Descriptor, error) {
	d, err := t.repo.ix.db.TagTarget(ctx, t.name(), tag)
	if errors.Is(err, metadata.ErrNotFound) {
		return v1.Descriptor{}, distribution.ErrTagUnknown{Tag: tag}
	}
	if err != nil {
		return v1.Descriptor{}, t.repo.ix.dbError(ctx, err)
	}
	return v1.Descriptor{Digest: digestOf(d)}, nil
}

// Tag points tag at a manifest the index holds (by its digest or an alias).
// A manifest in storage the index does not hold yet (stored before berth
// indexed it) is indexed first.
func (t *tags) Tag(ctx context.Context, tag string, desc v1.Descriptor) error {
	if wasTagged(ctx, tag, desc.Digest) {
		return nil // the manifest put did it, in its own transaction
	}
	ix := t.repo.ix
	canonical, err := ix.db.LinkedManifest(ctx, t.name(), desc.Digest.String())
	if errors.Is(err, metadata.ErrNotFound) {
		canonical, err = t.indexStored(ctx, desc)
	}
	if err != nil {
		return ix.dbError(ctx, err)
	}
	gctx, err := ix.guarded(ctx, t.name())
	if err != nil {
		return ix.dbError(ctx, err)
	}
	ids, err := ix.db.MoveTag(gctx, t.name(), tag, canonical, ix.sync.owner, timeNow())
	if IsImmutable(err) {
		return err
	}
	if errors.Is(err, metadata.ErrNotFound) {
		return distribution.ErrManifestUnknownRevision{Name: t.name(), Revision: desc.Digest}
	}
	if err != nil {
		ix.log.ErrorContext(ctx, "index: recording tag", "repository", t.name(), "tag", tag, "err", err)
		return ix.dbError(ctx, err)
	}
	if err := ix.touchCharts(ctx, t.name()); err != nil {
		ix.log.ErrorContext(ctx, "index: chart generation", "repository", t.name(), "err", err)
	}
	ix.settle(ctx, metadata.SyncRows([]metadata.SyncKey{{Repository: t.name(), Kind: metadata.SyncTag, Name: tag}}, ids))
	return nil
}

// indexStored indexes a manifest storage holds under desc's digest.
func (t *tags) indexStored(ctx context.Context, desc v1.Descriptor) (string, error) {
	plain := t.repo.ix.plainNamespace()
	if plain == nil {
		return "", errors.New("index: storage not initialised")
	}
	repo, err := plain.Repository(ctx, t.repo.Named())
	if err != nil {
		return "", err
	}
	ms, err := repo.Manifests(ctx)
	if err != nil {
		return "", err
	}
	m, err := ms.Get(ctx, desc.Digest)
	if err != nil {
		return "", fmt.Errorf("index: manifest %s: %w", desc.Digest, metadata.ErrNotFound)
	}
	if err := t.repo.ix.recordManifest(ctx, t.repo, desc.Digest, m); err != nil {
		return "", err
	}
	return desc.Digest.String(), nil
}

// Untag removes a tag from the index, then from storage.
func (t *tags) Untag(ctx context.Context, tag string) error {
	ix := t.repo.ix
	gctx, err := ix.guarded(ctx, t.name())
	if err != nil {
		return ix.dbError(ctx, err)
	}
	ids, err := ix.db.RemoveTag(gctx, t.name(), tag, ix.sync.owner)
	if IsImmutable(err) {
		return err
	}
	if errors.Is(err, metadata.ErrNotFound) {
		return distribution.ErrTagUnknown{Tag: tag}
	}
	if err != nil {
		return ix.dbError(ctx, err)
	}
	if err := ix.touchCharts(ctx, t.name()); err != nil {
		ix.log.ErrorContext(ctx, "index: chart generation", "repository", t.name(), "err", err)
	}
	ix.settle(ctx, metadata.SyncRows([]metadata.SyncKey{{Repository: t.name(), Kind: metadata.SyncTag, Name: tag}}, ids))
	return nil
}

// All lists the repository's tags from the index.
func (t *tags) All(ctx context.Context) ([]string, error) {
	names, err := t.repo.ix.db.AllTags(ctx, t.name())
	if err != nil {
		return nil, t.repo.ix.dbError(ctx, err)
	}
	return names, nil
}

// Lookup lists the tags that point at a manifest, from the index.
func (t *tags) Lookup(ctx context.Context, desc v1.Descriptor) ([]string, error) {
	canonical, err := t.repo.ix.db.LinkedManifest(ctx, t.name(), desc.Digest.String())
	if errors.Is(err, metadata.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, t.repo.ix.dbError(ctx, err)
	}
	names, err := t.repo.ix.db.TagsOf(ctx, t.name(), canonical)
	if err != nil {
		return nil, t.repo.ix.dbError(ctx, err)
	}
	return names, nil
}

// List answers /v2/<name>/tags/list from the index: names in byte order
// after last, at most limit (all when limit < 0), io.EOF when nothing follows.
func (t *tags) List(ctx context.Context, limit int, last string) ([]string, error) {
	name := t.name()
	r, err := t.repo.ix.db.GetRepository(ctx, name)
	if err != nil {
		if errors.Is(err, metadata.ErrNotFound) {
			return nil, distribution.ErrRepositoryUnknown{Name: name}
		}
		return nil, t.repo.ix.dbError(ctx, err)
	}
	n := limit
	if limit >= 0 {
		n = limit + 1
	}
	names, err := t.repo.ix.db.TagPage(ctx, r.ID, last, n)
	if err != nil {
		return nil, t.repo.ix.dbError(ctx, err)
	}
	if limit < 0 || len(names) <= limit {
		if names == nil {
			names = []string{}
		}
		return names, io.EOF
	}
	return names[:limit], nil
}
