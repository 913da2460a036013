package index

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/storage"
	"github.com/berth-registry/berth/storage/metadata"
)

// A power loss can cut short a link written with its sync deferred
// (storage.WithDeferredSyncs): its row is still in the table then (rows go
// only after a sync), and the repair writes the link again, though a file
// is there, for each kind of link.
func TestRepairRewritesTornLinks(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	root := filepath.Join(dir, "registry")
	driver, err := storage.Open(ctx, &storage.Config{Driver: storage.DriverFilesystem, Filesystem: storage.FilesystemConfig{RootDirectory: root}, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ix, db, p := offlineFixture(t, dir, driver)
	m := digest.FromString("m")
	layer := digest.FromString("layer")
	a, err := db.PutArtifact(ctx, p.ID, "p/a", metadata.Artifact{Digest: m.String(), MediaType: "application/vnd.oci.image.manifest.v1+json",
		ManifestSize: 10, Blobs: []metadata.Blob{{Digest: m.String(), Size: 10}, {Digest: layer.String(), Size: 5}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.PutTag(ctx, a.RepositoryID, "v1", m.String(), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.LinkBlob(ctx, "p/a", metadata.Blob{Digest: layer.String(), Size: 5}, metadata.EventBlobPush, "w"); err != nil {
		t.Fatal(err)
	}
	links := []struct {
		key  metadata.SyncKey
		path string
		want string
	}{
		{metadata.SyncKey{Repository: "p/a", Kind: metadata.SyncManifest, Name: m.String()}, aliasLinkPath("p/a", metadata.AliasManifest, m), m.String()},
		{metadata.SyncKey{Repository: "p/a", Kind: metadata.SyncLayer, Name: layer.String()}, aliasLinkPath("p/a", metadata.AliasBlob, layer), layer.String()},
		{metadata.SyncKey{Repository: "p/a", Kind: metadata.SyncTag, Name: "v1"}, tagLinkPath("p/a", "v1"), m.String()},
	}
	var keys []metadata.SyncKey
	for i, l := range links {
		full := filepath.Join(root, filepath.FromSlash(l.path))
		if err := os.MkdirAll(filepath.Dir(full), 0o777); err != nil {
			t.Fatal(err)
		}
		torn := []string{"", strings.Repeat("\x00", 71), "sha256:0"}[i]
		if err := os.WriteFile(full, []byte(torn), 0o666); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, l.key)
	}
	if _, err := db.AddSync(ctx, "powered-off", keys...); err != nil { // no heartbeat: gone
		t.Fatal(err)
	}
	if fixed, _, err := ix.Repair(ctx); err != nil || fixed != len(keys) {
		t.Fatalf("repaired %d of %d: %v", fixed, len(keys), err)
	}
	for _, l := range links {
		if got, err := driver.GetContent(ctx, l.path); err != nil || string(got) != l.want {
			t.Errorf("%s: %q %v, want %s", l.key.String(), got, err, l.want)
		}
	}
}
