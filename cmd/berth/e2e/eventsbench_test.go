package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// BenchmarkWebhookDeliveryLatency measures, on loopback, the time from a
// push's event being recorded (its CloudEvents time, taken in the push's
// transaction, in milliseconds) to the event reaching a webhook receiver,
// and reports the p50 and p95 (the target: p95 under 1 s). Numbers only;
// nothing is asserted about them.
func BenchmarkWebhookDeliveryLatency(b *testing.B) {
	srv := berthtest.Start(b, berthtest.Options{Env: []string{"BERTH_EVENTS_WEBHOOK_ALLOW=127.0.0.1"}})
	var mu sync.Mutex
	arrived := map[string]time.Duration{}
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		body, _ := io.ReadAll(r.Body)
		var ce berthtest.CloudEvent
		if json.Unmarshal(body, &ce) == nil && ce.Data.Action == "artifact.push" {
			if at, err := time.Parse(time.RFC3339Nano, ce.Time); err == nil {
				mu.Lock()
				arrived[ce.Subject] = now.Sub(at)
				mu.Unlock()
			}
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rc.Close()
	berthtest.MustAPI(b, srv, http.MethodPost, "/api/berth/v1/webhooks", map[string]any{"name": "bench", "url": rc.URL}, http.StatusCreated)
	var lat []time.Duration
	b.ResetTimer()
	for i := range b.N {
		tag := fmt.Sprintf("t%d", i)
		berthtest.PushRawImage(b, srv, "library/bench", tag, "amd64", berthtest.LayerBytes(1000+i))
		deadline := time.Now().Add(30 * time.Second)
		for {
			mu.Lock()
			d, ok := arrived["library/bench:"+tag]
			mu.Unlock()
			if ok {
				lat = append(lat, d)
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("push %s not delivered within 30s", tag)
			}
			time.Sleep(time.Millisecond)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	p := func(q float64) time.Duration { return lat[min(len(lat)-1, int(q*float64(len(lat))))] }
	b.ReportMetric(float64(p(0.5).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(p(0.95).Microseconds())/1000, "p95-ms")
	b.Logf("delivery latency over %d pushes: p50 %v, p95 %v, max %v (a shared machine: noisy)", len(lat), p(0.5), p(0.95), lat[len(lat)-1])
}
