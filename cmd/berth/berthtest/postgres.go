package berthtest

import (
	"bytes"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Postgres is a real PostgreSQL server started for tests: a fresh cluster in
// a temporary directory, listening on a free loopback port. It is a
// throwaway database, so durability is switched off (fsync, full page
// writes, synchronous commit) unless PGDurableEnv says otherwise.
//
// The server runs the `postgres` binary directly as a foreground child
// process (not through pg_ctl, which daemonizes), so it dies with the test
// binary. When the tests run as root it runs as the `postgres` OS user,
// because PostgreSQL refuses to run as root.
type Postgres struct {
	// URL connects to the database created for the test as its owner with
	// password authentication over TCP:
	// postgres://berth:berth@127.0.0.1:PORT/berth?sslmode=disable
	URL  string
	Addr string // 127.0.0.1:PORT

	port    int
	dir     string // cluster root: data/ and the unix socket live here
	bin     string // directory holding postgres, initdb, pg_isready, psql
	cred    *syscall.Credential
	cmd     *exec.Cmd
	done    chan struct{}
	exitErr error
	logs    *syncBuffer
}

const (
	pgUser     = "berth" // login role that owns the test databases
	pgPassword = "berth"
	pgSuper    = "postgres" // bootstrap superuser, reachable only over the socket
	pgDirGlob  = "berth-postgres-"
)

// StartPostgres initializes and starts a PostgreSQL server of its own for
// this test, with a role and database ready at p.URL. It is shut down (fast
// mode) and its directory removed when the test ends.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	p, err := startPostgres(t)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("postgres logs:\n%s", tail(p.Logs(), 30))
		}
		_ = os.RemoveAll(p.dir)
	})
	return p
}

var (
	sharedPGMu sync.Mutex
	sharedPG   *Postgres
	pgDBSeq    int
	pgDBSeqMu  sync.Mutex
)

// SharedPostgres returns a PostgreSQL server shared by every test of the
// package, started on first use. The server exits with the test binary.
// Tests should not use its URL directly but call NewDatabase for a database
// of their own.
func SharedPostgres(t testing.TB) *Postgres {
	t.Helper()
	sharedPGMu.Lock()
	defer sharedPGMu.Unlock()
	if sharedPG == nil || exited(sharedPG.done) {
		if sharedPG != nil {
			_ = os.RemoveAll(sharedPG.dir)
		}
		p, err := startPostgres(t)
		if err != nil {
			t.Fatal(err)
		}
		sharedPG = p
	}
	return sharedPG
}

// NewDatabase creates a fresh, uniquely named database owned by the test
// role and returns its URL (same credentials as p.URL). The database is
// dropped when the test ends.
func (p *Postgres) NewDatabase(t testing.TB) string {
	t.Helper()
	pgDBSeqMu.Lock()
	pgDBSeq++
	n := pgDBSeq
	pgDBSeqMu.Unlock()
	name := fmt.Sprintf("t%d_%s", n, sanitizeDBName(t.Name()))
	if len(name) > 63 { // NAMEDATALEN-1
		name = name[:63]
	}
	if out, err := p.superSQL(`CREATE DATABASE "` + name + `" OWNER ` + pgUser); err != nil {
		t.Fatalf("postgres: create database %s: %v\n%s\nserver logs:\n%s", name, err, out, tail(p.Logs(), 30))
	}
	t.Cleanup(func() {
		if !exited(p.done) {
			_, _ = p.superSQL(`DROP DATABASE IF EXISTS "` + name + `" WITH (FORCE)`)
		}
	})
	return p.urlFor(name)
}

// Logs returns everything the server has logged so far.
func (p *Postgres) Logs() string { return p.logs.String() }

// Stop shuts the server down in fast mode (what `pg_ctl stop -m fast`
// does: SIGINT to the postmaster) and waits for it, escalating to an
// immediate shutdown and then SIGKILL if it hangs.
func (p *Postgres) Stop() {
	for _, step := range []struct {
		sig  syscall.Signal
		wait time.Duration
	}{{syscall.SIGINT, 30 * time.Second}, {syscall.SIGQUIT, 10 * time.Second}, {syscall.SIGKILL, time.Minute}} {
		select {
		case <-p.done:
			return
		default:
		}
		_ = p.cmd.Process.Signal(step.sig)
		select {
		case <-p.done:
			return
		case <-time.After(step.wait):
		}
	}
}

