package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// proc is a child process (berth, the stock registry, MinIO) whose output
// goes to a log file in the work directory.
type proc struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{}
	err     error
}

// startProc runs bin with args and env (added to a copy of ours without
// BERTH_* settings), logging to dir/name.log.
func startProc(dir, name string, env []string, bin string, args ...string) (*proc, error) {
	logPath := filepath.Join(dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(cleanEnv(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// pid is the process id, for /proc.
func (p *proc) pid() int { return p.cmd.Process.Pid }

// stop sends SIGTERM and waits up to 30 s before killing the process.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// waitReady polls url until it answers one of the ok statuses, the process
// exits or the deadline passes.
func (p *proc) waitReady(ctx context.Context, url string, within time.Duration, ok ...int) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	last := "no answer"
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			for _, code := range ok {
				if resp.StatusCode == code {
					return nil
				}
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited (%v) before %s answered; see %s", p.name, p.err, url, p.logPath)
		case <-ctx.Done():
			return fmt.Errorf("%s: %s not ready within %s: %s; see %s", p.name, url, within, last, p.logPath)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// cleanEnv is our environment without BERTH_* settings.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if len(kv) < 6 || kv[:6] != "BERTH_" {
			env = append(env, kv)
		}
	}
	return env
}

// minio is the S3 server both registries share in -s3 mode (one bucket,
// different key prefixes).
type minio struct {
	*proc
	endpoint, access, secret, bucket string
}

func startMinIO(ctx context.Context, bin, dir string) (*minio, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	console, err := freeAddr()
	if err != nil {
		return nil, err
	}
	m := &minio{endpoint: addr, access: "berthbench", secret: "berthbench-secret-key", bucket: "bench"}
	m.proc, err = startProc(dir, "minio", []string{
		"MINIO_ROOT_USER=" + m.access, "MINIO_ROOT_PASSWORD=" + m.secret,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off", "HOME=" + dir,
	}, bin, "server", "--quiet", "--address", addr, "--console-address", console, filepath.Join(dir, "minio-data"))
	if err != nil {
		return nil, err
	}
	if err := m.waitReady(ctx, "http://"+addr+"/minio/health/ready", time.Minute, http.StatusOK); err != nil {
		m.stop()
		return nil, err
	}
	return m, nil
}

// server is a registry under benchmark.
type server struct {
	name string // "berth" or "stock"
	base string // http://host:port
	proc *proc
	// seedAuth is the Authorization header for writes outside the timer
	// (berth: the admin's Basic credentials; stock: none).
	seedAuth string
	// adminUser and adminPassword are berth's; empty for stock.
	adminUser, adminPassword string
}

const benchAdminPassword = "berthbench-Admin-pw1"

// startBerth runs `berth serve` on a free port with its data in dir/berth
// (filesystem storage there too, or the MinIO bucket under /berth).
func startBerth(ctx context.Context, bin, dir string, m *minio, extra []string) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "berth")
	env := []string{
		"BERTH_ADMIN_PASSWORD=" + benchAdminPassword,
		"BERTH_LOG_LEVEL=warn", // the access log is at info; the stock registry's is off too
		"BERTH_AUTH_TOKEN_TTL=3h",
		"BERTH_STORAGE_UPLOAD_PURGING_ENABLED=false",
		"OTEL_TRACES_EXPORTER=none",
	}
	if m != nil {
		env = append(env,
			"BERTH_STORAGE_DRIVER=s3",
			"BERTH_STORAGE_S3_ENDPOINT=http://"+m.endpoint,
			"BERTH_STORAGE_S3_BUCKET="+m.bucket,
			"BERTH_STORAGE_S3_ACCESS_KEY="+m.access,
			"BERTH_STORAGE_S3_SECRET_KEY="+m.secret,
			"BERTH_STORAGE_S3_CREATE_BUCKET=true",
			"BERTH_STORAGE_S3_ROOT_DIRECTORY=/berth",
			"BERTH_STORAGE_S3_CHUNK_SIZE=5242880",
		)
	}
	env = append(env, extra...)
	p, err := startProc(dir, "berth", env, bin, "serve", "--addr", addr, "--data-dir", data)
	if err != nil {
		return nil, err
	}
	base := "http://" + addr
	if err := p.waitReady(ctx, base+"/readyz", 2*time.Minute, http.StatusOK); err != nil {
		p.stop()
		return nil, err
	}
	return &server{name: "berth", base: base, proc: p, seedAuth: basicAuth("admin", benchAdminPassword),
		adminUser: "admin", adminPassword: benchAdminPassword}, nil
}

