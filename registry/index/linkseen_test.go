package index_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/distribution/distribution/v3"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
	"github.com/distribution/reference"

	"github.com/berth-registry/berth/registry/index"
	"github.com/berth-registry/berth/storage/metadata"
	"github.com/berth-registry/berth/storage/metadata/metadatatest"
)

// A collector that removed a repository's link of a blob has committed in
// the index before storage loses its copy of the link. A client asking in
// that window (HEAD, as docker does before skipping an upload) must hear
// that the blob is not there: told it is, it would push a manifest that
// then finds the blob gone (MANIFEST_BLOB_UNKNOWN).
func TestStatAfterCollectorRemovedLink(t *testing.T) {
	ctx := context.Background()
	_, db, repo := standaloneRepo(t, inmemory.New())
	desc, err := repo.Blobs(ctx).Put(ctx, "application/octet-stream", []byte("a layer"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Blobs(ctx).Stat(ctx, desc.Digest); err != nil {
		t.Fatalf("Stat of a blob just uploaded: %v", err)
	}
	// The collector's pass, with the link unused and due: it removes the
	// link in the index and leaves the storage copy to be brought in line
	// (not done here, so storage still has it).
	collectorUnlinks(t, db)
	time.Sleep(20 * time.Millisecond) // past the refresh memo (a tenth of a zero delay, at least 10 ms)
	if _, err := repo.Blobs(ctx).Stat(ctx, desc.Digest); !errors.Is(err, distribution.ErrBlobUnknown) {
		t.Fatalf("Stat after the collector removed the link = %v, want ErrBlobUnknown", err)
	}
}

// standaloneRepo is an indexer over a fresh SQLite index and driver, and
// its repository team/app.
func standaloneRepo(t *testing.T, driver storagedriver.StorageDriver) (*index.Indexer, *metadata.DB, distribution.Repository) {
	t.Helper()
	ctx := context.Background()
	db := metadatatest.Open(t, "")
	ix, err := index.Standalone(ctx, db, slog.New(slog.NewTextHandler(io.Discard, nil)), driver, true)
	if err != nil {
		t.Fatal(err)
	}
	named, _ := reference.WithName("team/app")
	repo, err := ix.Namespace().Repository(ctx, named)
	if err != nil {
		t.Fatal(err)
	}
	return ix, db, repo
}

// collectorUnlinks runs a collector's pass with every review due (and
// the blobs' data kept): it removes unused links from the index and
// returns their storage sync rows, whose copies it leaves unwritten.
func collectorUnlinks(t *testing.T, db *metadata.DB) []metadata.Sync {
	t.Helper()
	var unlinked []metadata.Sync
	for {
		res, found, err := db.ProcessReview(context.Background(), time.Now().Add(time.Hour), "collector", func(context.Context, string) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		if !found {
			break
		}
		unlinked = append(unlinked, res.Unlinked...)
	}
	if len(unlinked) == 0 {
		t.Fatal("the collector did not remove the unused link")
	}
	return unlinked
}
