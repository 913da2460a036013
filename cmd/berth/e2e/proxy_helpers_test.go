package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// upstreamRegistry is the stock distribution registry (the pinned binary)
// with htpasswd Basic authentication, on a free loopback port.
type upstreamRegistry struct {
	Addr     string
	User, PW string
}

func startUpstreamRegistry(t testing.TB) *upstreamRegistry {
	t.Helper()
	bin := berthtest.Tool(t, "registry")
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", berthtest.FreePort(t))
	u := &upstreamRegistry{Addr: addr, User: "upuser", PW: "up-Secret-pw1"}
	hash, err := bcrypt.GenerateFromPassword([]byte(u.PW), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	htpasswd := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(htpasswd, []byte(u.User+":"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`version: 0.1
storage:
  filesystem: {rootdirectory: %s}
  delete: {enabled: true}
http: {addr: %s}
auth:
  htpasswd: {realm: upstream, path: %s}
log: {level: error, accesslog: {disabled: true}}
`, filepath.Join(dir, "data"), addr, htpasswd)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", cfgPath)
	cmd.Env = append(os.Environ(), "OTEL_TRACES_EXPORTER=none")
	startDaemon(t, "upstream registry", cmd)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("upstream registry did not start: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	berthtest.RememberCredentials(t, addr, u.User, u.PW)
	return u
}

// front stands between berth and an upstream as the test's window on it:
// it counts the requests that reach the upstream, can slow blob bodies
// down (so simultaneous pulls overlap), cut one blob's body short (the
// upstream dying mid-blob) and go down (the upstream unreachable).
type front struct {
	Addr string
	ln   net.Listener
	srv  *http.Server

	mu     sync.Mutex
	counts map[string]int // "GET /v2/.../blobs/sha256:..." → requests answered (challenges aside)
	slow   time.Duration  // pause per 64 KiB of a blob body
	cut    string         // digest whose next blob body is cut after half
	down   bool
}

func startFront(t testing.TB, target string) *front {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &front{Addr: ln.Addr().String(), ln: ln, counts: map[string]int{}}
	tu, _ := url.Parse("http://" + target)
	rp := httputil.NewSingleHostReverseProxy(tu)
	rp.Transport = &http.Transport{} // never the tests' credential-adding transport
	rp.ModifyResponse = func(resp *http.Response) error {
		f.mu.Lock()
		if resp.StatusCode != http.StatusUnauthorized { // a challenge serves nothing
			f.counts[resp.Request.Method+" "+resp.Request.URL.Path]++
		}
		slow, cut := f.slow, f.cut != "" && strings.HasSuffix(resp.Request.URL.Path, "/blobs/"+f.cut)
		if cut {
			f.cut = ""
		}
		f.mu.Unlock()
		if strings.Contains(resp.Request.URL.Path, "/blobs/") && resp.Request.Method == http.MethodGet && (slow > 0 || cut) {
			resp.Body = &shapedBody{rc: resp.Body, slow: slow, cutAt: cutAt(cut, resp.ContentLength)}
		}
		return nil
	}
	rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		panic(http.ErrAbortHandler) // a cut body: the connection drops
	}
	f.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		down := f.down
		f.mu.Unlock()
		if down {
			hj, ok := w.(http.Hijacker)
			if ok {
				if c, _, err := hj.Hijack(); err == nil {
					c.Close()
					return
				}
			}
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		rp.ServeHTTP(w, r)
	})}
	go func() { _ = f.srv.Serve(ln) }()
	t.Cleanup(func() { _ = f.srv.Close() })
	return f
}

func cutAt(cut bool, n int64) int64 {
	if !cut {
		return -1
	}
	return n / 2
}

// count is how many requests of method for a path ending in suffix the
// upstream answered (its 401 challenges aside: the request that follows
// with credentials is the one that counts).
func (f *front) count(method, suffix string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for k, c := range f.counts {
		if strings.HasPrefix(k, method+" ") && strings.HasSuffix(k, suffix) {
			n += c
		}
	}
	return n
}

func (f *front) set(fn func(f *front)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// shapedBody slows a body down and cuts it at cutAt bytes (-1: never).
type shapedBody struct {
	rc    io.ReadCloser
	slow  time.Duration
	cutAt int64
	n     int64
}

func (b *shapedBody) Read(p []byte) (int, error) {
	if len(p) > 64<<10 {
		p = p[:64<<10]
	}
	if b.cutAt >= 0 && b.n >= b.cutAt {
		return 0, fmt.Errorf("the upstream died mid-blob")
	}
	if b.cutAt >= 0 && int64(len(p)) > b.cutAt-b.n {
		p = p[:b.cutAt-b.n]
	}
	if b.slow > 0 {
		time.Sleep(b.slow)
	}
	k, err := b.rc.Read(p)
	b.n += int64(k)
	return k, err
}

func (b *shapedBody) Close() error { return b.rc.Close() }

// pushRandomImage pushes an image of one random layer of size bytes to ref
// (credentials from the clients' config) and returns its digest and the
// layer's digest.
func pushRandomImage(t *testing.T, ref string, size int) (manifestDigest, layerDigest string) {
	t.Helper()
	dir := t.TempDir()
	layer := filepath.Join(dir, "layer.tar")
	writeTar(t, layer, map[string][]byte{"data.bin": randomBytes(t, size)})
	d := craneAppend(t, ref, nil, layer)
	raw := berthtest.Output(t, berthtest.Tool(t, "crane"), "manifest", ref, "--insecure")
	m := parseManifest(t, []byte(raw))
	if len(m.Layers) != 1 {
		t.Fatalf("pushed manifest has %d layers", len(m.Layers))
	}
	return d, m.Layers[0].Digest
}

// bindProxy makes project a proxy of upstream through the management API.
func bindProxy(t testing.TB, b *berthtest.Berth, body map[string]any) map[string]any {
	t.Helper()
	status, out := berthtest.APICall(t, b, http.MethodPost, "/api/berth/v1/proxies", "admin", b.AdminPassword, body)
	if status != http.StatusCreated {
		t.Fatalf("POST /proxies = %d %s", status, out)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	return got
}

// startDaemon starts cmd (killed with the test process), stops it with
// SIGTERM (SIGKILL after 20 s) when the test ends, and shows its output
// when the test failed. done closes when it exits; logs reads its output.
func startDaemon(t testing.TB, name string, cmd *exec.Cmd) (done <-chan struct{}, logs func() string) {
	t.Helper()
	var out bytes.Buffer
	var mu sync.Mutex
	cmd.Stdout = lbLockedWriter{mu: &mu, w: &out}
	cmd.Stderr = lbLockedWriter{mu: &mu, w: &out}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	logs = func() string { mu.Lock(); defer mu.Unlock(); return out.String() }
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("%s logs:\n%s", name, logs())
		}
	})
	return exited, logs
}
