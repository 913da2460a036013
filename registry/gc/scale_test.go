package gc

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
	"github.com/berth-registry/berth/storage"
	"github.com/berth-registry/berth/storage/metadata"
)

// TestGCScale measures passes over many unreferenced blobs: deletions per
// second on MinIO + PostgreSQL, and a pass over 100,000 blobs on the
// filesystem + SQLite with the heap it needed. It is a benchmark, not a
// test of speed: it runs with BERTH_BENCH=1 (make bench-gc) and prints a
// Markdown table for docs/benchmarks.md. Sizes: BERTH_BENCH_GC_MINIO
// (default 2000) and BERTH_BENCH_GC_FS (default 100000) blobs. It also
// measures push latency on a running berth alone and while a pass deletes
// BERTH_BENCH_GC_PUSH (default 20000) blobs.
func TestGCScale(t *testing.T) {
	if os.Getenv("BERTH_BENCH") == "" {
		t.Skip("a benchmark: run with BERTH_BENCH=1 (make bench-gc)")
	}
	var rows []string
	minio := berthtest.StartMinIO(t)
	s3 := storage.Defaults()
	s3.Driver, s3.S3.Endpoint, s3.S3.Bucket = storage.DriverS3, "http://"+minio.Endpoint, "gcbench"
	s3.S3.AccessKey, s3.S3.SecretKey, s3.S3.CreateBucket = minio.AccessKey, minio.SecretKey, true
	rows = append(rows, scaleRun(t, "MinIO + PostgreSQL", s3, berthtest.SharedPostgres(t).NewDatabase(t), envInt("BERTH_BENCH_GC_MINIO", 2000)))
	fs := storage.Defaults()
	fs.UseDataDir(t.TempDir())
	rows = append(rows, scaleRun(t, "filesystem + SQLite", fs, filepath.Join(t.TempDir(), "berth.db"), envInt("BERTH_BENCH_GC_FS", 100000)))
	fmt.Printf("\n| backend | unreferenced blobs | pass | deletions/s | peak heap during the pass |\n| --- | ---: | ---: | ---: | ---: |\n")
	for _, r := range rows {
		fmt.Println(r)
	}
	fmt.Printf("\n| pushes (4 clients, filesystem + SQLite) | | | |\n| --- | ---: | --- | ---: |\n%s\n", pushesDuringPass(t, envInt("BERTH_BENCH_GC_PUSH", 20000)))
}

func scaleRun(t *testing.T, name string, sc storage.Config, dsn string, n int) string {
	ctx := context.Background()
	driver, err := storage.Open(ctx, &sc)
	if err != nil {
		t.Fatal(err)
	}
	db, err := metadata.Open(ctx, dsn, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	seed(t, ctx, driver, db, n)
	c := New(Config{Enabled: false, Interval: time.Minute, Delay: 0, Untagged: UntaggedKeep, Workers: 4},
		Deps{DB: db, Driver: driver, Mirror: func(context.Context, []metadata.Sync) {}, Forget: func(context.Context, string) {}, Owner: "bench"},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	go func() { // samples the heap while the pass runs
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
		}
	}()
	start := time.Now()
	r, err := c.Pass(ctx, "bench", false)
	d := time.Since(start)
	close(stop)
	if err != nil || r.BlobsDeleted != int64(n) {
		t.Fatalf("%s: pass deleted %d of %d: %v", name, r.BlobsDeleted, n, err)
	}
	grew := int64(peak.Load()) - int64(base.HeapInuse)
	t.Logf("%s: %d blobs in %s (%.0f/s), heap +%d KiB", name, n, d.Round(time.Millisecond), float64(n)/d.Seconds(), max(grew, 0)>>10)
	return fmt.Sprintf("| %s | %d | %.1f s | %.0f | %.1f MiB above the %.1f MiB before it |", name, n, d.Seconds(), float64(n)/d.Seconds(),
		float64(max(grew, 0))/(1<<20), float64(base.HeapInuse)/(1<<20))
}

// seed stores n small blobs nothing uses, known to the index with their
// reviews due.
func seed(t *testing.T, ctx context.Context, driver storagedriver.StorageDriver, db *metadata.DB, n int) {
	var batch []metadata.Blob
	for i := range n {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(i))
		sum := sha256.Sum256(b[:])
		hexd := hex.EncodeToString(sum[:])
		if err := driver.PutContent(ctx, "/docker/registry/v2/blobs/sha256/"+hexd[:2]+"/"+hexd+"/data", b[:]); err != nil {
			t.Fatal(err)
		}
		batch = append(batch, metadata.Blob{Digest: "sha256:" + hexd, Size: int64(len(b))})
		if len(batch) == 500 || i == n-1 {
			if _, err := db.ImportBlobs(ctx, batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
}

func envInt(name string, def int) int {
	var n int
	if _, err := fmt.Sscanf(os.Getenv(name), "%d", &n); err != nil || n <= 0 {
		return def
	}
	return n
}
