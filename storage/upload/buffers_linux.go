package upload

import "golang.org/x/sys/unix"

// allocBuffer maps bufSize bytes (page-aligned, outside the Go heap).
func allocBuffer() []byte {
	b, err := unix.Mmap(-1, 0, bufSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return *newAligned(bufSize) // out of mappings: the heap will do
	}
	return b
}

func freeBuffer(b []byte) {
	if cap(b) == bufSize && len(b) == bufSize {
		if err := unix.Munmap(b); err == nil {
			return
		}
	}
	// a heap buffer: the GC takes it
}
