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
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
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
			gate := make(chan struct{})
			var once sync.Once
			open := func() { once.Do(func() { close(gate) }) }
			defer open()
			ix, db, driver, repoID, m := settleFixture(t, func(path string) {
				if strings.Contains(path, "/_manifests/tags/") {
					<-gate
				}
			})
			const batches, per = 40, 25
			var batchRows [][]metadata.Sync
			for b := range batches {
				var keys []metadata.SyncKey
				for i := range per {
					name := fmt.Sprintf("t%04d", b*per+i)
					if err := db.PutTag(ctx, repoID, name, m, time.Time{}); err != nil {
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
			if !ix.backlogged() {
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
			if ix.backlogged() {
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

// settleFixture is an offline Indexer over a SQLite index and filesystem
// storage whose PutContent calls onPut first, with a repository p/a
// holding one manifest m.
func settleFixture(t *testing.T, onPut func(path string)) (*Indexer, *metadata.DB, *hookDriver, int64, string) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	driver := &hookDriver{StorageDriver: filesystem.New(filesystem.DriverParameters{RootDirectory: filepath.Join(dir, "registry"), MaxThreads: 100}), onPut: onPut}
	ix, db, p := offlineFixture(t, dir, driver)
	m := digest.FromString("m").String()
	a, err := db.PutArtifact(ctx, p.ID, "p/a", metadata.Artifact{Digest: m, MediaType: "application/vnd.oci.image.manifest.v1+json",
		ManifestSize: 10, Blobs: []metadata.Blob{{Digest: m, Size: 10}}})
	if err != nil {
		t.Fatal(err)
	}
	return ix, db, driver, a.RepositoryID, m
}

// offlineFixture is an offline indexer over driver with its database in
// dir and a project "p".
func offlineFixture(t *testing.T, dir string, driver storagedriver.StorageDriver) (*Indexer, *metadata.DB, metadata.Project) {
	t.Helper()
	db := metadatatest.Open(t, filepath.Join(dir, "berth.db"))
	ns, err := diststorage.NewRegistry(context.Background(), driver, diststorage.EnableDelete)
	if err != nil {
		t.Fatal(err)
	}
	ix := NewOffline(db, slog.New(slog.NewTextHandler(io.Discard, nil)), ns, driver)
	p, err := db.CreateProject(context.Background(), metadata.Project{Name: "p"})
	if err != nil {
		t.Fatal(err)
	}
	return ix, db, p
}

// A writer that died with a backlog (kill -9 during a retention run)
// leaves its rows to the others: a repair pass takes a page of them and
// says more wait, pass after pass, until every copy is written.
func TestRepairTakesADeadWritersBacklogPageByPage(t *testing.T) {
	ctx := context.Background()
	ix, db, driver, repoID, m := settleFixture(t, nil)
	const n = 2*repairPage + 100
	var keys []metadata.SyncKey
	for i := range n {
		name := fmt.Sprintf("t%04d", i)
		if err := db.PutTag(ctx, repoID, name, m, time.Time{}); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, metadata.SyncKey{Repository: "p/a", Kind: metadata.SyncTag, Name: name})
	}
	if _, err := db.AddSync(ctx, "dead-writer", keys...); err != nil { // no heartbeat: gone
		t.Fatal(err)
	}
	var passes []bool
	for range 10 {
		fixed, more, err := ix.Repair(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if fixed == 0 {
			break
		}
		passes = append(passes, more)
	}
	if want := []bool{true, true, false}; fmt.Sprint(passes) != fmt.Sprint(want) {
		t.Errorf("passes said more: %v, want %v", passes, want)
	}
	if left, err := db.PendingSync(ctx, 10); err != nil || len(left) != 0 {
		t.Errorf("rows left: %d %v", len(left), err)
	}
	for _, k := range keys {
		if got, err := driver.GetContent(ctx, tagLinkPath("p/a", k.Name)); err != nil || string(got) != m {
			t.Fatalf("%s: %q %v", k.Name, got, err)
		}
	}
}
