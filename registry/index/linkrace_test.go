package index_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/registry/index"
)

// An upload writes its repository's link of the blob in storage first
// (distribution's commit) and in the index after. A collector that had
// removed the same link from the index brings storage in line at any
// moment in between: it deletes the storage link the upload just wrote and
// reads the index again, which does not have the link yet. The upload's
// index write must then bring the storage copy back, or storage misses a
// link the index has (`berth check`: "broken ... not in storage") and a
// manifest pushed next uses it without noticing.
func TestUploadRelinksWhileCollectorUnlinks(t *testing.T) {
	// sha512: distribution links the blob under both digests; the index
	// holds the sha512 one as an alias of the sha256 one.
	for _, alg := range []digest.Algorithm{digest.SHA256, digest.SHA512} {
		t.Run(alg.String(), func(t *testing.T) { uploadRelinksWhileCollectorUnlinks(t, alg) })
	}
}

func uploadRelinksWhileCollectorUnlinks(t *testing.T, alg digest.Algorithm) {
	ctx := context.Background()
	driver := &hookDriver{StorageDriver: inmemory.New()}
	ix, db, repo := standaloneRepo(t, driver)
	layer := []byte("a layer")
	desc := v1.Descriptor{MediaType: "application/octet-stream", Digest: alg.FromBytes(layer), Size: int64(len(layer))}
	upload := func() error {
		bw, err := repo.Blobs(ctx).Create(ctx)
		if err != nil {
			return err
		}
		if _, err := bw.Write(layer); err != nil {
			return err
		}
		_, err = bw.Commit(ctx, desc)
		return err
	}
	if err := upload(); err != nil {
		t.Fatal(err)
	}
	// The collector's pass, the link unused and due: the index no longer
	// links the blob; the storage copy is not brought in line yet.
	unlinked := collectorUnlinks(t, db)
	// The same blob is uploaded again; right after distribution wrote the
	// link, the collector brings storage in line (deletes it, reads the
	// index: still unlinked).
	link := "/docker/registry/v2/repositories/team/app/_layers/" + alg.String() + "/" + desc.Digest.Encoded() + "/link"
	var fired bool
	driver.after(link, func() {
		fired = true
		ix.Settle(ctx, unlinked)
		if _, err := driver.StorageDriver.Stat(ctx, link); err == nil {
			t.Error("the collector's mirror left the storage link (the race was not set up)")
		}
	})
	if err := upload(); err != nil {
		t.Fatal(err)
	}
	if !fired {
		t.Fatal("the upload did not write the link (the race was not set up)")
	}
	if _, err := repo.Blobs(ctx).Stat(ctx, desc.Digest); err != nil {
		t.Fatalf("Stat (a HEAD) of the blob the upload committed: %v", err)
	}
	if _, err := driver.Stat(ctx, link); err != nil {
		t.Fatalf("storage lost the link of a blob the index links: %v", err)
	}
	ix.StopSync(ctx) // retires the mirrored rows
	drift, err := index.Check(ctx, ix)
	if err != nil {
		t.Fatal(err)
	}
	if len(drift) > 0 {
		t.Fatalf("check after the upload: %v", drift)
	}
}

// hookDriver runs a function once, right after a write of one path.
type hookDriver struct {
	storagedriver.StorageDriver
	mu   sync.Mutex
	path string
	fn   func()
}

func (d *hookDriver) after(path string, fn func()) {
	d.mu.Lock()
	d.path, d.fn = path, fn
	d.mu.Unlock()
}

func (d *hookDriver) PutContent(ctx context.Context, path string, content []byte) error {
	if err := d.StorageDriver.PutContent(ctx, path, content); err != nil {
		return err
	}
	d.mu.Lock()
	fn := d.fn
	if fn != nil && strings.HasSuffix(path, d.path) {
		d.fn = nil
	} else {
		fn = nil
	}
	d.mu.Unlock()
	if fn != nil {
		fn()
	}
	return nil
}
