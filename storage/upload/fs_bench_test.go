package upload

import (
	"context"
	"io"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// BenchmarkFilesystemPush pushes a blob through a Writer on the
// filesystem (no HTTP): the write path alone, buffered and direct, with
// the process's CPU per GB. BENCH_DIR picks the disk (default: a temp dir),
// BENCH_MIB the blob size (default 512).
//
//	go test ./storage/upload -run - -bench FilesystemPush -benchtime 4x
func BenchmarkFilesystemPush(b *testing.B) {
	size := 512 << 20
	if v, err := strconv.Atoi(os.Getenv("BENCH_MIB")); err == nil && v > 0 {
		size = v << 20
	}
	src := randomBytes(42, 64<<20)
	dgst := func() digest.Digest {
		d := digest.Canonical.Digester()
		for range size / len(src) {
			d.Hash().Write(src)
		}
		return d.Digest()
	}()
	for _, mode := range []struct {
		name     string
		buffered bool
	}{{"buffered", true}, {"direct", false}} {
		b.Run(mode.name, func(b *testing.B) {
			dir := os.Getenv("BENCH_DIR")
			if dir == "" {
				dir = b.TempDir()
			} else {
				d, err := os.MkdirTemp(dir, "upload-bench-")
				if err != nil {
					b.Fatal(err)
				}
				defer os.RemoveAll(d)
				dir = d
			}
			s := NewFilesystem(filesystemDriver(b, dir), FilesystemOptions{RootDirectory: dir, Buffered: mode.buffered})
			ctx := context.Background()
			b.SetBytes(int64(size))
			var cpu time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				syscall.Sync()
				w, err := s.Create(ctx, testRepo)
				if err != nil {
					b.Fatal(err)
				}
				w, err = s.Resume(WithHint(ctx, Hint{Digest: dgst, Length: int64(size)}), testRepo, w.ID())
				if err != nil {
					b.Fatal(err)
				}
				c0 := processCPU()
				b.StartTimer()
				if _, err := w.ReadFrom(io.LimitReader(&repeat{b: src}, int64(size))); err != nil {
					b.Fatal(err)
				}
				if _, err := w.Commit(ctx, v1.Descriptor{Digest: dgst}); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				cpu += processCPU() - c0
				os.Remove(dir + blobDataPath(dgst)) // the next push stores it again
			}
			b.ReportMetric(cpu.Seconds()/(float64(b.N)*float64(size)/1e9), "cpu-s/GB")
		})
	}
}

type repeat struct {
	b   []byte
	off int
}

func (r *repeat) Read(p []byte) (int, error) {
	n := copy(p, r.b[r.off:])
	r.off = (r.off + n) % len(r.b)
	return n, nil
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
