package gc

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/registry/berthtest"
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
	base := pushLatencies(t, b, 0, 10*time.Second)
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequest(http.MethodPost, b.URL("/api/berth/v1/gc"), nil)
		req.SetBasicAuth("admin", b.AdminPassword)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	during := pushLatencies(t, b, 1, 0, done)
	<-done
	return fmt.Sprintf("| push p50 / p99 alone | %s / %s | while a pass deletes %d blobs | %s / %s (%d pushes) |",
		pct(base, 50), pct(base, 99), n, pct(during, 50), pct(during, 99), len(during))
}

// pushLatencies pushes one-layer images with four clients for d (or until
// stop closes) and returns each push's duration.
func pushLatencies(t *testing.T, b *berthtest.Berth, round int, d time.Duration, stop ...chan struct{}) []time.Duration {
	var mu sync.Mutex
	var out []time.Duration
	end := time.Now().Add(d)
	var wg sync.WaitGroup
	for c := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				if len(stop) > 0 {
					select {
					case <-stop[0]:
						return
					default:
					}
				} else if time.Now().After(end) {
					return
				}
				start := time.Now()
				if err := pushImage(b, fmt.Sprintf("bench/c%d", c), fmt.Sprintf("r%d-%d", round, i)); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				out = append(out, time.Since(start))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	slices.Sort(out)
	return out
}

func pct(ds []time.Duration, p int) string {
	if len(ds) == 0 {
		return "-"
	}
	return ds[min(len(ds)-1, len(ds)*p/100)].Round(100 * time.Microsecond).String()
}

func pushImage(b *berthtest.Berth, repo, tag string) error {
	blob := func(data []byte) (string, error) {
		sum := sha256.Sum256(data)
		d := "sha256:" + hex.EncodeToString(sum[:])
		req, _ := http.NewRequest(http.MethodPost, b.URL("/v2/"+repo+"/blobs/uploads/"), nil)
		req.SetBasicAuth("admin", b.AdminPassword)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusAccepted {
			return "", fmt.Errorf("upload start: %v %v", resp, err)
		}
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if !strings.HasPrefix(loc, "http") {
			loc = b.URL(loc)
		}
		req, _ = http.NewRequest(http.MethodPut, loc+"&digest="+d, bytes.NewReader(data))
		req.SetBasicAuth("admin", b.AdminPassword)
		if resp, err = http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusCreated {
			return "", fmt.Errorf("upload: %v %v", resp, err)
		}
		resp.Body.Close()
		return d, nil
	}
	layer := bytes.Repeat([]byte(repo+tag), 64<<10/len(repo+tag))
	ld, err := blob(layer)
	if err != nil {
		return err
	}
	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["` + ld + `"]}}`)
	cd, err := blob(config)
	if err != nil {
		return err
	}
	m, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": len(config)},
		"layers": []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": len(layer)}}})
	req, _ := http.NewRequest(http.MethodPut, b.URL("/v2/"+repo+"/manifests/"+tag), bytes.NewReader(m))
	req.SetBasicAuth("admin", b.AdminPassword)
	req.Header.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("manifest: %v %v", resp, err)
	}
	return resp.Body.Close()
}
