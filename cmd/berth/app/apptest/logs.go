package apptest

import (
	"bytes"
	"io"
	"sync"
)

// lateWriter keeps what is logged before the Berth that shows the logs
// exists (berth logs while it is assembled), then writes through to it.
type lateWriter struct {
	mu    sync.Mutex
	early bytes.Buffer
	w     io.Writer
}

func (l *lateWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w == nil {
		return l.early.Write(p)
	}
	return l.w.Write(p)
}

// set sends everything from now on, and what came before, to w.
func (l *lateWriter) set(w io.Writer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = w.Write(l.early.Bytes())
	l.early.Reset()
	l.w = w
}
