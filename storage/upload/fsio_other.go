//go:build !linux

package upload

import (
	"errors"
	"os"
)

func openDirect(string) (*os.File, error) { return nil, errors.New("no direct I/O here") }

func isUnsupported(error) bool { return false }

func startWriteback(*os.File, int64, int64) {}

func fdatasync(f *os.File) error { return f.Sync() }

func pwritev(f *os.File, bs [][]byte, off int64) (int, error) {
	total := 0
	for _, b := range bs {
		n, err := f.WriteAt(b, off)
		total += n
		off += int64(n)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

func preallocate(*os.File, int64, int64) {}

func lockFile(*os.File) error { return nil }
