package dialect

import (
	"context"
	"net/http"

	"github.com/berth-registry/berth/registry/domain"
)

// durableWriter holds a handler's success until what the request wrote to
// storage is durable (domain.Durable): a dialect mounted under /v2 (SWR's
// /v2/manage) writes through the OCI API's deferred syncs, and when they
// fail the client gets the failure in the dialect's envelope, with none of
// the success's headers or body. Error statuses go out as written.
type durableWriter struct {
	http.ResponseWriter
	r       *http.Request
	durable func(context.Context) error // domain.Durable
	fail    func(w http.ResponseWriter, r *http.Request, err error)
	decided bool
	failed  error // the barrier's failure, answered already
}

func (w *durableWriter) WriteHeader(code int) {
	if w.failed != nil {
		return
	}
	if code < 200 { // informational: the answer is still to come
		w.ResponseWriter.WriteHeader(code)
		return
	}
	if !w.decided && code < 300 {
		w.decided = true
		if err := w.durable(w.r.Context()); err != nil {
			w.failed = err
			h := w.Header()
			for _, k := range domain.SuccessHeaders {
				h.Del(k)
			}
			w.fail(w.ResponseWriter, w.r, err)
			return
		}
	}
	w.decided = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *durableWriter) Write(b []byte) (int, error) {
	if !w.decided {
		w.WriteHeader(http.StatusOK)
	}
	if w.failed != nil {
		return len(b), nil // the success's body: the failure went out instead
	}
	return w.ResponseWriter.Write(b)
}

// done ends a handler that succeeded: one that wrote nothing answers 200
// (as net/http would) after the same barrier. It returns the barrier's
// failure, already answered.
func (w *durableWriter) done() error {
	if !w.decided {
		w.WriteHeader(http.StatusOK)
	}
	return w.failed
}

// Unwrap lets http.ResponseController reach the connection.
func (w *durableWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
