package storage

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
)

// setFsync replaces the sync of deferred writes for one test.
func setFsync(t *testing.T, f func(*os.File) error) {
	t.Helper()
	old := fsync
	fsync = f
	t.Cleanup(func() { fsync = old })
}

// syncLog records what was synced, in order.
type syncLog struct {
	mu    sync.Mutex
	paths []string
}

func (l *syncLog) fsync(f *os.File) error {
	l.mu.Lock()
	l.paths = append(l.paths, f.Name())
	l.mu.Unlock()
	return nil
}

func (l *syncLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.paths
	l.paths = nil
	slices.Sort(out)
	return out
}

func fsGuard(t *testing.T) (*guard, string) {
	t.Helper()
	root := t.TempDir()
	d := filesystem.New(filesystem.DriverParameters{RootDirectory: root, MaxThreads: 100})
	g := Guard(d, time.Minute).(*guard)
	g.root = root
	return g, root
}

// A request's writes are in place at once and synced only at its barrier:
// a link and its directory then, any other file before its rename (its
// directory then). Without a mark every write is synced as distribution
// does, before the call returns.
func TestDeferredPutContent(t *testing.T) {
	const link = "/docker/registry/v2/repositories/p/a/_layers/sha256/aa/link"
	const data = "/docker/registry/v2/blobs/sha256/aa/aabb/data"
	for _, tc := range []struct {
		name         string
		path         string
		mark         bool
		before, then []string // synced by the call, by the barrier (relative)
	}{
		{"link in a request", link, true, nil, []string{filepath.Dir(link), link}},
		{"data in a request", data, true, []string{"data.tmp"}, []string{filepath.Dir(data)}},
		{"link outside a request", link, false, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log syncLog
			setFsync(t, log.fsync)
			g, root := fsGuard(t)
			ctx, barrier := context.Background(), func() error { return nil }
			if tc.mark {
				ctx, barrier = WithDeferredSyncs(ctx)
			}
			content := "sha256:" + strings.Repeat("ab", 32)
			if err := g.PutContent(ctx, tc.path, []byte(content)); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(root, tc.path))
			if err != nil || string(got) != content {
				t.Fatalf("in place: %q %v", got, err)
			}
			left, _ := filepath.Glob(filepath.Join(root, filepath.Dir(tc.path), "*.tmp"))
			if len(left) != 0 {
				t.Errorf("temporary files left: %v", left)
			}
			before := log.take()
			if len(before) != len(tc.before) {
				t.Errorf("synced by the call: %v, want %v", before, tc.before)
			}
			for i, p := range tc.before { // temporary names: by their shape
				if i < len(before) && !(strings.HasPrefix(filepath.Base(before[i]), "data.") && strings.HasSuffix(before[i], p[4:])) {
					t.Errorf("synced by the call: %s, want %s", before[i], p)
				}
			}
			if err := barrier(); err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, p := range tc.then {
				want = append(want, filepath.Join(root, p))
			}
			if then := log.take(); !slices.Equal(then, want) {
				t.Errorf("synced by the barrier: %v, want %v", then, want)
			}
			if err := barrier(); err != nil || len(log.take()) != 0 {
				t.Errorf("a second barrier synced again (%v)", err)
			}
		})
	}
}

// A link a power loss cut short (written without its sync) reads as
// absent; a whole one, and any file not a link, as written.
func TestTornLinkReadsAbsent(t *testing.T) {
	g, root := fsGuard(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name, path, content string
		absent              bool
	}{
		{"empty link", "/r/a/link", "", true},
		{"zeros", "/r/b/link", strings.Repeat("\x00", 71), true},
		{"half a digest", "/r/c/link", "sha256:abab", true},
		{"whole", "/r/d/link", "sha256:" + strings.Repeat("ab", 32), false},
		{"empty, not a link", "/r/e/startedat", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			full := filepath.Join(root, tc.path)
			if err := os.MkdirAll(filepath.Dir(full), 0o777); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(full, []byte(tc.content), 0o666); err != nil {
				t.Fatal(err)
			}
			b, err := g.GetContent(ctx, tc.path)
			var nf storagedriver.PathNotFoundError
			if tc.absent != errors.As(err, &nf) {
				t.Fatalf("absent %v, want %v (%q)", err, tc.absent, b)
			}
			if !tc.absent && string(b) != tc.content {
				t.Errorf("read %q", b)
			}
		})
	}
}

