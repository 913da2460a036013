package upload

import (
	"io"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Buffers an upload's bytes pass through: big enough that each write is
// one large I/O, few enough that 16 uploads in flight hold 64 MiB.
const (
	bufSize   = 1 << 20
	pipeDepth = 4    // per upload by default: one read, one written, one hashed, one spare
	align     = 4096 // of buffers in memory, and of direct writes on disk
)

// newAligned allocates n bytes starting at a multiple of align.
func newAligned(n int) *[]byte {
	b := make([]byte, n+align)
	off := int(-uintptr(unsafe.Pointer(&b[0])) & (align - 1))
	b = b[off : off+n : off+n]
	return &b
}

type chunk struct {
	buf  []byte // the buffer (see buffers.go)
	p    []byte // the bytes of it in use
	refs atomic.Int32
}

// pump copies src to write while feeding every byte write accepted to each
// of taps (hashes, and a tee), in order. The caller's goroutine reads, one
// goroutine writes and one per tap taps, so reading, writing and hashing of
// consecutive buffers overlap (buffers ready together are written together,
// one vectored write) and each byte is read from src once, written once and
// hashed once per hash, never copied in between. Only bytes write accepted
// are tapped: n bytes are stored and hashed when pump returns, whatever
// went wrong. A tap's errors are its own (a hash never fails; a tee
// reports its failure to whoever reads src). A write error stops the
// reading (werr); a read error (rerr, never io.EOF) ends the copy after
// what was read is written.
//
// depth is the number of buffers wanted in flight (see buffers.go).
//
// phase is where in its buffer the first byte goes: with phase equal to the
// destination offset modulo align, every buffer after the first starts at
// an aligned offset both in memory and in the destination (direct I/O).
func pump(src io.Reader, phase, depth int, write func([][]byte) error, taps []io.Writer) (n int64, rerr, werr error) {
	bufs := buffers.take(depth)
	defer buffers.give(bufs)
	depth = len(bufs)
	free := make(chan *chunk, depth)
	for _, b := range bufs {
		free <- &chunk{buf: b}
	}
	toWrite := make(chan *chunk, depth)
	queues := make([]chan *chunk, len(taps))
	var wg sync.WaitGroup
	for i, h := range taps {
		q := make(chan *chunk, depth)
		queues[i] = q
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range q {
				_, _ = h.Write(c.p)
				if c.refs.Add(-1) == 0 {
					free <- c
				}
			}
		}()
	}
	var failed atomic.Bool
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer func() {
			for _, q := range queues {
				close(q)
			}
		}()
		batch := make([]*chunk, 0, depth)
		ps := make([][]byte, 0, depth)
		for c := range toWrite {
			// Whatever else is ready goes in the same write: when storage
			// is the slower side, its writes grow instead of queueing.
			batch, ps = append(batch[:0], c), append(ps[:0], c.p)
		more:
			for len(batch) < depth {
				select {
				case c, ok := <-toWrite:
					if !ok {
						break more
					}
					batch, ps = append(batch, c), append(ps, c.p)
				default:
					break more
				}
			}
			if werr == nil {
				if werr = write(ps); werr != nil {
					failed.Store(true)
				}
			}
			for _, c := range batch {
				if werr != nil || len(queues) == 0 {
					if werr == nil {
						n += int64(len(c.p))
					}
					free <- c
					continue
				}
				n += int64(len(c.p))
				c.refs.Store(int32(len(queues)))
				for _, q := range queues {
					q <- c
				}
			}
		}
	}()
	for !failed.Load() {
		c := <-free
		b := c.buf[phase:]
		phase = 0
		m, err := readFull(src, b)
		if m > 0 {
			c.p = b[:m]
			toWrite <- c
		} else {
			free <- c
		}
		if err != nil {
			if err != io.EOF {
				rerr = err
			}
			break
		}
	}
	close(toWrite)
	wg.Wait()
	for range depth {
		<-free // every buffer is back: none is in use when they are given back
	}
	return n, rerr, werr
}

// readFull reads until b is full, the reader ends (io.EOF) or fails.
func readFull(r io.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
