package harborv1

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/registry/domain"
	"github.com/berth-registry/berth/registry/observe"
)

// Dialect-local error kinds, mapped by the table below like the core's.
var (
	errBadParam = errors.New("bad parameter")
	errNotFound = errors.New("not found")
	errMethod   = errors.New("method not allowed")
)

// Dialect failures are *domain.Error values of the kinds above, so one
// table maps them together with the core's.

func badParam(format string, args ...any) error {
	return domain.Errorf(errBadParam, format, args...)
}

func notFound(format string, args ...any) error {
	return domain.Errorf(errNotFound, format, args...)
}

// errorTable is the dialect's one mapping of core and dialect errors to
// HTTP statuses; the first kind that matches wins, anything else is 500.
var errorTable = []struct {
	kind   error
	status int
}{
	{domain.ErrUnavailable, http.StatusServiceUnavailable},
	{domain.ErrFull, http.StatusInsufficientStorage},
	{auth.ErrUnauthenticated, http.StatusUnauthorized},
	{errBadParam, http.StatusBadRequest},
	{domain.ErrInvalid, http.StatusBadRequest},
	{errMethod, http.StatusMethodNotAllowed},
	{auth.ErrNotFound, http.StatusNotFound},
	{domain.ErrNotFound, http.StatusNotFound},
	{errNotFound, http.StatusNotFound},
	{auth.ErrDenied, http.StatusForbidden},
	{domain.ErrDenied, http.StatusForbidden},
	{domain.ErrQuotaExceeded, http.StatusForbidden},
	{domain.ErrAlreadyExists, http.StatusConflict},
	{domain.ErrNotEmpty, http.StatusConflict},
}

// result is the seed's one JSON reply shape, {"code":0,"msg":""} on a
// delete; errors carry the HTTP status as code.
type result struct {
	Code int    `json:"code"`
	Msg  string `json:"msg"`
}

// classify returns the status and client message for err.
func classify(err error) (int, string) {
	err = domain.Classify(err)
	for _, e := range errorTable {
		if !errors.Is(err, e.kind) {
			continue
		}
		switch e.kind {
		case auth.ErrUnauthenticated:
			return e.status, "authentication required: send Basic credentials or a berth token"
		case auth.ErrNotFound:
			return e.status, "project not found" // a hidden project looks exactly like a missing one
		case auth.ErrDenied:
			return e.status, "permission denied"
		case errMethod:
			return e.status, "method not allowed"
		}
		return e.status, err.Error()
	}
	return http.StatusInternalServerError, "internal error"
}

// fail writes err as {"code":<status>,"msg":"..."} with that status,
// logging what the client is not told.
func (a *api) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := classify(err)
	switch status {
	case http.StatusInternalServerError:
		a.log.ErrorContext(r.Context(), "harbor v1 request failed", "request_id", observe.RequestID(r.Context()),
			"method", r.Method, "path", r.URL.EscapedPath(), "err", err)
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Basic realm="berth"`)
	}
	writeJSON(w, status, result{Code: status, Msg: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
