package index

import (
	"context"
	"errors"
	"fmt"

	"github.com/distribution/distribution/v3"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/storage/metadata"
)

// storedRepo is what storage holds for one repository.
type storedRepo struct {
	manifests map[string]distribution.Manifest // readable manifests by digest
	broken    map[string]error                 // enumerated but unreadable
	tags      map[string]string                // tag → digest
	repo      distribution.Repository
}

// walkStorage reads every repository, manifest and tag from storage. ns must
// be a plain storage namespace (not wrapped by the index).
func walkStorage(ctx context.Context, ns distribution.Namespace) (map[string]*storedRepo, error) {
	re, ok := ns.(distribution.RepositoryEnumerator)
	if !ok {
		return nil, errors.New("index: namespace cannot enumerate repositories")
	}
	out := map[string]*storedRepo{}
	err := re.Enumerate(ctx, func(name string) error {
		named, err := reference.WithName(name)
		if err != nil {
			return fmt.Errorf("index: repository %q: %w", name, err)
		}
		repo, err := ns.Repository(ctx, named)
		if err != nil {
			return err
		}
		sr := &storedRepo{manifests: map[string]distribution.Manifest{}, broken: map[string]error{}, tags: map[string]string{}, repo: repo}
		ms, err := repo.Manifests(ctx)
		if err != nil {
			return err
		}
		me, ok := ms.(distribution.ManifestEnumerator)
		if !ok {
			return errors.New("index: manifest service cannot enumerate")
		}
		err = me.Enumerate(ctx, func(d digest.Digest) error {
			m, err := ms.Get(ctx, d)
			if err != nil {
				sr.broken[d.String()] = err
				return nil
			}
			sr.manifests[d.String()] = m
			return nil
		})
		if err != nil && !IsPathNotFound(err) {
			return fmt.Errorf("index: manifests of %s: %w", name, err)
		}
		ts := repo.Tags(ctx)
		all, err := ts.All(ctx)
		if err != nil && !IsPathNotFound(err) {
			return fmt.Errorf("index: tags of %s: %w", name, err)
		}
		for _, tag := range all {
			desc, err := ts.Get(ctx, tag)
			if err != nil {
				continue // a tag whose link is unreadable does not exist
			}
			sr.tags[tag] = desc.Digest.String()
		}
		out[name] = sr
		return nil
	})
	if err != nil && !IsPathNotFound(err) {
		return nil, err
	}
	return out, nil
}

// IsPathNotFound reports whether storage said a path does not exist.
func IsPathNotFound(err error) bool {
	var nf storagedriver.PathNotFoundError
	return errors.As(err, &nf) || errors.As(err, new(distribution.ErrRepositoryUnknown))
}

// indexedRepo is what the index holds for one repository.
type indexedRepo struct {
	id      int64
	digests map[string]bool
	tags    map[string]string
	charts  map[string]string // manifest digest → chart layer digest
}

func readIndex(ctx context.Context, db *metadata.DB) (map[string]*indexedRepo, error) {
	names, err := db.RepositoryNames(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]*indexedRepo{}
	for _, n := range names {
		r, err := db.GetRepository(ctx, n)
		if err != nil {
			return nil, err
		}
		ds, err := db.ArtifactDigests(ctx, r.ID)
		if err != nil {
			return nil, err
		}
		tags, err := db.TagDigests(ctx, r.ID)
		if err != nil {
			return nil, err
		}
		charts, err := db.ChartArtifactDigests(ctx, r.ID)
		if err != nil {
			return nil, err
		}
		ir := &indexedRepo{id: r.ID, digests: map[string]bool{}, tags: tags, charts: charts}
		for _, d := range ds {
			ir.digests[d] = true
		}
		out[n] = ir
	}
	return out, nil
}
