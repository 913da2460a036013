package upload

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// teeCheck is a tee that, at each write, reads the upload's data file back
// where the tee was told the bytes are: they must be there already.
type teeCheck struct {
	path string
	mu   sync.Mutex
	got  bytes.Buffer
	bad  int
}

func (c *teeCheck) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	off := int64(c.got.Len())
	c.got.Write(p)
	if c.path == "" {
		return len(p), nil
	}
	f, err := os.Open(c.path)
	if err != nil {
		c.bad++
		return len(p), nil
	}
	defer f.Close()
	back := make([]byte, len(p))
	if _, err := f.ReadAt(back, off); err != nil || !bytes.Equal(back, p) {
		c.bad++
	}
	return len(p), nil
}

// A download (the proxy's) hands the upload a tee and asks for the digest
// before the commit: the tee sees every stored byte in order, already in
// the data file; Sum answers for sha256 always and for the hinted algorithm.
func TestReadFromTee(t *testing.T) {
	data := randomBytes(7, 5<<20+123) // not a whole number of buffers
	for _, c := range []struct {
		name     string
		buffered bool
		hint     digest.Algorithm
	}{
		{"buffered/sha256", true, digest.SHA256},
		{"direct/sha256", false, digest.SHA256},
		{"buffered/sha512", true, digest.SHA512},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, _, _ := fsStore(t, c.buffered)
			want := c.hint.FromBytes(data)
			ctx := WithHint(context.Background(), Hint{Digest: want, Length: int64(len(data))})
			w, err := s.Create(ctx, testRepo)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := w.Sum(digest.SHA384); ok {
				t.Error("Sum answered for an algorithm nothing hashed")
			}
			tee := &teeCheck{path: w.LocalPath()}
			if tee.path == "" {
				t.Fatal("no local path on a filesystem store")
			}
			n, err := w.ReadFromTee(&dribble{r: bytes.NewReader(data), max: 70_000, rnd: rand.New(rand.NewPCG(3, 4))}, tee)
			if err != nil || n != int64(len(data)) {
				t.Fatalf("ReadFromTee: %d, %v", n, err)
			}
			if !bytes.Equal(tee.got.Bytes(), data) || tee.bad != 0 {
				t.Fatalf("the tee got %d bytes (want %d), %d of its writes not in the file yet", tee.got.Len(), len(data), tee.bad)
			}
			if got, ok := w.Sum(c.hint); !ok || got != want {
				t.Fatalf("Sum(%s) = %s, %v; want %s", c.hint, got, ok, want)
			}
			if got, ok := w.Sum(digest.SHA256); !ok || got != digest.FromBytes(data) {
				t.Fatalf("Sum(sha256) = %s, %v", got, ok)
			}
			desc, err := w.Commit(ctx, v1.Descriptor{Digest: want})
			if err != nil || desc.Size != int64(len(data)) {
				t.Fatalf("Commit: %+v, %v", desc, err)
			}
		})
	}
}
