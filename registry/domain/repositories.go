package domain

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/distribution/distribution/v3"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/index"
	"github.com/berth-registry/berth/storage/metadata"
)

// CreateRepository creates an empty repository in an existing project.
func (s *Service) CreateRepository(ctx context.Context, name, summary, detail string) (metadata.Repository, error) {
	if err := ValidateRepositoryName(name); err != nil {
		return metadata.Repository{}, err
	}
	p, err := s.GetProject(ctx, index.ProjectName(name))
	if err != nil {
		return metadata.Repository{}, err
	}
	r, err := s.db.CreateRepository(ctx, metadata.Repository{ProjectID: p.ID, Name: name, Summary: summary, Detail: detail})
	return r, translate(err, "repository "+name)
}

// GetRepository returns a repository by full name, with counts.
func (s *Service) GetRepository(ctx context.Context, name string) (metadata.Repository, error) {
	if err := ValidateRepositoryName(name); err != nil {
		return metadata.Repository{}, err
	}
	r, err := s.db.GetRepository(ctx, name)
	return r, translate(err, "repository "+name)
}

// ListRepositories lists repositories of a project (0: all projects).
func (s *Service) ListRepositories(ctx context.Context, f metadata.RepoFilter, q Query) ([]metadata.Repository, int64, error) {
	return s.db.ListRepositories(ctx, f, q.options())
}

// UpdateRepository changes a repository's summary, detail and attributes.
func (s *Service) UpdateRepository(ctx context.Context, r metadata.Repository) error {
	return translate(s.db.UpdateRepository(ctx, r), "repository "+r.Name)
}

// DeleteRepository deletes every artifact and tag of a repository (from the
// index, then storage), then the repository itself.
func (s *Service) DeleteRepository(ctx context.Context, name string) error {
	if _, err := s.GetRepository(ctx, name); err != nil {
		return err
	}
	repo, err := s.repository(ctx, name)
	if err != nil {
		return err
	}
	rr, ok := s.ix.Namespace().(distribution.RepositoryRemover)
	if !ok {
		return errors.New("domain: the registry cannot remove repositories")
	}
	if err := rr.Remove(ctx, repo.Named()); err != nil && !isUnknown(err) {
		return fmt.Errorf("domain: remove %s: %w", name, err)
	}
	return nil
}

func isUnknown(err error) bool {
	var (
		ut distribution.ErrTagUnknown
		ur distribution.ErrRepositoryUnknown
		um distribution.ErrManifestUnknownRevision
		mu distribution.ErrManifestUnknown
	)
	return errors.As(err, &ut) || errors.As(err, &ur) || errors.As(err, &um) || errors.As(err, &mu) || index.IsPathNotFound(err)
}

// ListArtifacts lists a repository's artifacts with tags and references.
func (s *Service) ListArtifacts(ctx context.Context, repo string, q Query) ([]metadata.Artifact, int64, error) {
	r, err := s.GetRepository(ctx, repo)
	if err != nil {
		return nil, 0, err
	}
	return s.db.ListArtifacts(ctx, r.ID, q.options())
}

// GetArtifact returns an artifact by digest or tag, with tags, references
// and blobs.
func (s *Service) GetArtifact(ctx context.Context, repo, ref string) (metadata.Artifact, error) {
	r, err := s.GetRepository(ctx, repo)
	if err != nil {
		return metadata.Artifact{}, err
	}
	d, err := s.resolve(ctx, r.ID, ref)
	if err != nil {
		return metadata.Artifact{}, err
	}
	a, err := s.db.GetArtifact(ctx, r.ID, d)
	return a, translate(err, "artifact "+repo+"@"+d)
}

// resolve turns a tag or digest into a digest string known to the index.
func (s *Service) resolve(ctx context.Context, repoID int64, ref string) (string, error) {
	if _, err := digest.Parse(ref); err == nil {
		return ref, nil
	}
	if err := ValidateTag(ref); err != nil {
		return "", err
	}
	t, err := s.db.GetTag(ctx, repoID, ref)
	if err != nil {
		return "", translate(err, "tag "+ref)
	}
	return t.Digest, nil
}

// ListTags lists a repository's tags (filter, sort by name or push time).
func (s *Service) ListTags(ctx context.Context, repo string, q Query) ([]metadata.Tag, int64, error) {
	r, err := s.GetRepository(ctx, repo)
	if err != nil {
		return nil, 0, err
	}
	return s.db.ListTags(ctx, r.ID, q.options())
}

