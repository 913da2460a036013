package registry

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/berth-registry/berth/registry/domain"
	"github.com/berth-registry/berth/registry/observe"
	"github.com/berth-registry/berth/storage"
	"github.com/berth-registry/berth/storage/metadata"
)

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
		id := observe.NewRequestID()
		w.Header()[observe.Header] = []string{id} // canonical already
		ctx, fault := storage.WithFaultMark(observe.WithRequest(r.Context(), id))
		r = r.WithContext(ctx)
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		took := time.Since(start)
		observeRequest(r, status, sw.bytes, took)
		countFaults(ctx)
		level := slog.LevelInfo
		attrs := []slog.Attr{ // built in one go: observe.Handler adds nothing
			slog.String(observe.KeyRequestID, id),
			slog.String("method", r.Method),
			slog.String("path", truncate(r.URL.EscapedPath(), 1024)),
			slog.Int("status", status),
			slog.Int64("bytes", sw.bytes),
			slog.Duration("duration", took),
			slog.String("remote", r.RemoteAddr),
		}
		if u := observe.User(ctx); u != "" {
			attrs = append(attrs, slog.String(observe.KeyUser, u))
		}
		switch {
		case status >= 500:
			level = slog.LevelError
		case status < 400 && fault() != storage.NoFault:
			// The status went out before a backend failed: the answer was
			// cut short (the client sees a short body or a reset).
			level = slog.LevelError
			attrs = append(attrs, slog.String("error", "a backend failed after the response started: the answer was cut short"))
		}
		log.LogAttrs(ctx, level, "request", attrs...)
	})
}

// withActivity counts the requests that change something while they are
// in flight (observe.Activity): retention runs give way to them.
func withActivity(a *observe.Activity, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			next.ServeHTTP(w, r)
			return
		}
		ctx, end := a.Begin(r.Context())
		defer end()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// countFaults counts what each backend's failures did to the request.
func countFaults(ctx context.Context) {
	st, db := storage.FaultsBy(ctx)
	for _, f := range []struct {
		backend string
		fault   storage.Fault
	}{{"storage", st}, {"database", db}} {
		switch f.fault {
		case storage.Unavailable:
			backendFaults.WithValues(f.backend, "unavailable").Inc()
		case storage.Full:
			backendFaults.WithValues(f.backend, "full").Inc()
		}
	}
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
				log.ErrorContext(r.Context(), "panic serving request", "panic", v, "stack", string(debug.Stack()))
				writeOCIError(w, http.StatusInternalServerError, "UNKNOWN", "internal error")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// withUnavailable answers 503 (a backend did not answer) or 507 (a disk is
// full) instead of distribution's generic 500 when the request failed for
// that reason. A success status is held back until the first byte of the
// body, so a blob whose stream cannot be opened still gets a clean 503
// rather than a 200 with a truncated body. Only the OCI API (/v2) is
// rewritten: the management dialects, SWR's under /v2/manage too, answer
// faults in their own envelopes.
//
// Any other 5xx of the OCI API is answered as a plain internal error: what
// distribution would put in its detail (storage paths, driver messages) is
// logged with the request id, never sent.
//
// Every request's commits to the index (db) are tracked, so that its
// success waits for them to be durable too (metadata.Durable; a dialect's
// through domain.Durable).
func withUnavailable(log *slog.Logger, db *metadata.DB, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := metadata.TrackCommits(r.Context(), db)
		if !strings.HasPrefix(r.URL.Path, "/v2") {
			if ctx != r.Context() { // PostgreSQL tracks nothing: no copy of the request
				r = r.WithContext(ctx)
			}
			next.ServeHTTP(w, r)
			return
		}
		ctx, barrier := storage.WithDeferredSyncs(ctx)
		r = r.WithContext(ctx)
		uw := &unavailableWriter{ResponseWriter: w, fault: storage.FaultOf(ctx), ctx: ctx, barrier: domain.WithIndex(ctx, barrier)}
		next.ServeHTTP(uw, r)
		uw.finish()
		if uw.internal != nil {
			log.ErrorContext(ctx, "internal error", "method", r.Method,
				"path", truncate(r.URL.EscapedPath(), 512), "body", truncate(uw.internal.String(), 2048))
		}
	})
}

