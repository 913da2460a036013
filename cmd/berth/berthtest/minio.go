package berthtest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// MinIO is a real MinIO server started for a test.
type MinIO struct {
	Endpoint  string // host:port
	AccessKey string
	SecretKey string
	dir       string
	console   int
	cmd       *exec.Cmd
	done      chan struct{}
	logs      *syncBuffer
}

// StartMinIO runs the pinned MinIO server on a free loopback port with a
// fresh data directory and waits for it to be ready. It is stopped when the
// test ends.
func StartMinIO(t testing.TB) *MinIO {
	t.Helper()
	m := launchMinIO(t, t.TempDir())
	t.Cleanup(func() {
		m.Stop()
		if t.Failed() {
			t.Logf("minio logs:\n%s", tail(m.logs.String(), 30))
		}
	})
	return m
}

func startDetachedMinIO(t testing.TB) *MinIO {
	dir, err := os.MkdirTemp("", "berth-minio-")
	if err != nil {
		t.Fatal(err)
	}
	return launchMinIO(t, dir)
}

// launchMinIO starts a server on fresh ports. A port free a moment ago may
// be taken by another test's server before MinIO binds it: MinIO then
// exits (errExited). One that answers anything but ready for 30 s is
// retried on new ports too (errNotReady; seen once: 400 for a minute, the
// health check then carried a stale berth's credentials, see waitReady).
func launchMinIO(t testing.TB, dir string) *MinIO {
	t.Helper()
	for attempt := 1; ; attempt++ {
		m := &MinIO{
			Endpoint:  "127.0.0.1:" + strconv.Itoa(FreePort(t)),
			AccessKey: "berthtest",
			SecretKey: "berthtest-secret-key",
			dir:       dir,
			console:   FreePort(t),
			logs:      &syncBuffer{},
		}
		err := m.launch(t, 30*time.Second)
		if err == nil {
			return m
		}
		if !(errors.Is(err, errExited) || errors.Is(err, errNotReady)) || attempt == 3 {
			t.Fatalf("minio: %v\n%s", err, m.logs.String())
		}
		t.Logf("minio on %s: %v; relaunching on new ports\n%s", m.Endpoint, err, tail(m.logs.String(), 10))
	}
}

// Restart starts a stopped server again on the same address and data.
func (m *MinIO) Restart(t testing.TB) {
	t.Helper()
	m.Stop()
	if err := m.launch(t, 60*time.Second); err != nil {
		t.Fatalf("minio: %v\n%s", err, m.logs.String())
	}
}

func (m *MinIO) launch(t testing.TB, within time.Duration) error {
	t.Helper()
	dir := m.dir
	m.done = make(chan struct{})
	m.cmd = exec.Command(Tool(t, "minio"), "server", "--quiet",
		"--address", m.Endpoint, "--console-address", "127.0.0.1:"+strconv.Itoa(m.console), filepath.Join(dir, "data"))
	m.cmd.Env = append(cleanEnv(),
		"MINIO_ROOT_USER="+m.AccessKey,
		"MINIO_ROOT_PASSWORD="+m.SecretKey,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
		"HOME="+dir,
	)
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	m.cmd.Stdout, m.cmd.Stderr = m.logs, m.logs
	if err := m.cmd.Start(); err != nil {
		return err
	}
	go func() { _ = m.cmd.Wait(); close(m.done) }()
	if err := waitReady("http://"+m.Endpoint+"/minio/health/ready", within, m.done); err != nil {
		m.Stop()
		return err
	}
	return nil
}

// Stop terminates the server and waits for it.
func (m *MinIO) Stop() {
	select {
	case <-m.done:
		return
	default:
	}
	_ = m.cmd.Process.Signal(syscall.SIGCONT) // a paused server cannot act on SIGTERM
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.done:
	case <-time.After(20 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.done
	}
}

// Env returns the BERTH_* settings that point berth at this server.
func (m *MinIO) Env(bucket string) []string {
	return []string{
		"BERTH_STORAGE_DRIVER=s3",
		"BERTH_STORAGE_S3_ENDPOINT=http://" + m.Endpoint,
		"BERTH_STORAGE_S3_BUCKET=" + bucket,
		"BERTH_STORAGE_S3_ACCESS_KEY=" + m.AccessKey,
		"BERTH_STORAGE_S3_SECRET_KEY=" + m.SecretKey,
		"BERTH_STORAGE_S3_CREATE_BUCKET=true",
	}
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Backend names a storage backend a test runs against.
type Backend struct {
	Name string
	// Env returns the settings for a fresh, isolated store on this backend.
	Env func(t testing.TB) []string
}

// Backends returns filesystem and MinIO, so end-to-end tests run on both.
// One MinIO server is shared by the tests of a package; each caller gets a
// bucket of its own.
func Backends() []Backend {
	return []Backend{
		{Name: "filesystem", Env: func(testing.TB) []string { return nil }},
		{Name: "minio", Env: func(t testing.TB) []string {
			return SharedMinIO(t).Env(uniqueBucket())
		}},
	}
}

var (
	sharedMu      sync.Mutex
	sharedMinIO   *MinIO
	bucketCounter int
)

// SharedMinIO returns a MinIO server shared by every test of the package
// (started on first use; the process exits with the test binary).
func SharedMinIO(t testing.TB) *MinIO {
	t.Helper()
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if sharedMinIO == nil || exited(sharedMinIO.done) {
		sharedMinIO = startDetachedMinIO(t)
	}
	return sharedMinIO
}

func exited(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func uniqueBucket() string {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	bucketCounter++
	return fmt.Sprintf("berth-%d-%d", time.Now().UnixNano()%1e9, bucketCounter)
}