// DeleteTag removes one tag; the artifact stays.
func (s *Service) DeleteTag(ctx context.Context, repo, tag string) error {
	if err := ValidateTag(tag); err != nil {
		return err
	}
	r, err := s.GetRepository(ctx, repo)
	if err != nil {
		return err
	}
	if _, err := s.db.GetTag(ctx, r.ID, tag); err != nil {
		return translate(err, "tag "+repo+":"+tag)
	}
	dr, err := s.repository(ctx, repo)
	if err != nil {
		return err
	}
	if err := dr.Tags(ctx).Untag(ctx, tag); err != nil && !isUnknown(err) {
		return err
	}
	return nil
}

// Manifest is a stored manifest's bytes.
type Manifest struct {
	Digest    string
	MediaType string
	Payload   []byte
}

// GetManifest returns a manifest by tag or digest from storage.
func (s *Service) GetManifest(ctx context.Context, repo, ref string) (Manifest, error) {
	a, err := s.GetArtifact(ctx, repo, ref)
	if err != nil {
		return Manifest{}, err
	}
	dr, err := s.repository(ctx, repo)
	if err != nil {
		return Manifest{}, err
	}
	ms, err := dr.Manifests(ctx)
	if err != nil {
		return Manifest{}, err
	}
	m, err := ms.Get(ctx, digest.Digest(a.Digest))
	if err != nil {
		if isUnknown(err) {
			return Manifest{}, errorf(ErrNotFound, "manifest %s@%s not found in storage", repo, a.Digest)
		}
		return Manifest{}, err
	}
	mt, payload, err := m.Payload()
	if err != nil {
		return Manifest{}, err
	}
	return Manifest{Digest: a.Digest, MediaType: mt, Payload: payload}, nil
}

// Blob is an open blob: stream it, never read it whole.
type Blob struct {
	io.ReadSeekCloser
	Digest    string
	Size      int64
	MediaType string
}

// OpenBlob opens a blob of a repository for streaming (with seeking, for ranges).
func (s *Service) OpenBlob(ctx context.Context, repo, dgst string) (*Blob, error) {
	d, err := ParseDigest(dgst)
	if err != nil {
		return nil, err
	}
	if _, err := s.GetRepository(ctx, repo); err != nil {
		return nil, err
	}
	dr, err := s.repository(ctx, repo)
	if err != nil {
		return nil, err
	}
	bs := dr.Blobs(ctx)
	desc, err := bs.Stat(ctx, d)
	if err != nil {
		if errors.Is(err, distribution.ErrBlobUnknown) {
			return nil, errorf(ErrNotFound, "blob %s not found in %s", dgst, repo)
		}
		return nil, err
	}
	rc, err := bs.Open(ctx, d)
	if err != nil {
		return nil, err
	}
	return &Blob{ReadSeekCloser: rc, Digest: desc.Digest.String(), Size: desc.Size, MediaType: desc.MediaType}, nil
}

// maxConfigBytes bounds an image config read whole (configs are small).
const maxConfigBytes = 4 << 20

// GetConfig returns an artifact's config blob (image config JSON), read
// whole: configs are small and bounded by maxConfigBytes.
func (s *Service) GetConfig(ctx context.Context, repo, ref string) ([]byte, error) {
	a, err := s.GetArtifact(ctx, repo, ref)
	if err != nil {
		return nil, err
	}
	if a.ConfigDigest == "" {
		return nil, errorf(ErrNotFound, "artifact %s@%s has no config", repo, a.Digest)
	}
	b, err := s.OpenBlob(ctx, repo, a.ConfigDigest)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	if b.Size > maxConfigBytes {
		return nil, errorf(ErrInvalid, "config of %s@%s is %d bytes, over the %d limit", repo, a.Digest, b.Size, maxConfigBytes)
	}
	return io.ReadAll(io.LimitReader(b, maxConfigBytes))
}

// SetTagAttrs replaces a tag's per-dialect attributes (such as a promotion stage).
func (s *Service) SetTagAttrs(ctx context.Context, repo, tag string, attrs map[string]string) error {
	if err := ValidateTag(tag); err != nil {
		return err
	}
	r, err := s.GetRepository(ctx, repo)
	if err != nil {
		return err
	}
	return translate(s.db.UpdateTagAttrs(ctx, r.ID, tag, attrs), "tag "+repo+":"+tag)
}
