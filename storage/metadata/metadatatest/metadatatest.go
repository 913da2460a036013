// Package metadatatest opens metadata indexes for tests of the packages
// above storage/metadata (as net/http/httptest serves net/http's).
package metadatatest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/berth-registry/berth/storage/metadata"
)

// Open opens (and migrates) the index at dsn, a SQLite file in a fresh
// temporary directory when dsn is "", and closes it when the test ends.
func Open(tb testing.TB, dsn string) *metadata.DB {
	tb.Helper()
	if dsn == "" {
		dsn = filepath.Join(tb.TempDir(), "berth.db")
	}
	db, err := metadata.Open(context.Background(), dsn, 0)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}
