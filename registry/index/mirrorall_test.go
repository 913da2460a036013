package index

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	diststorage "github.com/distribution/distribution/v3/registry/storage"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/storage/metadata"
	"github.com/berth-registry/berth/storage/metadata/metadatatest"
)

// hookDriver calls onPut before each PutContent (a writer racing the
// mirror).
type hookDriver struct {
	storagedriver.StorageDriver
	onPut func(path string)
}

func (h *hookDriver) PutContent(ctx context.Context, path string, content []byte) error {
	if h.onPut != nil {
		h.onPut(path)
	}
	return h.StorageDriver.PutContent(ctx, path, content)
}

// A bulk mirror leaves storage as the index says for every key: tags
// written and removed, manifest links written and removed, and a key the
// index changed while its copy was written ends as the index says last.
func TestMirrorAllFollowsTheIndex(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := metadatatest.Open(t, filepath.Join(dir, "berth.db"))
	root := filepath.Join(dir, "registry")
	driver := &hookDriver{StorageDriver: filesystem.New(filesystem.DriverParameters{RootDirectory: root, MaxThreads: 100})}
	ns, err := diststorage.NewRegistry(ctx, driver, diststorage.EnableDelete)
	if err != nil {
		t.Fatal(err)
	}
	ix := NewOffline(db, slog.New(slog.NewTextHandler(io.Discard, nil)), ns, driver)

	manifest := func(s string) string { return digest.FromString(s).String() }
	m1, m2, gone := manifest("m1"), manifest("m2"), manifest("gone")
	p, err := db.CreateProject(ctx, metadata.Project{Name: "p"})
	if err != nil {
		t.Fatal(err)
	}
	var repoID int64
	for _, m := range []string{m1, m2} {
		a, err := db.PutArtifact(ctx, p.ID, "p/a", metadata.Artifact{Digest: m, MediaType: "application/vnd.oci.image.manifest.v1+json",
			ManifestSize: 10, Blobs: []metadata.Blob{{Digest: m, Size: 10}}})
		if err != nil {
			t.Fatal(err)
		}
		repoID = a.RepositoryID
	}
	var keys []metadata.SyncKey
	for i := range 10 {
		name := fmt.Sprintf("t%d", i)
		if err := db.PutTag(ctx, repoID, name, m1, time.Time{}); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, metadata.SyncKey{Repository: "p/a", Kind: metadata.SyncTag, Name: name})
	}
	// What storage holds that the index does not: a tag and a manifest.
	if err := driver.PutContent(ctx, tagLinkPath("p/a", "old"), []byte(m1)); err != nil {
		t.Fatal(err)
	}
	if err := driver.PutContent(ctx, aliasLinkPath("p/a", metadata.AliasManifest, digest.Digest(gone)), []byte(gone)); err != nil {
		t.Fatal(err)
	}
	keys = append(keys,
		metadata.SyncKey{Repository: "p/a", Kind: metadata.SyncTag, Name: "old"},
		metadata.SyncKey{Repository: "p/a", Kind: metadata.SyncManifest, Name: m1},
		metadata.SyncKey{Repository: "p/a", Kind: metadata.SyncManifest, Name: gone})
	// t3 moves to m2 while its copy is written: the check after the batch
	// sees it and mirrors it again.
	moved := false
	driver.onPut = func(path string) {
		if !moved && path == tagLinkPath("p/a", "t3") {
			moved = true
			if err := db.PutTag(ctx, repoID, "t3", m2, time.Time{}); err != nil {
				t.Error(err)
			}
		}
	}

	if failed := ix.mirrorAll(ctx, keys); len(failed) != 0 {
		t.Fatalf("failed: %v", failed)
	}
	read := func(path string) string {
		b, err := os.ReadFile(filepath.Join(root, path))
		if os.IsNotExist(err) {
			return ""
		}
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	cases := []struct{ what, path, want string }{
		{"a tag", tagLinkPath("p/a", "t0"), m1},
		{"the last tag", tagLinkPath("p/a", "t9"), m1},
		{"a tag moved while mirrored", tagLinkPath("p/a", "t3"), m2},
		{"a tag the index does not have", tagLinkPath("p/a", "old"), ""},
		{"a manifest", aliasLinkPath("p/a", metadata.AliasManifest, digest.Digest(m1)), m1},
		{"a manifest the index does not have", aliasLinkPath("p/a", metadata.AliasManifest, digest.Digest(gone)), ""},
	}
	for _, c := range cases {
		if got := read(c.path); got != c.want {
			t.Errorf("%s: storage holds %q, want %q", c.what, got, c.want)
		}
	}
	if !moved {
		t.Error("the racing write never ran")
	}
	if _, err := os.Stat(filepath.Join(root, "docker/registry/v2/repositories/p/a/_manifests/tags/old")); !os.IsNotExist(err) {
		t.Errorf("the removed tag's directory is still there: %v", err)
	}
}
