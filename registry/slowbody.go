package registry

import (
	"io"
	"net/http"
	"time"
)

// bodyProgressStep is how much of a request body must arrive within the
// body timeout for the timeout to start over.
const bodyProgressStep = 16 << 10

// withBodyProgress bounds how slowly a request body may arrive: each 16 KiB
// must come within timeout, so a client trickling a byte at a time cannot
// hold a connection (a slow-loris), while a slow but real upload of any
// size goes on. A cut upload keeps what arrived and stays resumable.
func withBodyProgress(timeout time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		if rc.SetReadDeadline(time.Now().Add(timeout)) != nil {
			next.ServeHTTP(w, r) // a writer that cannot (tests)
			return
		}
		r.Body = &progressBody{ReadCloser: r.Body, rc: rc, timeout: timeout}
		next.ServeHTTP(w, r)
		_ = rc.SetReadDeadline(time.Time{})
	})
}

type progressBody struct {
	io.ReadCloser
	rc      *http.ResponseController
	timeout time.Duration
	since   int // bytes since the deadline last moved
}

func (b *progressBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.since += n
	if b.since >= bodyProgressStep {
		b.since = 0
		_ = b.rc.SetReadDeadline(time.Now().Add(b.timeout))
	}
	return n, err
}
