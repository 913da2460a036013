// Package berthtest runs real berth processes, real MinIO servers and the
// pinned client tools for end-to-end tests, and holds the plain-HTTP
// clients tests talk to berth with (http.go, and one file per API).
// Nothing here is a mock: tests talk to a berth binary over loopback
// exactly as users do; a berth assembled in the test's own process
// (app/apptest, which hands it over as a *Berth through Running) is
// driven the same way.
package berthtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Root returns the repository root (the directory holding go.mod).
func Root(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("berthtest: go.mod not found above the working directory")
		}
		dir = parent
	}
}

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// Binary returns a berth binary built from this tree once per test process,
// or $BERTH_BIN when set.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("BERTH_BIN"); p != "" {
		return p
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "berth-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "berth")
		cmd := exec.Command("go", "build", "-o", buildPath, "./cmd/berth")
		cmd.Dir = Root(t)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// Tool returns the path of a pinned tool installed by `make tools`
// (.tools/bin, or $TOOLS_DIR/bin), falling back to $PATH for Debian's.
func Tool(t testing.TB, name string) string {
	t.Helper()
	dirs := []string{filepath.Join(Root(t), ".tools", "bin")}
	if d := os.Getenv("TOOLS_DIR"); d != "" {
		dirs = append([]string{filepath.Join(d, "bin")}, dirs...)
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	t.Fatalf("berthtest: tool %q not installed: run `make tools`", name)
	return ""
}

// Berth is a running berth process.
type Berth struct {
	Addr    string // host:port it listens on
	DataDir string
	// AdminPassword is the admin user's password.
	AdminPassword string
	dbURL         string
	env           []string
	cmd           *exec.Cmd
	logs          *syncBuffer
	done          chan struct{}
	exitErr       error
	stop          func() error // a berth in this process (Running): how it stops
}

// Running is a berth another helper runs in this process (apptest): it
// listens on addr, writes its log lines to the returned Berth's LogWriter,
// and stops with stop (once, when Stop is called or the test ends). Such
// a berth is no process: Signal, Pid, Wait and the fault helpers refuse it.
func Running(t testing.TB, addr, dataDir, adminPassword string, stop func() error) *Berth {
	t.Helper()
	b := &Berth{Addr: addr, DataDir: dataDir, AdminPassword: adminPassword, logs: &syncBuffer{}, done: make(chan struct{}),
		dbURL: filepath.Join(dataDir, "berth.db")}
	var once sync.Once
	b.stop = func() error {
		once.Do(func() { b.exitErr = stop(); close(b.done) })
		return b.exitErr
	}
	t.Cleanup(func() {
		_ = b.Stop()
		forget(t, addr)
		if t.Failed() {
			t.Logf("berth logs:\n%s", tail(b.Logs(), 60))
		}
	})
	remember(t, addr, "admin", adminPassword)
	return b
}

// LogWriter is where a berth in this process (Running) writes its log.
func (b *Berth) LogWriter() io.Writer { return b.logs }

// process is the berth's process: a berth in this process has none.
func (b *Berth) process() *os.Process {
	if b.cmd == nil {
		panic("berthtest: a berth in this process (apptest) has no process to signal")
	}
	return b.cmd.Process
}

// DatabaseURL is the metadata database the process uses.
func (b *Berth) DatabaseURL() string { return b.dbURL }

// Env returns the settings this process was started with, for running other
// berth commands (check, reindex) on the same data.
func (b *Berth) Env() []string { return b.env }

// URL returns http://addr + path.
func (b *Berth) URL(path string) string { return "http://" + b.Addr + path }

// Logs returns everything the process has logged so far.
func (b *Berth) Logs() string { return b.logs.String() }

// Options configure a berth process.
type Options struct {
	DataDir string   // default: a fresh t.TempDir()
	Env     []string // extra environment, KEY=VALUE
	Args    []string // extra arguments to `berth serve`
	// StrictProjects keeps berth's default of refusing pushes into projects
	// that do not exist; otherwise tests run with autoCreateProjects.
	StrictProjects bool
	// NoAdminPassword starts berth without BERTH_ADMIN_PASSWORD, so it
	// generates the admin password into DataDir/admin.password; AdminPassword
	// is then read from that file.
	NoAdminPassword bool
}

// Start runs `berth serve` on a free loopback port and waits until /readyz
// answers 200. The process is stopped (SIGTERM) when the test ends.
func Start(t testing.TB, opts Options) *Berth {
	t.Helper()
	b, err := StartErr(t, opts)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// StartErr is Start that returns start-up failures instead of failing.
func StartErr(t testing.TB, opts Options) (*Berth, error) {
	t.Helper()
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", opts.DataDir}, opts.Args...)
	cmd := exec.Command(Binary(t), args...)
	cmd.Env = append(cleanEnv(), "BERTH_LOG_FORMAT=json", "BERTH_DATABASE_PULL_FLUSH_INTERVAL=200ms")
	if !opts.NoAdminPassword {
		cmd.Env = append(cmd.Env, "BERTH_ADMIN_PASSWORD="+AdminPassword)
	}
	if !opts.StrictProjects {
		cmd.Env = append(cmd.Env, "BERTH_AUTO_CREATE_PROJECTS=true")
	}
	cmd.Env = append(cmd.Env, opts.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	b := &Berth{DataDir: opts.DataDir, cmd: cmd, logs: &syncBuffer{}, done: make(chan struct{}), env: opts.Env}
	b.dbURL = filepath.Join(opts.DataDir, "berth.db")
	for _, kv := range opts.Env {
		if v, ok := strings.CutPrefix(kv, "BERTH_DATABASE_URL="); ok {
			b.dbURL = v
		}
	}
	pr, pw := io.Pipe()
	cmd.Stdout = b.logs
	cmd.Stderr = io.MultiWriter(b.logs, pw)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		b.exitErr = cmd.Wait()
		pw.Close()
		close(b.done)
	}()
	t.Cleanup(func() {
		b.Stop()
		if b.Addr != "" {
			forget(t, b.Addr)
		}
		if t.Failed() {
			t.Logf("berth logs:\n%s", tail(b.Logs(), 60))
		}
	})

	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var rec struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "berth listening" {
				addrc <- rec.Addr
				break
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	select {
	case b.Addr = <-addrc:
	case <-b.done:
		return nil, fmt.Errorf("berth exited before listening: %v\n%s", b.exitErr, b.Logs())
	case <-time.After(60 * time.Second):
		b.Stop()
		return nil, fmt.Errorf("berth did not start within 60s\n%s", b.Logs())
	}
	if err := WaitReady(b.URL("/readyz"), 30*time.Second); err != nil {
		return nil, fmt.Errorf("%v\n%s", err, b.Logs())
	}
	b.AdminPassword = AdminPassword
	if opts.NoAdminPassword {
		b.AdminPassword = ""
		if data, err := os.ReadFile(filepath.Join(opts.DataDir, "admin.password")); err == nil {
			b.AdminPassword = strings.TrimSpace(string(data))
		}
	}
	for _, kv := range opts.Env {
		if v, ok := strings.CutPrefix(kv, "BERTH_ADMIN_PASSWORD="); ok {
			b.AdminPassword = v
		}
	}
	remember(t, b.Addr, "admin", b.AdminPassword)
	return b, nil
}

// Stop sends SIGTERM and waits for the process to exit (SIGKILL after 30s).
// It returns the process's exit error.
func (b *Berth) Stop() error {
	if b.stop != nil {
		return b.stop()
	}
	select {
	case <-b.done:
		return b.exitErr
	default:
	}
	_ = b.process().Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(30 * time.Second):
		_ = b.process().Kill()
		<-b.done
	}
	return b.exitErr
}

// Signal sends sig to the process.
func (b *Berth) Signal(sig os.Signal) error { return b.process().Signal(sig) }

// Wait waits up to d for the process to exit and returns its exit error.
func (b *Berth) Wait(d time.Duration) (exited bool, err error) {
	select {
	case <-b.done:
		return true, b.exitErr
	case <-time.After(d):
		return false, nil
	}
}

// Pid is the process id, for reading /proc.
func (b *Berth) Pid() int { return b.process().Pid }

// WaitReady polls url until it answers 200.
func WaitReady(url string, within time.Duration) error {
	return waitReady(url, within, nil)
}

// errExited: the process whose readiness was awaited exited first.
var errExited = errors.New("exited before it was ready")

// errNotReady: no ready answer on the port within the time given.
var errNotReady = errors.New("not ready")

// waitReady is WaitReady that also gives up, with errExited, once exited
// (the awaited process's end; nil: none) closes: whatever answers on its
// port then is another server.
func waitReady(url string, within time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(within)
	last := "no answer"
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("%w (last answer on its port: %s)", errExited, last)
		default:
		}
		// Without credentials: a berth that listened on this port before
		// left its admin's in the default transport, and MinIO answers a
		// health check carrying Basic credentials with 400.
		resp, err := AnonymousClient.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s %w within %s: %s", url, errNotReady, within, last)
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}
