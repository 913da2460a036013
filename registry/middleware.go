package registry

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/berth-registry/berth/storage"
)

// RequestIDHeader carries the per-request id in responses (and is honoured
// on requests from a trusted proxy when it looks like one of ours).
const RequestIDHeader = "X-Request-Id"

type requestIDKey struct{}

// RequestID returns the id of the request ctx belongs to, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// Request ids are 24 hex digits: 6 random bytes drawn once per process,
// then a 6-byte counter. Unique without a random read per request (ids
// are for correlating log lines, not secrets).
var (
	requestIDPrefix = func() (p [12]byte) {
		var b [6]byte
		_, _ = rand.Read(b[:])
		hex.Encode(p[:], b[:])
		return p
	}()
	requestIDSeq atomic.Uint64
)

func newRequestID() string {
	const digits = "0123456789abcdef"
	var id [24]byte
	copy(id[:], requestIDPrefix[:])
	n := requestIDSeq.Add(1)
	for i := len(id) - 1; i >= len(requestIDPrefix); i-- {
		id[i] = digits[n&0xf]
		n >>= 4
	}
	return string(id[:])
}

// statusWriter records what was sent, for the access log.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if h, ok := w.ResponseWriter.(http.Hijacker); ok {
		return h.Hijack()
	}
	return nil, nil, errors.New("hijack not supported")
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// withRequestLog gives each request an id (header and context) and logs one
// line per request. Credentials are never logged: only method, path, status.
func withRequestLog(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := newRequestID()
		w.Header()[RequestIDHeader] = []string{id} // canonical already
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id))
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelError
		}
		log.LogAttrs(r.Context(), level, "request",
			slog.String("request_id", id),
			slog.String("method", r.Method),
			slog.String("path", r.URL.EscapedPath()),
			slog.Int("status", status),
			slog.Int64("bytes", sw.bytes),
			slog.Duration("duration", time.Since(start)),
			slog.String("remote", r.RemoteAddr),
		)
	})
}

// withRecovery turns a panic in any handler into a 500 with a logged stack,
// never a dropped connection without a trace.
func withRecovery(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.ErrorContext(r.Context(), "panic serving request",
					"request_id", RequestID(r.Context()), "panic", v, "stack", string(debug.Stack()))
				writeOCIError(w, http.StatusInternalServerError, "UNKNOWN", "internal error")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// withUnavailable answers 503 instead of distribution's generic 500 when the
// request failed because the storage backend could not be reached. A success
// status is held back until the first byte of the body, so a blob whose
// stream cannot be opened still gets a clean 503 rather than a 200 with a
// truncated body.
func withUnavailable(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, unavailable := storage.WithUnavailableMark(r.Context())
		uw := &unavailableWriter{ResponseWriter: w, unavailable: unavailable}
		next.ServeHTTP(uw, r.WithContext(ctx))
		uw.finish()
	})
}

type unavailableWriter struct {
	http.ResponseWriter
	unavailable func() bool
	pending     int // success status not yet sent
	committed   bool
	swallow     bool
}

func (w *unavailableWriter) WriteHeader(code int) {
	if w.committed || w.swallow || w.pending != 0 {
		return
	}
	if code >= 500 && w.unavailable() {
		w.fail()
		return
	}
	if code >= 200 && code < 300 {
		w.pending = code
		return
	}
	w.commit(code)
}

func (w *unavailableWriter) commit(code int) {
	w.committed = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *unavailableWriter) fail() {
	w.swallow = true
	h := w.Header()
	for _, k := range []string{"Content-Length", "Content-Range", "Etag", "Docker-Content-Digest", "Accept-Ranges", "Cache-Control"} {
		h.Del(k)
	}
	writeOCIError(w.ResponseWriter, http.StatusServiceUnavailable, "UNAVAILABLE",
		"storage backend unavailable, try again later")
}

func (w *unavailableWriter) Write(b []byte) (int, error) {
	if w.swallow {
		return len(b), nil
	}
	if !w.committed {
		code := w.pending
		if code == 0 {
			code = http.StatusOK
		}
		w.commit(code)
	}
	return w.ResponseWriter.Write(b)
}

// finish sends a held-back status, or a 503 if storage failed before any
// byte of the body could be sent.
func (w *unavailableWriter) finish() {
	if w.committed || w.swallow || w.pending == 0 {
		return
	}
	if w.unavailable() {
		w.fail()
		return
	}
	w.commit(w.pending)
}

func (w *unavailableWriter) Flush() {
	if w.swallow {
		return
	}
	if !w.committed && w.pending != 0 {
		w.commit(w.pending)
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *unavailableWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// writeOCIError writes the OCI distribution error envelope.
func writeOCIError(w http.ResponseWriter, status int, code, msg string) {
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	writeJSON(w, status, map[string]any{"errors": []map[string]any{{
		"code": strings.ToUpper(code), "message": msg,
	}}})
}
