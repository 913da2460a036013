package upload

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
	"unsafe"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/storage"
)

// fsBackend keeps uploads as files under the filesystem driver's root.
type fsBackend struct {
	root   string
	direct bool // try O_DIRECT for aligned appends
}

func (b *fsBackend) full(p string) string { return filepath.Join(b.root, filepath.FromSlash(p)) }

func (b *fsBackend) open(_ context.Context, repo, id string, h Hint) (sink, error) {
	p := b.full(dataPath(repo, id))
	if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE, 0o666)
	if err != nil {
		return nil, err
	}
	// One request at a time writes an upload: a second one waits here, then
	// finds the upload longer than its state says and is refused (416),
	// where two writers at the same offset would mix their bytes under one
	// hash state.
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &fsSink{b: b, path: p, f: f, off: fi.Size(), direct: b.direct, synced: fi.Size(), announced: h.Length}, nil
}

func (b *fsBackend) purge(context.Context, time.Time, bool) (int, error) { return 0, nil }

// putState writes a file atomically (a temporary name, then a rename) but
// without fsync: see storeState.
func (b *fsBackend) putState(_ context.Context, path string, data []byte) error {
	p := b.full(path)
	if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err != nil {
		_ = os.Remove(f.Name())
	}
	return err
}

// fsSink appends to an upload's data file. Aligned runs go through a
// second descriptor opened with O_DIRECT: the disk writes them while the
// pump hashes the next buffer, nothing is copied into the page cache, and
// the fdatasync at the end of the request has only the few unaligned bytes
// and the metadata left. Where direct I/O is not available, writes go
// through the page cache and are handed to writeback every few MiB
// (sync_file_range), so the disk works during the request, not after it.
type fsSink struct {
	b      *fsBackend
	path   string
	f, df  *os.File // df: O_DIRECT, opened at the first aligned run
	off    int64
	direct bool  // direct I/O still worth trying
	dirty  bool  // written since the last flush
	synced int64 // buffered bytes before this offset were handed to writeback
	// announced is the length the request announced (-1: unknown), whose
	// blocks are allocated before the first write: without that, ext4's
	// delayed allocation costs more CPU than the copy itself.
	announced int64
	reserved  int64 // blocks are allocated up to here
}

func (s *fsSink) size() int64 { return s.off }

func (s *fsSink) phase() int { return int(s.off % align) }

func (s *fsSink) resumable() bool { return true }

// depth: direct writes wait for the disk, so more buffers wait to be
// written together, in one larger write the device splits and runs in
// parallel.
func (s *fsSink) depth() int {
	if s.direct {
		return directDepth
	}
	return pipeDepth
}

const directDepth = 8

func (s *fsSink) write(ps [][]byte) error {
	s.dirty = true
	if s.announced > 0 {
		s.reserved = s.off + s.announced
		s.announced = 0
		preallocate(s.f, s.off, s.reserved-s.off)
	}
	for len(ps) > 0 {
		if run, rest := s.alignedRun(ps); len(run) > 0 {
			m, err := pwritev(s.df, run, s.off)
			if m == 0 && err != nil && isUnsupported(err) {
				s.noDirect()
				continue
			}
			s.off += int64(m)
			if err != nil {
				return err
			}
			ps = rest
			continue
		}
		p := ps[0]
		n := len(p)
		if r := int(s.off % align); s.direct && r != 0 && n > align-r {
			n = align - r // up to the next boundary, so the rest can go direct
		}
		m, err := s.f.WriteAt(p[:n], s.off)
		s.off += int64(m)
		if err != nil {
			return err
		}
		if n < len(p) {
			ps = append([][]byte{p[n:]}, ps[1:]...)
		} else {
			ps = ps[1:]
		}
		if !s.direct && s.off-s.synced >= writebackEvery {
			startWriteback(s.f, s.synced, s.off-s.synced)
			s.synced = s.off
		}
	}
	return nil
}

// alignedRun is the longest prefix of ps a direct write can take at the
// current offset (whole blocks of memory-aligned buffers), and what is
// left after it; no run when the offset is not aligned or direct I/O is off.
func (s *fsSink) alignedRun(ps [][]byte) (run, rest [][]byte) {
	if s.off%align != 0 || !s.directFile() {
		return nil, ps
	}
	for i, p := range ps {
		k := len(p) &^ (align - 1)
		if k == 0 || uintptr(unsafe.Pointer(&p[0]))%align != 0 {
			return run, ps[i:]
		}
		run = append(run, p[:k])
		if k < len(p) {
			return run, append([][]byte{p[k:]}, ps[i+1:]...)
		}
	}
	return run, nil
}

// writebackEvery is how much buffered data is handed to writeback at once.
const writebackEvery = 1 << 20

// directFile opens the O_DIRECT descriptor once; false when direct I/O is
// off or unavailable here.
func (s *fsSink) directFile() bool {
	if s.df != nil || !s.direct {
		return s.direct
	}
	df, err := openDirect(s.path)
	if err != nil {
		s.direct = false
		return false
	}
	s.df = df
	return true
}

func (s *fsSink) noDirect() {
	if s.df != nil {
		s.df.Close()
		s.df = nil
	}
	s.direct = false
	s.synced = s.off
}

func (s *fsSink) flush(context.Context) error {
	if !s.dirty {
		return nil
	}
	if s.off < s.reserved {
		// Less arrived than announced: free the blocks past the end.
		if err := s.f.Truncate(s.off); err != nil {
			return err
		}
		s.reserved = s.off
	}
	if err := fdatasync(s.f); err != nil {
		return err
	}
	s.dirty = false
	return nil
}

func (s *fsSink) reader(context.Context) (io.ReadCloser, error) { return os.Open(s.path) }

// commit renames the data into place; a blob already there (content
// addressed, so the same bytes) is kept and the upload's copy dropped with
// the upload directory.
//
// The rename happens before the lock is let go: a request waiting for it
// then finds the blob's file, not the upload's, and is refused.
//
// The data was synced (flush); the rename is made durable by a sync of the
// blob's directory, which a request defers to its barrier (see
// storage.WithDeferredSyncs) and anything else runs now.
func (s *fsSink) commit(ctx context.Context, canonical digest.Digest) error {
	dst := s.b.full(blobDataPath(canonical))
	if _, err := os.Stat(dst); err != nil {
		err = os.MkdirAll(filepath.Dir(dst), 0o777)
		if err == nil {
			err = os.Rename(s.path, dst)
		}
		if err == nil {
			err = storage.DeferSync(ctx, s.b.root, filepath.Dir(dst))
		}
		if err != nil {
			return errors.Join(err, s.release())
		}
	}
	return s.release()
}

func (s *fsSink) discard(context.Context) error {
	err := s.release()
	if rerr := os.Remove(s.path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
		err = errors.Join(err, rerr)
	}
	return err
}

func (s *fsSink) release() error {
	var err error
	if s.df != nil {
		err = s.df.Close()
		s.df = nil
	}
	if s.f != nil {
		err = errors.Join(err, s.f.Close())
		s.f = nil
	}
	return err
}
