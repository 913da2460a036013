package e2e

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// On S3, a PATCH after one that left a part under 5 MiB first rebases the
// upload (the parts completed into an object, a new multipart upload, the
// object copied in). A replica killed (kill -9) right after each of those
// steps leaves storage in a state the other replica reads as the upload's
// data: its status says where the client resumes, the client carries on
// there, and the blob has the right bytes. The killed replica talks to
// MinIO through a front that holds S3's answer to the step, so the kill
// comes exactly after it.
func TestChunkedUploadKilledMidRebase(t *testing.T) {
	m := berthtest.StartMinIO(t)
	cases := []struct {
		name string
		step func(r *http.Request) bool // the S3 request after which the replica dies
	}{
		{"after the parts were completed", func(r *http.Request) bool {
			return r.Method == http.MethodPost && r.URL.Query().Has("uploadId")
		}},
		{"after the new multipart upload was started", func(r *http.Request) bool {
			return r.Method == http.MethodPost && r.URL.Query().Has("uploads")
		}},
		{"after the object was copied in", func(r *http.Request) bool {
			return r.Method == http.MethodPut && r.Header.Get("X-Amz-Copy-Source") != ""
		}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bucket := "killrebase" + string(rune('a'+i))
			held := make(chan struct{})
			front := startS3Front(t, m.Endpoint, c.step, held)
			db := "BERTH_DATABASE_URL=" + filepath.Join(t.TempDir(), "berth.db")
			a := berthtest.Start(t, berthtest.Options{Env: append(m.Env(bucket), db)})
			b := berthtest.Start(t, berthtest.Options{Env: append(m.Env(bucket), db,
				"BERTH_STORAGE_S3_ENDPOINT=http://"+front)})

			const mib = 1 << 20
			data := randomBytes(t, 12*mib+777)
			repo := "library/killed"
			loc := startUpload(t, a, repo)
			first := 7 * mib // without a length: a 5 MiB part and a 2 MiB one
			loc = patch(t, a, loc, data[:first], 0, false)

			// The PATCH on b dies after the step; its client sees an error.
			go func() {
				req, _ := http.NewRequest(http.MethodPatch, absolute(b, loc), bytes.NewReader(data[first:first+3*mib]))
				req.Header.Set("Content-Type", "application/octet-stream")
				if resp, err := http.DefaultClient.Do(req); err == nil {
					resp.Body.Close()
				}
			}()
			select {
			case <-held:
			case <-time.After(time.Minute): // a hang detector, not a timing assertion
				t.Fatal("the replica never reached the step")
			}
			b.Kill()

			loc, stored := uploadStatus(t, a, loc)
			if stored != first {
				t.Fatalf("killed %s: the upload holds %d bytes, want %d", c.name, stored, first)
			}
			loc = patch(t, a, loc, data[first:first+3*mib], first, true)
			finishUpload(t, repo, loc, data, first+3*mib, a)
		})
	}
}

// startS3Front proxies S3 requests to endpoint. Once a request matching
// step has been answered by S3, the answer is held (never sent) and held
// is closed: the caller kills the replica then.
func startS3Front(t *testing.T, endpoint string, step func(*http.Request) bool, held chan struct{}) string {
	t.Helper()
	target, _ := url.Parse("http://" + endpoint)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var once sync.Once
	stop := make(chan struct{})
	proxy.ModifyResponse = func(resp *http.Response) error {
		if strings.Contains(resp.Request.URL.Path, "/_uploads/") && step(resp.Request) {
			once.Do(func() { close(held) })
			<-stop
		}
		return nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: proxy, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { close(stop); _ = srv.Close() })
	return l.Addr().String()
}
