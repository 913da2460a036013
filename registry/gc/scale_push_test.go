package gc

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
	"github.com/berth-registry/berth/storage"
	"github.com/berth-registry/berth/storage/metadata"
)

// pushesDuringPass measures push latency (p50, p99 of one-layer image
// pushes by four clients) on a running berth (filesystem + SQLite) first
// alone, then while a pass deletes n unreferenced blobs.
func pushesDuringPass(t *testing.T, n int) string {
	dir := t.TempDir()
	ctx := context.Background()
	sc := storage.Defaults()
	sc.UseDataDir(dir)
	driver, err := storage.Open(ctx, &sc)
	if err != nil {
		t.Fatal(err)
	}
	db, err := metadata.Open(ctx, filepath.Join(dir, "berth.db"), 0)
	if err != nil {
		t.Fatal(err)
	}
	seed(t, ctx, driver, db, n)
	db.Close()
	b := berthtest.Start(t, berthtest.Options{DataDir: dir, Env: []string{"BERTH_GC_ENABLED=false", "BERTH_GC_DELAY=0s"}})
	base := berthtest.PushLatencies(t, b, "bench/c", 4, 10*time.Second, nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequest(http.MethodPost, b.URL("/api/berth/v1/gc"), nil)
		req.SetBasicAuth("admin", b.AdminPassword)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	during := berthtest.PushLatencies(t, b, "bench/c", 4, 0, done)
	<-done
	return fmt.Sprintf("| push p50 / p99 alone | %s / %s | while a pass deletes %d blobs | %s / %s (%d pushes) |",
		berthtest.Percentile(base, 50), berthtest.Percentile(base, 99), n, berthtest.Percentile(during, 50), berthtest.Percentile(during, 99), len(during))
}
