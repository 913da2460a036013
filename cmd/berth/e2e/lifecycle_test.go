package e2e

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// startUpload opens a blob upload session and returns its absolute URL.

// SIGTERM lets a request in flight finish, then berth exits 0.
func TestGracefulShutdownDrainsRequests(t *testing.T) {
	b := berthtest.Start(t, berthtest.Options{})
	loc := startUpload(t, b, "library/drain")

	chunk := make([]byte, 256<<10)
	_, _ = rand.Read(chunk)
	const chunks = 8
	h := sha256.New()
	for range chunks {
		h.Write(chunk)
	}
	digest := "sha256:" + hex.EncodeToString(h.Sum(nil))

	pr, pw := io.Pipe()
	req, _ := http.NewRequest(http.MethodPut, withDigest(loc, digest), pr)
	req.ContentLength = int64(len(chunk) * chunks)
	req.Header.Set("Content-Type", "application/octet-stream")
	// The body waits for the server's 100 Continue, which it sends once
	// the handler reads the body: the first chunk's write returns when the
	// request is in flight on the server. (Without it, a PUT whose headers
	// the server had not read when SIGTERM came could be cut with the idle
	// connections; seen once under load.)
	req.Header.Set("Expect", "100-continue")
	req.SetBasicAuth("admin", b.AdminPassword)
	client := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: time.Minute}}
	type result struct {
		status int
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := client.Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		resp.Body.Close()
		done <- result{status: resp.StatusCode}
	}()

	if _, err := pw.Write(chunk); err != nil {
		t.Fatal(err)
	}
	if err := b.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // shutdown has begun; the upload is mid-body
	if _, err := http.Get(b.URL("/healthz")); err == nil {
		t.Error("new connections are still accepted after SIGTERM")
	}
	for i := 1; i < chunks; i++ {
		if _, err := pw.Write(chunk); err != nil {
			t.Fatalf("write chunk %d: %v", i, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	pw.Close()
	r := <-done
	if r.err != nil || r.status != http.StatusCreated {
		t.Fatalf("upload in flight during shutdown: status %d err %v", r.status, r.err)
	}
	exited, err := b.Wait(30 * time.Second)
	if !exited || err != nil {
		t.Fatalf("berth did not exit cleanly after draining: exited=%v err=%v", exited, err)
	}
	if !strings.Contains(b.Logs(), "draining requests in flight") {
		t.Error("no drain message in the log")
	}
}

// peakRSS reads the high-water mark of a process's resident set (VmHWM).
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("VmHWM not found")
	return 0
}

// blockStream yields n blocks of one random block, each stamped with its
// index so no two blocks are equal. It never holds more than one block.
type blockStream struct {
	block []byte
	n, i  int
	off   int
}

func (s *blockStream) Read(p []byte) (int, error) {
	if s.i >= s.n {
		return 0, io.EOF
	}
	if s.off == 0 {
		copy(s.block, fmt.Sprintf("%016d", s.i))
	}
	c := copy(p, s.block[s.off:])
	s.off += c
	if s.off == len(s.block) {
		s.off = 0
		s.i++
	}
	return c, nil
}

// A 1 GiB monolithic push streams through berth: its peak RSS stays near
// 100 MB. Measured from /proc, not timed.
func TestMonolithic1GiBPushStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("1 GiB push skipped in -short mode")
	}
	const blocks, blockSize = 1024, 1 << 20
	const limit = 120 << 20
	block := make([]byte, blockSize)
	_, _ = rand.Read(block)
	h := sha256.New()
	if _, err := io.Copy(h, &blockStream{block: block, n: blocks}); err != nil {
		t.Fatal(err)
	}
	digest := "sha256:" + hex.EncodeToString(h.Sum(nil))

	for _, be := range berthtest.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			b := berthtest.Start(t, berthtest.Options{Env: be.Env(t)})
			before := peakRSS(t, b.Pid())
			loc := startUpload(t, b, "library/big")
			req, _ := http.NewRequest(http.MethodPut, withDigest(loc, digest), &blockStream{block: block, n: blocks})
			req.ContentLength = blocks * blockSize
			req.Header.Set("Content-Type", "application/octet-stream")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if body := readAll(t, resp); resp.StatusCode != http.StatusCreated {
				t.Fatalf("PUT 1 GiB: %d %s", resp.StatusCode, body)
			}
			head, err := http.Head(b.URL("/v2/library/big/blobs/" + digest))
			if err != nil {
				t.Fatal(err)
			}
			head.Body.Close()
			if head.ContentLength != blocks*blockSize || head.Header.Get("Docker-Content-Digest") != digest {
				t.Fatalf("HEAD after push: length %d digest %q", head.ContentLength, head.Header.Get("Docker-Content-Digest"))
			}
			peak := peakRSS(t, b.Pid())
			t.Logf("%s: berth peak RSS %d MiB (before push %d MiB)", be.Name, peak>>20, before>>20)
			if peak > limit {
				t.Errorf("peak RSS %d MiB during a 1 GiB push exceeds %d MiB: the blob is not streamed", peak>>20, limit>>20)
			}
		})
	}
}
