package domain

import (
	"context"
	"errors"
	"io"

	"github.com/distribution/distribution/v3"
	"github.com/opencontainers/go-digest"
)

// Manifest is a stored manifest's bytes.
type Manifest struct {
	Digest    string
	MediaType string
	Payload   []byte
}

// Manifest returns a manifest by tag or digest from storage.
func (r *Repo) Manifest(ctx context.Context, ref string) (Manifest, error) {
	a, err := r.artifact(ctx, ref)
	if err != nil {
		return Manifest{}, err
	}
	m, err := r.stored(ctx, a.Digest)
	if err != nil {
		return Manifest{}, err
	}
	mt, payload, err := m.Payload()
	if err != nil {
		return Manifest{}, err
	}
	return Manifest{Digest: a.Digest, MediaType: mt, Payload: payload}, nil
}

// storedManifest reads a manifest's bytes from storage.
func (r *Repo) storedManifest(ctx context.Context, d string) ([]byte, error) {
	m, err := r.stored(ctx, d)
	if err != nil {
		return nil, err
	}
	_, payload, err := m.Payload()
	return payload, err
}

func (r *Repo) stored(ctx context.Context, d string) (distribution.Manifest, error) {
	dr, err := r.storage(ctx)
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
			return nil, errorf(ErrNotFound, "manifest %s@%s not found in storage", r.Name, d)
		}
		return nil, err
	}
	return m, nil
}

// verified reports whether payload hashes to d.
func verified(d string, payload []byte) bool {
	dg, err := digest.Parse(d)
	return err == nil && dg.Algorithm().Available() && dg.Algorithm().FromBytes(payload) == dg
}

// Blob is an open blob: stream it, never read it whole.
type Blob struct {
	io.ReadSeekCloser
	Digest    string
	Size      int64
	MediaType string
}

// OpenBlob opens a blob of the repository for streaming (with seeking,
// for ranges).
func (r *Repo) OpenBlob(ctx context.Context, dgst string) (*Blob, error) {
	d, err := ParseDigest(dgst)
	if err != nil {
		return nil, err
	}
	dr, err := r.storage(ctx)
	if err != nil {
		return nil, err
	}
	bs := dr.Blobs(ctx)
	desc, err := bs.Stat(ctx, d)
	if err != nil {
		if errors.Is(err, distribution.ErrBlobUnknown) {
			return nil, errorf(ErrNotFound, "blob %s not found in %s", dgst, r.Name)
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

// Config returns an artifact's config blob (image config JSON), read
// whole: configs are small and bounded by maxConfigBytes.
func (r *Repo) Config(ctx context.Context, ref string) ([]byte, error) {
	a, err := r.artifact(ctx, ref)
	if err != nil {
		return nil, err
	}
	if a.ConfigDigest == "" {
		return nil, errorf(ErrNotFound, "artifact %s@%s has no config", r.Name, a.Digest)
	}
	b, err := r.OpenBlob(ctx, a.ConfigDigest)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	if b.Size > maxConfigBytes {
		return nil, errorf(ErrInvalid, "config of %s@%s is %d bytes, over the %d limit", r.Name, a.Digest, b.Size, maxConfigBytes)
	}
	return io.ReadAll(io.LimitReader(b, maxConfigBytes))
}
