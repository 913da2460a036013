package upload

import (
	"errors"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

func openDirect(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|unix.O_DIRECT, 0)
}

// isUnsupported: the filesystem refused a direct write (alignment or no
// O_DIRECT support); the sink falls back to the page cache.
func isUnsupported(err error) bool { return errors.Is(err, unix.EINVAL) }

// startWriteback hands n bytes at off to writeback without waiting.
func startWriteback(f *os.File, off, n int64) {
	_ = unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}

func fdatasync(f *os.File) error { return unix.Fdatasync(int(f.Fd())) }

// pwritev writes bs at off in one call (a short write continues).
func pwritev(f *os.File, bs [][]byte, off int64) (int, error) {
	total := 0
	for len(bs) > 0 {
		n, err := unix.Pwritev(int(f.Fd()), bs, off)
		if err != nil {
			return total, err
		}
		if n == 0 {
			return total, io.ErrShortWrite
		}
		total += n
		off += int64(n)
		for n > 0 {
			if n < len(bs[0]) {
				bs = append([][]byte{bs[0][n:]}, bs[1:]...)
				break
			}
			n -= len(bs[0])
			bs = bs[1:]
		}
	}
	return total, nil
}

// preallocate allocates n bytes at off without changing the file's size
// (best effort: not every filesystem can).
func preallocate(f *os.File, off, n int64) {
	_ = unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_KEEP_SIZE, off, n)
}

// lockFile takes an exclusive lock on f, held until f is closed.
func lockFile(f *os.File) error {
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if err != unix.EINTR {
			return err
		}
	}
}
