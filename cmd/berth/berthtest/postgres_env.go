package berthtest

// Where PostgreSQL lives on this machine and which OS user runs it.

import (
	"errors"
	"fmt"
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
