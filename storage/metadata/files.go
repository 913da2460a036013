package metadata

import (
	"errors"
	"io/fs"
	"os"
	"strings"
)

// The SQLite database holds secrets (the token signing key when it is not
// configured, password hashes): only berth's user may read it. SQLite gives
// its -wal and -shm files the database file's mode.

// sqlitePath is the file of a SQLite dsn ("" for PostgreSQL).
func sqlitePath(dsn string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return ""
	}
	return strings.TrimPrefix(dsn, "sqlite://")
}

// createPrivate creates the database file 0600 when it does not exist yet.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return f.Close()
}

// SecureFiles makes the SQLite database of dsn and its -wal and -shm files
// readable by their owner only, and returns those it had to tighten (they
// were readable by others). PostgreSQL has no files here.
func SecureFiles(dsn string) ([]string, error) {
	path := sqlitePath(dsn)
	if path == "" {
		return nil, nil
	}
	var tightened []string
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return tightened, err
		}
		if fi.Mode().Perm()&0o077 == 0 {
			continue
		}
		if err := os.Chmod(p, 0o600); err != nil {
			return tightened, err
		}
		tightened = append(tightened, p)
	}
	return tightened, nil
}
