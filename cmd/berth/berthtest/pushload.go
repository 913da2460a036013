package berthtest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// PushLatencies pushes one-layer images (64 KiB) into repo with clients
// clients, for d or, when stop is given, until it closes; it returns each
// push's duration, sorted. Benchmarks use it to measure what a background
// job (a GC pass, a retention run) costs the pushes beside it.
func PushLatencies(t testing.TB, b *Berth, repo string, clients int, d time.Duration, stop <-chan struct{}) []time.Duration {
	var out latencies
	end := time.Now().Add(d)
	round := time.Now().UnixNano()
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				if stop != nil {
					select {
					case <-stop:
						return
					default:
					}
				} else if time.Now().After(end) {
					return
				}
				if !out.push(t, b, fmt.Sprintf("%s%d", repo, c), fmt.Sprintf("r%d-%d", round, i), time.Now()) {
					return
				}
			}
		}()
	}
	wg.Wait()
	return out.sorted()
}

// latencies collects push latencies from several goroutines.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

// push pushes one image (PushSmallImage) and records its latency counted
// from since; it reports whether the push worked (else the test fails).
func (l *latencies) push(t testing.TB, b *Berth, repo, tag string, since time.Time) bool {
	if err := PushSmallImage(b, repo, tag); err != nil {
		t.Error(err)
		return false
	}
	l.mu.Lock()
	l.d = append(l.d, time.Since(since))
	l.mu.Unlock()
	return true
}

func (l *latencies) sorted() []time.Duration {
	slices.Sort(l.d)
	return l.d
}

// PacedPushLatencies pushes one-layer images into repo at rate pushes a
// second, whatever the pushes before still do (an open load, as a busy
// registry's clients are, unlike PushLatencies' clients that each wait for
// their last push), for d or, when stop is given, until it closes. Each
// push's latency counts from when it was due, so a push that could not
// start in time (more than 64 in flight) counts its wait too. It returns
// the latencies, sorted.
func PacedPushLatencies(t testing.TB, b *Berth, repo string, rate float64, d time.Duration, stop <-chan struct{}) []time.Duration {
	var out latencies
	var wg sync.WaitGroup
	slots := make(chan struct{}, 64)
	every := time.Duration(float64(time.Second) / rate)
	begin := time.Now()
	round := begin.UnixNano()
	for i := 0; ; i++ {
		due := begin.Add(time.Duration(i) * every)
		if stop == nil && due.After(begin.Add(d)) {
			break
		}
		if stop == nil {
			time.Sleep(time.Until(due))
		} else if stopped(stop, time.Until(due)) {
			break
		}
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			out.push(t, b, fmt.Sprintf("%s%d", repo, i%4), fmt.Sprintf("p%d-%d", round, i), due)
		}()
	}
	wg.Wait()
	return out.sorted()
}

// stopped waits up to wait for stop to close, and says whether it did.
func stopped(stop <-chan struct{}, wait time.Duration) bool {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-stop:
		return true
	case <-timer.C:
		return false
	}
}

// Percentile is the p-th percentile of sorted durations, rounded ("-" for
// none).
func Percentile(ds []time.Duration, p int) string {
	if len(ds) == 0 {
		return "-"
	}
	return ds[min(len(ds)-1, len(ds)*p/100)].Round(100 * time.Microsecond).String()
}

// PushSmallImage pushes a one-layer image (a 64 KiB layer unique to repo
// and tag) as the admin, over plain HTTP with monolithic uploads.
func PushSmallImage(b *Berth, repo, tag string) error {
	blob := func(data []byte) (string, error) {
		sum := sha256.Sum256(data)
		d := "sha256:" + hex.EncodeToString(sum[:])
		req, _ := http.NewRequest(http.MethodPost, b.URL("/v2/"+repo+"/blobs/uploads/"), nil)
		req.SetBasicAuth("admin", b.AdminPassword)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return "", fmt.Errorf("upload start: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			return "", fmt.Errorf("upload start: %s", resp.Status)
		}
		loc := resp.Header.Get("Location")
		if !strings.HasPrefix(loc, "http") {
			loc = b.URL(loc)
		}
		sep := "?"
		if strings.Contains(loc, "?") {
			sep = "&"
		}
		req, _ = http.NewRequest(http.MethodPut, loc+sep+"digest="+d, bytes.NewReader(data))
		req.SetBasicAuth("admin", b.AdminPassword)
		if resp, err = http.DefaultClient.Do(req); err != nil {
			return "", fmt.Errorf("upload: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			return "", fmt.Errorf("upload: %s", resp.Status)
		}
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
	if err != nil {
		return fmt.Errorf("manifest: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("manifest: %s", resp.Status)
	}
	return nil
}