// stockConfig is the stock registry's configuration: the same storage as
// berth gets (filesystem, or the MinIO bucket under /stock with the same
// part size), deletes on, the in-memory blob-descriptor cache, redirects off,
// upload purging off, warnings only and no access log.
func stockConfig(addr, dir string, m *minio, auth string) string {
	storage := fmt.Sprintf("  filesystem: {rootdirectory: %s}\n", filepath.Join(dir, "stock-data"))
	if m != nil {
		storage = fmt.Sprintf("  s3: {accesskey: %s, secretkey: %s, region: us-east-1, regionendpoint: %q, bucket: %s,"+
			" rootdirectory: /stock, forcepathstyle: true, secure: false, chunksize: 5242880}\n",
			m.access, m.secret, "http://"+m.endpoint, m.bucket)
	}
	return "version: 0.1\n" +
		"log: {level: warn, accesslog: {disabled: true}}\n" +
		"storage:\n" + storage +
		"  delete: {enabled: true}\n" +
		"  redirect: {disable: true}\n" +
		"  cache: {blobdescriptor: inmemory}\n" +
		"  maintenance: {uploadpurging: {enabled: false}}\n" +
		fmt.Sprintf("http: {addr: %s, secret: berthbench-stock-secret}\n", addr) + auth
}

// startStock runs the stock registry (name "stock", or "stock-token" for the
// instance with token auth on the same storage).
func startStock(ctx context.Context, bin, dir, name string, m *minio, auth string) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, name+".yml")
	if err := os.WriteFile(cfg, []byte(stockConfig(addr, dir, m, auth)), 0o644); err != nil {
		return nil, err
	}
	p, err := startProc(dir, name, []string{"OTEL_TRACES_EXPORTER=none"}, bin, "serve", cfg)
	if err != nil {
		return nil, err
	}
	base := "http://" + addr
	if err := p.waitReady(ctx, base+"/v2/", time.Minute, http.StatusOK, http.StatusUnauthorized); err != nil {
		p.stop()
		return nil, err
	}
	return &server{name: "stock", base: base, proc: p}, nil
}

// env is everything the workloads run against.
type env struct {
	dir   string
	minio *minio
	berth *server
	stock *server
}

// servers returns berth and stock, in the order a round measures them.
func (e *env) servers() []*server { return []*server{e.berth, e.stock} }

// inRound is the order the servers run in during a measured round: berth
// first in odd rounds (1, 3, ...), the stock registry first in even ones, so
// neither always runs in the wake of the other (page-cache writeback,
// warmed caches).
func (e *env) inRound(round int) []*server {
	if round%2 == 1 {
		return []*server{e.stock, e.berth}
	}
	return e.servers()
}

// startEnv starts MinIO (in -s3 mode), then berth (which creates the bucket),
// then the stock registry.
func startEnv(ctx context.Context, log *slog.Logger, o *options) (*env, error) {
	e := &env{dir: o.workDir}
	var err error
	if o.s3 {
		if e.minio, err = startMinIO(ctx, o.minioBin, o.workDir); err != nil {
			return nil, err
		}
		log.Info("minio started", "endpoint", e.minio.endpoint)
	}
	if e.berth, err = startBerth(ctx, o.berthBin, o.workDir, e.minio, o.berthEnv); err != nil {
		e.close()
		return nil, err
	}
	log.Info("berth started", "url", e.berth.base, "pid", e.berth.proc.pid())
	if e.stock, err = startStock(ctx, o.registryBin, o.workDir, "stock", e.minio, ""); err != nil {
		e.close()
		return nil, err
	}
	log.Info("stock registry started", "url", e.stock.base, "pid", e.stock.proc.pid())
	return e, nil
}

func (e *env) close() {
	for _, s := range []*server{e.berth, e.stock} {
		if s != nil {
			s.proc.stop()
		}
	}
	if e.minio != nil {
		e.minio.stop()
	}
}

// checkAlive reports a server that died during a workload.
func (e *env) checkAlive() error {
	var errs []error
	for _, s := range e.servers() {
		select {
		case <-s.proc.done:
			errs = append(errs, fmt.Errorf("%s exited: %v; see %s", s.name, s.proc.err, s.proc.logPath))
		default:
		}
	}
	return errors.Join(errs...)
}
