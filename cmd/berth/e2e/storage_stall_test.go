package e2e

import (
	"bufio"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// With MinIO stopped (SIGSTOP) in the middle of an upload body, berth
// answers 503 UNAVAILABLE in the OCI error envelope once storage.timeout
// passes without progress, instead of holding the request for as long as
// MinIO is stopped; after SIGCONT pushes work again.
func TestUploadStalledByStorageGives503(t *testing.T) {
	m := berthtest.StartMinIO(t)
	b := berthtest.Start(t, berthtest.Options{Env: append(m.Env("stall"), "BERTH_STORAGE_TIMEOUT=2s")})
	const size = 256 << 20
	block := make([]byte, 1<<20)
	for i := range block {
		block[i] = byte(i * 7)
	}
	stream := func() *blockStream { return &blockStream{block: append([]byte(nil), block...), n: size >> 20} }
	h := sha256.New()
	if _, err := io.Copy(h, stream()); err != nil {
		t.Fatal(err)
	}
	dgst := "sha256:" + hex.EncodeToString(h.Sum(nil))

	for _, method := range []string{http.MethodPut, http.MethodPatch} {
		t.Run(method, func(t *testing.T) {
			loc := startUpload(t, b, "library/stall")
			if method == http.MethodPut {
				loc = withDigest(loc, dgst)
			}
			u, err := url.Parse(loc)
			if err != nil {
				t.Fatal(err)
			}
			// A raw connection: the test decides when MinIO stops, keeps
			// sending while berth may, and reads the answer whenever it comes.
			conn, err := net.Dial("tcp", b.Addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			auth := base64.StdEncoding.EncodeToString([]byte("admin:" + b.AdminPassword))
			fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Basic %s\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n",
				method, u.RequestURI(), b.Addr, auth, size)
			paused := make(chan struct{})
			go func() {
				for i := range size >> 20 {
					if i == 16 {
						m.Pause()
						close(paused)
					}
					if _, err := conn.Write(block); err != nil {
						return // berth answered and closed
					}
				}
			}()
			defer m.Resume()
			<-paused
			_ = conn.SetReadDeadline(time.Now().Add(2 * time.Minute)) // a hang detector, not a timing assertion
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no answer while MinIO is stopped: %v", err)
			}
			var body struct {
				Errors []struct{ Code, Message string } `json:"errors"`
			}
			err = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable || err != nil || len(body.Errors) != 1 || body.Errors[0].Code != "UNAVAILABLE" {
				t.Fatalf("%s with MinIO stopped: %d %+v (%v), want 503 UNAVAILABLE in the OCI envelope", method, resp.StatusCode, body, err)
			}
			if strings.Contains(body.Errors[0].Message, "/") {
				t.Errorf("the message names a path: %q", body.Errors[0].Message)
			}
		})
		m.Resume()
		// Storage is back: the same push goes through.
		loc := startUpload(t, b, "library/stall")
		req, _ := http.NewRequest(http.MethodPut, withDigest(loc, dgst), stream())
		req.ContentLength = size
		req.Header.Set("Content-Type", "application/octet-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if body := readAll(t, resp); resp.StatusCode != http.StatusCreated {
			t.Fatalf("push after MinIO continued: %d %s", resp.StatusCode, body)
		}
	}
}
