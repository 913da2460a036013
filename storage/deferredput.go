package storage

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"

	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/opencontainers/go-digest"
)

// putDeferred is the filesystem driver's PutContent for a request whose
// syncs are deferred (deferred.go): a temporary file beside the target,
// renamed over it. A link is not synced here at all; any other file is
// synced before its rename (so a crash never leaves it torn under its
// name), and only its directory waits for the barrier.
func (g *guard) putDeferred(ctx context.Context, path string, content []byte) error {
	if !storagedriver.PathRegexp.MatchString(path) {
		return storagedriver.InvalidPathError{Path: path, DriverName: g.Name()}
	}
	full := filepath.Join(g.root, filepath.FromSlash(path))
	dir := filepath.Dir(full)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, filepath.Base(full)+".*.tmp")
	if err != nil {
		return err
	}
	link := isLink(path)
	_, err = f.Write(content)
	if err == nil && !link {
		err = fsync(f)
	}
	err = errors.Join(err, f.Close())
	if err == nil {
		err = os.Rename(f.Name(), full)
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return err
	}
	if link {
		return DeferSync(ctx, g.root, full, dir)
	}
	return DeferSync(ctx, g.root, dir)
}

func isLink(path string) bool { return strings.HasSuffix(path, "/link") }

// tornLink reports whether b, read from path, is a link a power loss cut
// short: every link distribution or berth writes holds a digest.
func tornLink(path string, b []byte) bool {
	if !isLink(path) {
		return false
	}
	_, err := digest.Parse(string(b))
	return err != nil
}
