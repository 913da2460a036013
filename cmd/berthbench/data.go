package main

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"sync"
)

const genBlock = 64 << 10

// stream is a deterministic, incompressible byte stream of a given size: a
// 64 KiB block of ChaCha8 output per seed, repeated, with each block's first
// 16 bytes replaced by the seed and the block number, so no two blocks (of
// one blob or of two) are equal. It costs a memory copy per block, so it
// feeds a loopback socket faster than any registry reads it, and never holds
// more than two blocks.
type stream struct {
	seed      uint64
	base, cur []byte
	block     int64 // block held in cur, -1 none
	off, size int64
}

func newStream(seed uint64, size int64) *stream {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	base := make([]byte, genBlock)
	_, _ = rand.NewChaCha8(key).Read(base)
	return &stream{seed: seed, base: base, cur: make([]byte, genBlock), block: -1, size: size}
}

func (s *stream) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) && s.off < s.size {
		b := s.off / genBlock
		if b != s.block {
			copy(s.cur, s.base)
			binary.LittleEndian.PutUint64(s.cur[0:], s.seed)
			binary.LittleEndian.PutUint64(s.cur[8:], uint64(b))
			s.block = b
		}
		pos := s.off % genBlock
		m := copy(p[n:], s.cur[pos:min(int64(genBlock), pos+s.size-s.off)])
		n += m
		s.off += int64(m)
	}
	if n == 0 && s.off >= s.size {
		return 0, io.EOF
	}
	return n, nil
}

// blobKey names one generated blob.
type blobKey struct {
	seed uint64
	size int64
}

// digests computes (once) and remembers the sha256 digest of generated
// blobs: the data is generated twice, once here to hash and once to send.
type digests struct {
	mu sync.Mutex
	m  map[blobKey]string
}

func newDigests() *digests { return &digests{m: map[blobKey]string{}} }

// get returns the digest of blob k, hashing it if needed.
func (d *digests) get(k blobKey) string {
	d.mu.Lock()
	dg, ok := d.m[k]
	d.mu.Unlock()
	if ok {
		return dg
	}
	h := sha256.New()
	_, _ = io.CopyBuffer(h, newStream(k.seed, k.size), make([]byte, 1<<20))
	dg = "sha256:" + hex.EncodeToString(h.Sum(nil))
	d.mu.Lock()
	d.m[k] = dg
	d.mu.Unlock()
	return dg
}

// prepare hashes keys on conc goroutines (before any timer starts).
func (d *digests) prepare(ctx context.Context, keys []blobKey, conc int) error {
	return parallel(ctx, len(keys), conc, func(_ context.Context, i int) error {
		d.get(keys[i])
		return nil
	})
}
