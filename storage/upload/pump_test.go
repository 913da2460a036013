package upload

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
)

// dribble returns at most max bytes per Read, like a socket.
type dribble struct {
	r   io.Reader
	max int
	rnd *rand.Rand
}

func (d *dribble) Read(p []byte) (int, error) {
	n := 1 + d.rnd.IntN(d.max)
	if n < len(p) {
		p = p[:n]
	}
	return d.r.Read(p)
}

func randomBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	_, _ = r.Read(b)
	return b
}

func TestPumpCopiesAndHashesEveryByteOnce(t *testing.T) {
	cases := []struct {
		name  string
		size  int
		phase int
		max   int // largest Read
	}{
		{"empty", 0, 0, 1},
		{"one byte", 1, 0, 1},
		{"under a buffer", bufSize - 1, 0, 65536},
		{"exactly a buffer", bufSize, 0, bufSize},
		{"many buffers, small reads", 5*bufSize + 12345, 0, 7000},
		{"phase", 3*bufSize + 1, 1000, 300000},
		{"phase at the end of a block", 2 * bufSize, align - 1, bufSize},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := randomBytes(uint64(c.size), c.size)
			var got bytes.Buffer
			writes := 0
			write := func(ps [][]byte) error {
				writes++
				for _, p := range ps {
					got.Write(p)
				}
				return nil
			}
			h1, h2 := sha256.New(), sha512.New()
			src := &dribble{r: bytes.NewReader(data), max: c.max, rnd: rand.New(rand.NewPCG(1, 2))}
			n, rerr, werr := pump(src, c.phase, pipeDepth, write, []io.Writer{h1, h2})
			if rerr != nil || werr != nil || n != int64(c.size) {
				t.Fatalf("pump: n=%d rerr=%v werr=%v, want n=%d", n, rerr, werr, c.size)
			}
			if !bytes.Equal(got.Bytes(), data) {
				t.Fatalf("written bytes differ from the source (%d vs %d bytes)", got.Len(), len(data))
			}
			if want := sha256.Sum256(data); !bytes.Equal(h1.Sum(nil), want[:]) {
				t.Error("sha256 differs")
			}
			if want := sha512.Sum512(data); !bytes.Equal(h2.Sum(nil), want[:]) {
				t.Error("sha512 differs")
			}
			if c.size > 0 && writes == 0 {
				t.Error("no write")
			}
		})
	}
}

// A write error stops the copy; only what was written is counted and hashed.
func TestPumpWriteErrorHashesOnlyWhatWasWritten(t *testing.T) {
	data := randomBytes(7, 6*bufSize)
	var got bytes.Buffer
	boom := errors.New("disk on fire")
	write := func(ps [][]byte) error {
		if got.Len() >= 2*bufSize {
			return boom
		}
		for _, p := range ps {
			got.Write(p)
		}
		return nil
	}
	h := sha256.New()
	n, rerr, werr := pump(bytes.NewReader(data), 0, pipeDepth, write, []io.Writer{h})
	if !errors.Is(werr, boom) || rerr != nil {
		t.Fatalf("errors: read %v, write %v", rerr, werr)
	}
	if n != int64(got.Len()) {
		t.Fatalf("n = %d, but %d bytes were written", n, got.Len())
	}
	if want := sha256.Sum256(data[:n]); !bytes.Equal(h.Sum(nil), want[:]) {
		t.Error("the hash is not the hash of the bytes written")
	}
}

// A read error ends the copy after what was read is written and hashed.
func TestPumpReadError(t *testing.T) {
	data := randomBytes(9, 3*bufSize+5)
	broken := errors.New("client went away")
	src := io.MultiReader(bytes.NewReader(data), &failing{broken})
	var got bytes.Buffer
	h := sha256.New()
	n, rerr, werr := pump(src, 0, pipeDepth, func(ps [][]byte) error {
		for _, p := range ps {
			got.Write(p)
		}
		return nil
	}, []io.Writer{h})
	if !errors.Is(rerr, broken) || werr != nil {
		t.Fatalf("errors: read %v, write %v", rerr, werr)
	}
	if n != int64(len(data)) || !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("n = %d, wrote %d bytes; want all %d read before the error", n, got.Len(), len(data))
	}
	if want := sha256.Sum256(data); !bytes.Equal(h.Sum(nil), want[:]) {
		t.Error("hash differs")
	}
}

type failing struct{ err error }

func (f *failing) Read([]byte) (int, error) { return 0, f.err }
