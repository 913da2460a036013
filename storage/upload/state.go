package upload

import (
	"context"
	"crypto/sha256"
	"encoding"
	"errors"
	"hash"

	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/opencontainers/go-digest"
)

// Hint describes the request an upload is resumed for, as far as the HTTP
// layer knows it before the body is read.
type Hint struct {
	// Digest is the digest a PUT finishing the upload names ("" unknown).
	Digest digest.Digest
	// Length is the request's Content-Length (-1 unknown).
	Length int64
}

type hintKey struct{}

// WithHint tells the upload resumed under ctx what its request carries.
func WithHint(ctx context.Context, h Hint) context.Context {
	return context.WithValue(ctx, hintKey{}, h)
}

func hintFrom(ctx context.Context) Hint {
	if h, ok := ctx.Value(hintKey{}).(Hint); ok {
		return h
	}
	return Hint{Length: -1}
}

// The resumable hash is sha256, stored as distribution stores it: the
// binary state of crypto/sha256 after the first offset bytes, at
// hashstates/sha256/<offset>, so either side can resume the other's.
const stateAlg = digest.SHA256

// loadState returns the sha256 of the first offset bytes of upload id, or
// nil when no usable state is stored: the upload is then hashed by reading
// it back at commit. A state that is missing, short or unreadable (a crash
// while it was written) is not an error.
func (s *Store) loadState(ctx context.Context, repo, id string, offset int64) (hash.Hash, error) {
	h := sha256.New()
	if offset == 0 {
		return h, nil
	}
	b, err := s.driver.GetContent(ctx, hashStatePath(repo, id, stateAlg, offset))
	var nf storagedriver.PathNotFoundError
	if errors.As(err, &nf) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if h.(encoding.BinaryUnmarshaler).UnmarshalBinary(b) != nil {
		return nil, nil
	}
	return h, nil
}

// storeState keeps the state of h, which has hashed the first offset bytes.
// It needs no fsync: a state lost in a crash is recomputed at commit, and
// the data it describes was made durable before it was written.
func (s *Store) storeState(ctx context.Context, repo, id string, offset int64, h hash.Hash) error {
	b, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return err
	}
	return s.back.putState(ctx, hashStatePath(repo, id, stateAlg, offset), b)
}
