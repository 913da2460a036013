package index_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
	"github.com/distribution/reference"

	"github.com/berth-registry/berth/registry/index"
	"github.com/berth-registry/berth/storage/metadata/metadatatest"
)

// A collector that removed a repository's link of a blob has committed in
// the index before storage loses its copy of the link. A client asking in
// that window (HEAD, as docker does before skipping an upload) must hear
// that the blob is not there: told it is, it would push a manifest that
// then finds the blob gone (MANIFEST_BLOB_UNKNOWN).
func TestStatAfterCollectorRemovedLink(t *testing.T) {
	ctx := context.Background()
	db := metadatatest.Open(t, "")
	ix, err := index.Standalone(ctx, db, slog.New(slog.NewTextHandler(io.Discard, nil)), inmemory.New(), true)
	if err != nil {
		t.Fatal(err)
	}
	named, _ := reference.WithName("team/app")
	repo, err := ix.Namespace().Repository(ctx, named)
	if err != nil {
		t.Fatal(err)
	}
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
	var unlinked bool
	for {
		res, found, err := db.ProcessReview(ctx, time.Now().Add(time.Hour), "test", func(context.Context, string) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		if !found {
			break
		}
		unlinked = unlinked || len(res.Unlinked) > 0
	}
	if !unlinked {
		t.Fatal("the collector did not remove the unused link")
	}
	time.Sleep(20 * time.Millisecond) // past the refresh memo (a tenth of a zero delay, at least 10 ms)
	if _, err := repo.Blobs(ctx).Stat(ctx, desc.Digest); !errors.Is(err, distribution.ErrBlobUnknown) {
		t.Fatalf("Stat after the collector removed the link = %v, want ErrBlobUnknown", err)
	}
}