// Requests finishing together share one round of syncs: while one round
// runs, every write recorded after it waits for the next, which covers all
// of them at once.
func TestGroupCommit(t *testing.T) {
	s := &syncer{pending: map[string]struct{}{}}
	dir := t.TempDir()
	first := make(chan struct{})
	release := make(chan struct{})
	var calls atomic.Int32
	setFsync(t, func(f *os.File) error {
		if calls.Add(1) == 1 {
			close(first)
			<-release
		}
		return nil
	})
	n0 := s.record([]string{dir})
	done := make(chan error, 9)
	go func() { done <- s.wait(n0) }()
	<-first // the first round is running
	for range 8 {
		n := s.record([]string{dir})
		go func() { done <- s.wait(n) }()
	}
	time.Sleep(50 * time.Millisecond) // all eight wait for the running round
	close(release)
	for range 9 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if s.batches != 2 || calls.Load() != 2 {
		t.Errorf("rounds %d, syncs %d: want 2 and 2", s.batches, calls.Load())
	}
}

// A round that fails fails every write it covered, to each waiter, even
// one that comes to wait after it ended; later writes are not failed by
// it. What retires the index's rows hears of each failure once.
func TestFailedSyncRound(t *testing.T) {
	s := &syncer{pending: map[string]struct{}{}}
	dir := t.TempDir()
	fail := true
	setFsync(t, func(*os.File) error {
		if fail {
			return syscall.EIO
		}
		return nil
	})
	a := s.record([]string{dir})
	b := s.record([]string{dir})
	if err := s.wait(a); !errors.Is(err, syscall.EIO) {
		t.Fatalf("first waiter: %v", err)
	}
	if err := s.wait(b); !errors.Is(err, syscall.EIO) {
		t.Fatalf("a waiter after the round: %v", err)
	}
	if err := s.waitAll(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("waitAll: %v", err)
	}
	if err := s.waitAll(); err != nil {
		t.Fatalf("waitAll again: %v", err)
	}
	fail = false
	c := s.record([]string{dir})
	if err := s.wait(c); err != nil {
		t.Fatalf("a later write: %v", err)
	}
	if err := s.wait(a); !errors.Is(err, syscall.EIO) {
		t.Fatalf("the failed write, asked again: %v", err)
	}
}

// Paths gone by the barrier (replaced by a later write, removed) need no
// sync; without a mark DeferSync syncs at once.
func TestDeferSync(t *testing.T) {
	var log syncLog
	setFsync(t, log.fsync)
	dir := t.TempDir()
	if err := DeferSync(context.Background(), dir, dir, filepath.Join(dir, "gone")); err != nil {
		t.Fatal(err)
	}
	if got := log.take(); !slices.Equal(got, []string{dir}) {
		t.Errorf("synced %v", got)
	}
	ctx, barrier := WithDeferredSyncs(context.Background())
	if err := DeferSync(ctx, dir, dir); err != nil {
		t.Fatal(err)
	}
	if got := log.take(); len(got) != 0 {
		t.Errorf("synced before the barrier: %v", got)
	}
	if err := Barrier(ctx); err != nil {
		t.Fatal(err)
	}
	if got := log.take(); !slices.Equal(got, []string{dir}) {
		t.Errorf("barrier synced %v", got)
	}
	if err := barrier(); err != nil {
		t.Fatal(err)
	}
	if err := SyncDeferred(); err != nil {
		t.Fatal(err)
	}
}
