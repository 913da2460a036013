package proxy

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
)

// The readers' side of a flight: what the download stored so far, read
// from one descriptor the flight and its readers share.

// relayed reports whether readers got all of another replica's download.
func (f *flight) relayed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.verified
}

// release lets readers have the last byte: the digest is verified.
func (f *flight) release() {
	f.mu.Lock()
	f.verified = true
	f.cond.Broadcast()
	f.mu.Unlock()
}

// spillFile is an unlinked temporary file for a download's readers: it
// goes with its last descriptor, even after a kill.
func (s *Service) spillFile() (*os.File, error) {
	dir, err := s.tempDir()
	if err != nil {
		return nil, fmt.Errorf("proxy: temporary directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "blob-*")
	if err != nil {
		return nil, fmt.Errorf("proxy: temporary file: %w", err)
	}
	_ = os.Remove(tmp.Name())
	return tmp, nil
}

// follower tells readers what the download stored, in order: it opens the
// upload's data file (path) at the first bytes, or copies them to spill.
type follower struct {
	f     *flight
	path  string
	spill *os.File
	n     int64
	err   atomic.Pointer[error]
}

func (fw *follower) Write(p []byte) (int, error) {
	if err := fw.failed(); err != nil {
		return 0, err
	}
	var opened *os.File
	var err error
	if fw.spill != nil {
		_, err = fw.spill.WriteAt(p, fw.n)
	} else if fw.n == 0 {
		opened, err = os.Open(fw.path)
	}
	if err != nil {
		err = fmt.Errorf("proxy: the copy readers read: %w", err)
		fw.err.Store(&err)
		return 0, err
	}
	fw.n += int64(len(p))
	fw.f.mu.Lock()
	if opened != nil {
		fw.f.data = opened
	}
	fw.f.written = fw.n
	fw.f.cond.Broadcast()
	fw.f.mu.Unlock()
	return len(p), nil
}

func (fw *follower) failed() error {
	if e := fw.err.Load(); e != nil {
		return *e
	}
	return nil
}

// stream writes the flight's bytes to w as they arrive, for a reader that
// joined. It returns an error when the download failed or the client went
// away.
func (f *flight) stream(ctx context.Context, w io.Writer) error {
	defer f.leave()
	stop := context.AfterFunc(ctx, func() {
		f.mu.Lock()
		f.cond.Broadcast()
		f.mu.Unlock()
	})
	defer stop()
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	var off int64
	for {
		f.mu.Lock()
		for off >= f.avail() && !f.done && !(f.verified && off >= f.written) && ctx.Err() == nil {
			f.cond.Wait()
		}
		avail, done, ferr, verified, data := f.avail(), f.done, f.err, f.verified, f.data
		f.mu.Unlock()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case off >= avail && (done || verified):
			if ferr != nil && !verified {
				return ferr
			}
			return nil // all of it, verified
		case ferr != nil && !verified:
			return ferr
		}
		// data stays open while this reader holds its place (leave)
		k, err := data.ReadAt(buf[:min(avail-off, int64(len(buf)))], off)
		if k > 0 {
			if _, werr := w.Write(buf[:k]); werr != nil {
				return werr
			}
			off += int64(k)
			if fl, ok := w.(http.Flusher); ok && off == avail {
				fl.Flush()
			}
		}
		if err != nil && err != io.EOF {
			return err
		}
	}
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, readChunk); return &b }}

// join makes the caller a reader of the flight. local: the flight is over
// and the blob is stored (serve it from storage). A reader that joined
// calls stream, which leaves.
func (f *flight) join() (local bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.done && (f.local || f.err == nil):
		return true, nil
	case f.done:
		return false, f.err
	}
	f.users++
	return false, nil
}

// leave ends a reader's (or the download's) hold on the data, closing it
// after the last.
func (f *flight) leave() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users--
	if f.users == 0 && f.data != nil {
		_ = f.data.Close()
		f.data = nil
	}
}

// contentLength is the header value of a flight's size ("" unknown).
func (f *flight) contentLength() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.size < 0 {
		return ""
	}
	return strconv.FormatInt(f.size, 10)
}