type unavailableWriter struct {
	http.ResponseWriter
	ctx       context.Context
	fault     func() storage.Fault
	barrier   func() error // the request's deferred syncs (storage.WithDeferredSyncs)
	pending   int          // success status not yet sent
	committed bool
	swallow   bool
	internal  *bytes.Buffer // the body of a 500 distribution wrote (logged)
}

func (w *unavailableWriter) WriteHeader(code int) {
	if w.committed || w.swallow || w.pending != 0 {
		return
	}
	if observe.Route(w.ctx) != "" {
		// A dialect mounted under /v2 (SWR's /v2/manage) answered in its
		// own envelope.
		w.commit(code)
		return
	}
	if code >= 400 && w.fault() != storage.NoFault {
		// Refused because a backend failed (distribution answers an access
		// controller that cannot decide with 400): not the client's fault.
		w.fail()
		return
	}
	if code == http.StatusInternalServerError {
		w.swallow, w.internal = true, new(bytes.Buffer)
		h := w.Header()
		h.Del("Content-Length")
		writeOCIError(w.ResponseWriter, code, "UNKNOWN", "internal error (request id "+h.Get(observe.Header)+")")
		return
	}
	if code >= 200 && code < 300 {
		w.pending = code
		return
	}
	w.commit(code)
}

func (w *unavailableWriter) commit(code int) {
	if code >= 200 && code < 300 && !w.durable() {
		return
	}
	w.committed = true
	w.ResponseWriter.WriteHeader(code)
}

// durable makes what the request wrote durable before a success goes out
// (storage.WithDeferredSyncs); when it cannot be, the answer is the
// failure instead, and nothing of the success is sent.
func (w *unavailableWriter) durable() bool {
	err := w.barrier()
	if err == nil {
		return true
	}
	storage.Observe(w.ctx, err)
	if w.fault() != storage.NoFault {
		w.fail()
		return false
	}
	w.swallow, w.internal = true, bytes.NewBufferString("storage sync: "+err.Error())
	h := w.Header()
	for _, k := range domain.SuccessHeaders {
		h.Del(k)
	}
	writeOCIError(w.ResponseWriter, http.StatusInternalServerError, "UNKNOWN", "internal error (request id "+h.Get(observe.Header)+")")
	return false
}

func (w *unavailableWriter) fail() {
	w.swallow = true
	h := w.Header()
	for _, k := range domain.SuccessHeaders {
		h.Del(k)
	}
	if w.fault() == storage.Full {
		writeOCIError(w.ResponseWriter, http.StatusInsufficientStorage, "UNAVAILABLE",
			"storage is full: nothing was stored, try again once space is freed")
		return
	}
	writeOCIError(w.ResponseWriter, http.StatusServiceUnavailable, "UNAVAILABLE",
		"a backend (storage or the metadata database) did not answer, try again later")
}

// truncate bounds what a log line carries of client-controlled text.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "...(" + strconv.Itoa(len(s)) + " bytes)"
}

func (w *unavailableWriter) Write(b []byte) (int, error) {
	if w.swallow {
		if w.internal != nil && w.internal.Len() < 4096 {
			w.internal.Write(b)
		}
		return len(b), nil
	}
	if !w.committed {
		code := w.pending
		if code == 0 {
			code = http.StatusOK
		}
		w.commit(code)
		if w.swallow {
			return w.Write(b)
		}
	}
	return w.ResponseWriter.Write(b)
}

// finish sends a held-back status, or a 503 if storage failed before any
// byte of the body could be sent.
func (w *unavailableWriter) finish() {
	if w.committed || w.swallow {
		return
	}
	if w.pending == 0 {
		// Nothing written at all: net/http sends a 200 once the handler
		// returns, which must not come before the request's syncs.
		w.durable() // which answers a failure itself
		return
	}
	if w.fault() != storage.NoFault {
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
	if status == http.StatusServiceUnavailable || status == http.StatusInsufficientStorage {
		w.Header().Set("Retry-After", "5")
	}
	writeJSON(w, status, map[string]any{"errors": []map[string]any{{
		"code": strings.ToUpper(code), "message": msg,
	}}})
}
