package berthtest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
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
// writes, synchronous commit).
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
	cmd := p.serverCommand(filepath.Join(p.bin, "initdb"),
		"-D", filepath.Join(p.dir, "data"),
		"-U", pgSuper,
		"--auth-local=trust", // the socket directory is private to the server user (and root)
		"--auth-host=scram-sha-256",
		"-E", "UTF8", "--no-locale",
		"--no-sync",         // throwaway cluster
		"--wal-segsize=1",   // 1 MiB WAL segments instead of 16: a smaller directory
		"--no-instructions", // PostgreSQL >= 13
	)
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
		"-c", "fsync=off",
		"-c", "full_page_writes=off",
		"-c", "synchronous_commit=off",
		"-c", "max_connections=200",
		"-c", "shared_buffers=32MB",
	)
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
	return p.psql([]string{"-h", p.dir, "-p", strconv.Itoa(p.port), "-U", pgSuper, "-d", "postgres"}, stmts...)
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

func homeFor(p *Postgres) string { return p.dir }

// pgEnv is the environment without BERTH_* or libpq PG* settings from the
// caller, so a developer's PGHOST or PGPASSWORD never leaks in.
func pgEnv(home string) []string {
	var env []string
	for _, kv := range cleanEnv() {
		if strings.HasPrefix(kv, "PG") || strings.HasPrefix(kv, "HOME=") ||
			strings.HasPrefix(kv, "LC_") || strings.HasPrefix(kv, "LANG=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "HOME="+home, "LC_ALL=C", "PGCONNECT_TIMEOUT=10")
}

// pgBinDir finds the PostgreSQL server binaries: the highest version under
// Debian's /usr/lib/postgresql/*/bin, else initdb on $PATH.
func pgBinDir(t testing.TB) string {
	t.Helper()
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		return versionLess(filepath.Base(filepath.Dir(dirs[i])), filepath.Base(filepath.Dir(dirs[j])))
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		if hasPGServer(dirs[i]) {
			return dirs[i]
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil && hasPGServer(filepath.Dir(p)) {
		return filepath.Dir(p)
	}
	t.Fatal("berthtest: PostgreSQL server not installed (no /usr/lib/postgresql/*/bin/postgres or initdb on $PATH): run `make tools`")
	return ""
}

func hasPGServer(dir string) bool {
	for _, name := range []string{"postgres", "initdb", "pg_isready"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

// versionLess compares dotted numeric versions ("9.6" < "15").
func versionLess(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) || i < len(bs); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			return x < y
		}
	}
	return a < b
}

// pgCredential is nil when not root; as root it is the `postgres` OS user,
// because PostgreSQL refuses to run as root.
func pgCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("berthtest: running as root, and PostgreSQL refuses to: no `postgres` OS user to run it as (%v): run `make tools`", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("berthtest: postgres user: %v", err)
	}
	// Groups empty: drop root's supplementary groups.
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

// pgParentDir is where clusters are created: the temp directory, or /tmp
// when running as root and the postgres user could not reach the former
// (a private $TMPDIR).
func pgParentDir(cred *syscall.Credential) string {
	dir := os.TempDir()
	if cred == nil {
		return dir
	}
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return "/tmp"
		}
		if d == filepath.Dir(d) {
			return dir
		}
	}
}

var sweepOnce sync.Once

// sweepStalePostgres removes clusters left behind by test binaries that
// died (the shared server's directory cannot be removed at exit): those
// older than ten minutes whose postmaster is gone.
func sweepStalePostgres(parent string) {
	dirs, _ := filepath.Glob(filepath.Join(parent, pgDirGlob+"*"))
	for _, d := range dirs {
		fi, err := os.Stat(d)
		if err != nil || !fi.IsDir() || time.Since(fi.ModTime()) < 10*time.Minute {
			continue
		}
		if b, err := os.ReadFile(filepath.Join(d, "data", "postmaster.pid")); err == nil {
			line, _, _ := strings.Cut(string(b), "\n")
			if pid, _ := strconv.Atoi(strings.TrimSpace(line)); pid > 0 {
				if err := syscall.Kill(pid, 0); err == nil || errors.Is(err, syscall.EPERM) {
					continue // still running
				}
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			continue // not ours to judge (another user's)
		}
		_ = os.RemoveAll(d)
	}
}

var dbNameUnsafe = regexp.MustCompile(`[^a-z0-9_]+`)

func sanitizeDBName(s string) string {
	s = dbNameUnsafe.ReplaceAllString(strings.ToLower(s), "_")
	if len(s) > 40 {
		s = s[:40]
	}
	return strings.Trim(s, "_")
}

// Database names a metadata database a test runs against.
type Database struct {
	Name string
	// Env returns the settings for a fresh, isolated database.
	Env func(t testing.TB) []string
}

// Databases returns SQLite (the embedded default) and PostgreSQL, so index
// tests run on both.
func Databases() []Database {
	return []Database{
		{Name: "sqlite", Env: func(testing.TB) []string { return nil }},
		{Name: "postgres", Env: func(t testing.TB) []string {
			return []string{"BERTH_DATABASE_URL=" + SharedPostgres(t).NewDatabase(t)}
		}},
	}
}
