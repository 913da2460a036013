package domain

import (
	"context"
	"log/slog"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/storage/metadata"
)

// ArtifactsByDigest returns the artifacts of repo with these digests, keyed
// by digest, in one index query (for a page of a list: never one lookup per
// row). Digests the repository does not hold are absent. Tags, references
// and blobs are not filled.
//
// withManifest also fills Manifest with the manifest's bytes: from the index,
// or, for artifacts indexed before it kept them, from storage, after which
// the index keeps them too. An artifact whose manifest storage lacks is an
// ErrNotFound error, as GetManifest has it.
func (s *Service) ArtifactsByDigest(ctx context.Context, repo string, digests []string, withManifest bool) (map[string]metadata.Artifact, error) {
	r, err := s.GetRepository(ctx, repo)
	if err != nil {
		return nil, err
	}
	arts, err := s.db.ArtifactsByDigests(ctx, r.ID, digests, withManifest)
	if err != nil || !withManifest {
		return arts, err
	}
	for d, a := range arts {
		if a.Manifest != nil {
			continue
		}
		if a.Manifest, err = s.storedManifest(ctx, repo, d); err != nil {
			return nil, err
		}
		arts[d] = a
		if verified(d, a.Manifest) {
			if err := s.db.PutManifest(ctx, r.ID, d, a.Manifest); err != nil {
				slog.WarnContext(ctx, "domain: keeping manifest bytes in the index", "repository", repo, "digest", d, "err", err)
			}
		}
	}
	return arts, nil
}

// storedManifest reads a manifest's bytes from storage.
func (s *Service) storedManifest(ctx context.Context, repo, d string) ([]byte, error) {
	dr, err := s.repository(ctx, repo)
	if err != nil {
		return nil, err
	}
	ms, err := dr.Manifests(ctx)
	if err != nil {
		return nil, err
	}
	m, err := ms.Get(ctx, digest.Digest(d))
	if err != nil {
		if isUnknown(err) {
			return nil, errorf(ErrNotFound, "manifest %s@%s not found in storage", repo, d)
		}
		return nil, err
	}
	_, payload, err := m.Payload()
	return payload, err
}

// verified reports whether payload hashes to d.
func verified(d string, payload []byte) bool {
	dg, err := digest.Parse(d)
	return err == nil && dg.Algorithm().Available() && dg.Algorithm().FromBytes(payload) == dg
}
