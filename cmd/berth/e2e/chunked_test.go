package e2e

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// A chunked upload goes on across two replicas sharing storage and the
// database, the way clients send chunks: docker-style PATCHes without a
// length (chunked transfer encoding), PATCHes with a Content-Range, one
// cut off by a client that went away (resumed from what GET status
// reports), and a final PUT with the last bytes. The blob that results
// has the right bytes on both replicas.
func TestChunkedUploadAcrossReplicas(t *testing.T) {
	for _, be := range berthtest.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			shared := append(be.Env(t), "BERTH_DATABASE_URL="+filepath.Join(t.TempDir(), "berth.db"))
			if be.Name == "filesystem" {
				shared = append(shared, "BERTH_STORAGE_FILESYSTEM_ROOT_DIRECTORY="+t.TempDir())
			}
			a := berthtest.Start(t, berthtest.Options{Env: shared})
			b := berthtest.Start(t, berthtest.Options{Env: shared})
			const mib = 1 << 20
			data := randomBytes(t, 19*mib+4321)
			repo := "library/chunky"

			loc := startUpload(t, a, repo)
			off := 0
			send := func(on *berthtest.Berth, n int, withLength bool) {
				t.Helper()
				loc = patch(t, on, loc, data[off:off+n], off, withLength)
				off += n
			}
			send(a, 7*mib, false)  // docker: no length
			send(b, 5*mib, true)   // another replica, Content-Range
			send(a, mib+17, false) // a chunk under the S3 part minimum
			patches := strings.Count(b.Logs(), `"method":"PATCH"`)
			cutPatch(t, b, loc, data[off:off+4*mib], 2*mib+5) // the client goes away
			// The client resumes once the server is done with the cut PATCH
			// (it logs the request when it has stored what came), as a
			// client does: two requests writing one upload at once are not
			// something the protocol allows.
			berthtest.WaitFor(t, "the server done with the cut-off PATCH", func() bool {
				return strings.Count(b.Logs(), `"method":"PATCH"`) > patches
			})
			var stored int
			loc, stored = uploadStatus(t, a, loc)
			if stored < off || stored > off+2*mib+5 {
				t.Fatalf("after a cut-off PATCH the upload holds %d bytes; %d were sent before it", stored, off)
			}
			t.Logf("a PATCH cut off after %d bytes left the upload at %d (%d before it)", 2*mib+5, stored, off)
			off = stored
			send(b, 3*mib, true)
			finishUpload(t, repo, loc, data, off, a, b)
		})
	}
}

// finishUpload sends data past off as the final PUT of the upload at loc
// (on the first replica given) and checks that every replica serves the
// blob with data's bytes.
func finishUpload(t *testing.T, repo, loc string, data []byte, off int, replicas ...*berthtest.Berth) {
	t.Helper()
	dgst := berthtest.Sha(data)
	req, _ := http.NewRequest(http.MethodPut, withDigest(absolute(replicas[0], loc), dgst), bytes.NewReader(data[off:]))
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != http.StatusCreated || resp.Header.Get("Docker-Content-Digest") != dgst {
		t.Fatalf("final PUT: %d %s (digest %q)", resp.StatusCode, body, resp.Header.Get("Docker-Content-Digest"))
	}
	for _, r := range replicas {
		resp, got := httpDo(t, http.MethodGet, r.URL("/v2/"+repo+"/blobs/"+dgst), nil)
		if resp.StatusCode != http.StatusOK || !bytes.Equal(got, data) {
			t.Fatalf("GET blob from %s: %d, %d bytes (want %d)", r.Addr, resp.StatusCode, len(got), len(data))
		}
	}
}

func absolute(b *berthtest.Berth, loc string) string {
	if strings.HasPrefix(loc, "/") {
		return b.URL(loc)
	}
	u, err := url.Parse(loc)
	if err != nil {
		return loc
	}
	return b.URL(u.RequestURI())
}

// patch sends one chunk at offset off of the upload at loc (on replica
// on) and returns the next location.
func patch(t *testing.T, on *berthtest.Berth, loc string, chunk []byte, off int, withLength bool) string {
	t.Helper()
	var body io.Reader = bytes.NewReader(chunk)
	if !withLength {
		body = io.MultiReader(body) // hides the length: chunked transfer encoding
	}
	req, _ := http.NewRequest(http.MethodPatch, absolute(on, loc), body)
	req.Header.Set("Content-Type", "application/octet-stream")
	if withLength {
		req.ContentLength = int64(len(chunk))
		req.Header.Set("Content-Range", fmt.Sprintf("%d-%d", off, off+len(chunk)-1))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("PATCH %d bytes at %d: %d %s", len(chunk), off, resp.StatusCode, body)
	}
	if want := fmt.Sprintf("0-%d", off+len(chunk)-1); resp.Header.Get("Range") != want {
		t.Fatalf("PATCH at %d: Range %q, want %q", off, resp.Header.Get("Range"), want)
	}
	return resp.Header.Get("Location")
}

// cutPatch starts a PATCH announcing len(chunk) bytes, sends only sent of
// them and closes the connection.
func cutPatch(t *testing.T, on *berthtest.Berth, loc string, chunk []byte, sent int) {
	t.Helper()
	u, err := url.Parse(absolute(on, loc))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", on.Addr)
	if err != nil {
		t.Fatal(err)
	}
	auth := base64.StdEncoding.EncodeToString([]byte("admin:" + on.AdminPassword))
	fmt.Fprintf(conn, "PATCH %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Basic %s\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n",
		u.RequestURI(), on.Addr, auth, len(chunk))
	if _, err := conn.Write(chunk[:sent]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // let the bytes arrive before the close
	conn.Close()
}

// uploadStatus asks how much the upload holds (GET, as clients do after a
// failure) and returns the location to continue at and the stored size.
func uploadStatus(t *testing.T, on *berthtest.Berth, loc string) (string, int) {
	t.Helper()
	var resp *http.Response
	for i := 0; ; i++ {
		var err error
		if resp, err = http.Get(absolute(on, loc)); err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
		if resp.StatusCode == http.StatusNoContent || i == 20 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("upload status: %d", resp.StatusCode)
	}
	_, end, ok := strings.Cut(resp.Header.Get("Range"), "-")
	n, err := strconv.Atoi(end)
	if !ok || err != nil {
		t.Fatalf("upload status Range %q", resp.Header.Get("Range"))
	}
	return resp.Header.Get("Location"), n + 1
}
