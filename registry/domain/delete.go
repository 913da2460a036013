package domain

import (
	"context"
	"errors"

	"github.com/distribution/distribution/v3"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/registry/observe"
	"github.com/berth-registry/berth/storage/metadata"
)

// CheckManifestDelete refuses to delete the manifest d of repo while a
// tagged index of the repository refers to it (directly or through
// untagged indexes): the index would be left naming a child that is gone,
// and a client pulling its platform would fail. Harbor refuses the same.
// Every delete of one artifact obeys it: the dialects' (Repo.DeleteArtifact)
// and the OCI API's DELETE /v2/<name>/manifests/<digest>. Deleting the
// index first, or its tags, lifts it. A repository is deleted whole.
func (s *Service) CheckManifestDelete(ctx context.Context, repo, d string) error {
	r, err := s.Repository(ctx, repo)
	if err != nil {
		return err
	}
	return r.CheckManifestDelete(ctx, d)
}

// CheckManifestDelete is Service.CheckManifestDelete for this repository.
func (r *Repo) CheckManifestDelete(ctx context.Context, d string) error {
	parent, tag, found, err := r.s.db.TaggedParent(ctx, r.ID, d)
	if err != nil || !found {
		return err
	}
	return errorf(ErrReferenced, "manifest %s is a child of the index %s tagged %s in %s: delete that index (or untag it) first", d, parent, tag, r.Name)
}

// DeleteArtifact deletes an artifact (by digest or tag) and every tag on
// it, as Harbor deletes one: refused while a tagged index refers to it
// (CheckManifestDelete), and taking with it the children of an index that
// nothing else holds (no tag, no other index).
func (r *Repo) DeleteArtifact(ctx context.Context, ref string) error {
	// One record (artifact.delete, or chart.delete for a chart) names the
	// tags taken first; the children that go with it write none.
	ctx, end := observe.WithUmbrella(ctx, observe.ArtifactDelete, observe.ChartDelete)
	defer end()
	a, err := r.artifact(ctx, ref)
	if err != nil {
		return err
	}
	if err := r.CheckManifestDelete(ctx, a.Digest); err != nil {
		return err
	}
	dr, err := r.storage(ctx)
	if err != nil {
		return err
	}
	return r.deleteDeep(ctx, dr, a)
}

// deleteDeep deletes a with its tags, then its children that nothing else
// holds, and theirs.
func (r *Repo) deleteDeep(ctx context.Context, dr distribution.Repository, a metadata.Artifact) error {
	ts := dr.Tags(ctx)
	tags, err := ts.Lookup(ctx, v1.Descriptor{Digest: digest.Digest(a.Digest)})
	if err != nil && !isUnknown(err) {
		return err
	}
	for _, t := range tags {
		if err := ts.Untag(ctx, t); err != nil && !isUnknown(err) {
			return err
		}
	}
	ms, err := dr.Manifests(ctx)
	if err != nil {
		return err
	}
	if err := ms.Delete(ctx, digest.Digest(a.Digest)); err != nil && !isUnknown(err) {
		return err
	}
	for _, ref := range a.References {
		if ref.ChildID == 0 {
			continue // not in the repository
		}
		child, err := r.artifact(ctx, ref.ChildDigest)
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return err
		}
		held, err := r.s.db.Referenced(ctx, child.RepositoryID, child.Digest)
		if err != nil {
			return err
		}
		if len(child.Tags) > 0 || held {
			continue
		}
		if err := r.deleteDeep(ctx, dr, child); err != nil {
			return err
		}
	}
	return nil
}

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