func (p *Postgres) urlFor(db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(pgUser, pgPassword),
		Host:     p.Addr,
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// startPostgres creates, starts and provisions a cluster. On error nothing
// is left running or on disk.
func startPostgres(t testing.TB) (*Postgres, error) {
	t.Helper()
	bin := pgBinDir(t)
	cred, err := pgCredential()
	if err != nil {
		t.Fatal(err)
	}
	parent := pgParentDir(cred)
	sweepOnce.Do(func() { sweepStalePostgres(parent) })
	dir, err := os.MkdirTemp(parent, pgDirGlob)
	if err != nil {
		return nil, err
	}
	p := &Postgres{dir: dir, bin: bin, cred: cred, logs: &syncBuffer{}}
	fail := func(err error) (*Postgres, error) {
		if p.cmd != nil {
			p.Stop()
		}
		_ = os.RemoveAll(dir)
		return nil, err
	}
	// PostgreSQL insists its data directory is owned by the user it runs as
	// and not accessible to others (0700 or 0750).
	if err := os.Chmod(dir, 0o700); err != nil {
		return fail(err)
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return fail(err)
		}
	}
	if err := p.initdb(); err != nil {
		return fail(err)
	}
	// FreePort can race with other processes; retry on a new port when the
	// server could not bind.
	for attempt := 0; ; attempt++ {
		err := p.launch(FreePort(t))
		if err == nil {
			break
		}
		if attempt < 2 && strings.Contains(p.Logs(), "Address already in use") {
			continue
		}
		return fail(err)
	}
	if out, err := p.superSQL(
		`CREATE ROLE `+pgUser+` LOGIN CREATEDB PASSWORD '`+pgPassword+`'`,
		`CREATE DATABASE `+pgUser+` OWNER `+pgUser,
	); err != nil {
		return fail(fmt.Errorf("postgres: create role and database: %v\n%s\nserver logs:\n%s", err, out, tail(p.Logs(), 30)))
	}
	p.URL = p.urlFor(pgUser)
	// The URL is what tests use: check password authentication over TCP.
	if out, err := p.psql([]string{"-d", p.URL}, "SELECT 1"); err != nil || strings.TrimSpace(out) != "1" {
		return fail(fmt.Errorf("postgres: connecting to %s: %v\n%s\nserver logs:\n%s", p.URL, err, out, tail(p.Logs(), 30)))
	}
	return p, nil
}

func (p *Postgres) initdb() error {
	args := []string{
		"-D", filepath.Join(p.dir, "data"),
		"-U", pgSuper,
		"--auth-local=trust", // the socket directory is private to the server user (and root)
		"--auth-host=scram-sha-256",
		"-E", "UTF8", "--no-locale",
		"--no-sync",         // throwaway cluster
		"--no-instructions", // PostgreSQL >= 13
	}
	if !pgDurable() {
		args = append(args, "--wal-segsize=1") // 1 MiB WAL segments instead of 16: a smaller directory
	}
	cmd := p.serverCommand(filepath.Join(p.bin, "initdb"), args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("postgres: initdb: %v\n%s", err, out.String())
	}
	return nil
}

// launch starts the server on port and waits until it accepts connections.
func (p *Postgres) launch(port int) error {
	p.port = port
	p.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	p.done = make(chan struct{})
	p.cmd = p.serverCommand(filepath.Join(p.bin, "postgres"),
		"-D", filepath.Join(p.dir, "data"),
		"-p", strconv.Itoa(port),
		"-k", p.dir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_permissions=0700",
		"-c", "max_connections=200",
	)
	p.cmd.Args = append(p.cmd.Args, pgDurabilityFlags()...)
	p.cmd.Args = append(p.cmd.Args, pgStatsFlags()...)
	// SIGQUIT is PostgreSQL's immediate shutdown: unlike SIGKILL it still
	// makes the postmaster take its backends down and release its shared
	// memory and lock files. (Go sets it after switching credentials, which
	// would otherwise reset it, so it holds for the postgres-user child.)
	p.cmd.SysProcAttr.Pdeathsig = syscall.SIGQUIT
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		return fmt.Errorf("postgres: %v", err)
	}
	cmd, done := p.cmd, p.done
	go func() { p.exitErr = cmd.Wait(); close(done) }()

	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-done:
			return fmt.Errorf("postgres exited before accepting connections: %v\n%s", p.exitErr, p.Logs())
		default:
		}
		// pg_isready exits 0 only once the server accepts connections (not
		// while it is starting up).
		ready := exec.Command(filepath.Join(p.bin, "pg_isready"), "-q", "-t", "2",
			"-h", "127.0.0.1", "-p", strconv.Itoa(port), "-d", "postgres", "-U", pgSuper)
		ready.Env = pgEnv(homeFor(p))
		if ready.Run() == nil {
			return nil
		}
		if time.Now().After(deadline) {
			p.Stop()
			return fmt.Errorf("postgres did not accept connections within 60s\n%s", p.Logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// serverCommand runs a server-side tool (initdb, postgres) as the user
// PostgreSQL runs as.
func (p *Postgres) serverCommand(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = p.dir // the cwd must be accessible to the postgres user
	cmd.Env = pgEnv(p.dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	return cmd
}

// superSQL runs statements as the bootstrap superuser over the unix socket.
func (p *Postgres) superSQL(stmts ...string) (string, error) {
	return p.superSQLIn("postgres", stmts...)
}

// psql runs the psql next to the server (else the one on $PATH) with the
// connection flags conn and one -c per statement, printing bare values.
func (p *Postgres) psql(conn []string, stmts ...string) (string, error) {
	args := append([]string{"-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"}, conn...)
	for _, s := range stmts {
		args = append(args, "-c", s)
	}
	name := filepath.Join(p.bin, "psql")
	if _, err := os.Stat(name); err != nil {
		name = "psql"
	}
	cmd := exec.Command(name, args...)
	cmd.Env = pgEnv(homeFor(p))
	out, err := cmd.CombinedOutput()
	return string(out), err
}
