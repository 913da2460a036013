package index

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	diststorage "github.com/distribution/distribution/v3/registry/storage"
	"github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/storage/metadata"
	"github.com/berth-registry/berth/storage/metadata/metadatatest"
)

// SettleAsync never waits for storage: while storage is stalled, batch
// after batch returns at once, the rows beyond the pool's few batches wait
// in the table, and a drainer writes them when storage moves again.
// WaitSettled waits for all of them; stopping instead leaves the rest in
// the table, for the next start or another instance.
func TestSettleAsyncBacklog(t *testing.T) {
	for _, tc := range []struct {
		name string
		stop bool // stop settling while storage is stalled
	}{
		{"drained", false},
		{"stopped with a backlog", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			db := metadatatest.Open(t, filepath.Join(dir, "berth.db"))
			gate := make(chan struct{})
			var once sync.Once
			open := func() { once.Do(func() { close(gate) }) }
			defer open()
			driver := &hookDriver{
				StorageDriver: filesystem.New(filesystem.DriverParameters{RootDirectory: filepath.Join(dir, "registry"), MaxThreads: 100}),
				onPut: func(path string) {
					if strings.Contains(path, "/_manifests/tags/") {
						<-gate
					}
				},
			}
			ns, err := diststorage.NewRegistry(ctx, driver, diststorage.EnableDelete)
			if err != nil {
				t.Fatal(err)
			}
			ix := NewOffline(db, slog.New(slog.NewTextHandler(io.Discard, nil)), ns, driver)
			p, err := db.CreateProject(ctx, metadata.Project{Name: "p"})
			if err != nil {
				t.Fatal(err)
			}
			m := digest.FromString("m").String()
			a, err := db.PutArtifact(ctx, p.ID, "p/a", metadata.Artifact{Digest: m, MediaType: "application/vnd.oci.image.manifest.v1+json",
				ManifestSize: 10, Blobs: []metadata.Blob{{Digest: m, Size: 10}}})
			if err != nil {
				t.Fatal(err)
			}
			const batches, per = 40, 25
			var batchRows [][]metadata.Sync
			for b := range batches {
				var keys []metadata.SyncKey
				for i := range per {
					name := fmt.Sprintf("t%04d", b*per+i)
					if err := db.PutTag(ctx, a.RepositoryID, name, m, time.Time{}); err != nil {
						t.Fatal(err)
					}
					keys = append(keys, metadata.SyncKey{Repository: "p/a", Kind: metadata.SyncTag, Name: name})
				}
				ids, err := db.AddSync(ctx, ix.Owner(), keys...)
				if err != nil {
					t.Fatal(err)
				}
				batchRows = append(batchRows, metadata.SyncRows(keys, ids))
			}

			// Storage is stalled: every batch is taken at once.
			handed := make(chan struct{})
			go func() {
				defer close(handed)
				for _, rows := range batchRows {
					ix.SettleAsync(ctx, rows)
				}
			}()
			select {
			case <-handed:
			case <-time.After(time.Minute):
				t.Fatal("SettleAsync waited for stalled storage")
			}
			if !ix.Backlog() {
				t.Fatal("no backlog: the pool took more batches than it holds")
			}

			if tc.stop {
				stopped := make(chan struct{})
				go func() {
					defer close(stopped)
					ix.stopSettling()
				}()
				ix.sync.mu.Lock()
				drained := ix.sync.drained
				ix.sync.mu.Unlock()
				<-drained // the drainer ended, with storage still stalled
				open()
				<-stopped
				ix.flushDone(ctx)
				left, err := db.PendingSync(ctx, 10000)
				if err != nil {
					t.Fatal(err)
				}
				if len(left) == 0 {
					t.Fatal("stopping wrote the whole backlog: it should leave it")
				}
				// Every key is either written or still has its row.
				pending := map[string]bool{}
				for _, r := range left {
					pending[r.Name] = true
				}
				for _, rows := range batchRows {
					for _, r := range rows {
						if _, err := driver.GetContent(ctx, tagLinkPath("p/a", r.Name)); err != nil && !pending[r.Name] {
							t.Errorf("%s: neither written nor pending", r.Name)
						}
					}
				}
				return
			}
			open()
			ix.WaitSettled()
			if ix.Backlog() {
				t.Error("backlog left after WaitSettled")
			}
			for _, rows := range batchRows {
				for _, r := range rows {
					if got, err := driver.GetContent(ctx, tagLinkPath("p/a", r.Name)); err != nil || string(got) != m {
						t.Fatalf("%s: %q %v", r.Name, got, err)
					}
				}
			}
			ix.flushDone(ctx)
			if left, err := db.PendingSync(ctx, 10); err != nil || len(left) != 0 {
				t.Errorf("rows left after the backlog drained: %d %v", len(left), err)
			}
		})
	}
}
