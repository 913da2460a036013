package bkrepo

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/registry/domain"
	"github.com/berth-registry/berth/registry/observe"
)

// bk-repo result codes.
const (
	CodeOK              = 0
	CodeInternal        = 250102
	CodeParamMissing    = 250103
	CodeParamInvalid    = 250105
	CodeNotFound        = 250108
	CodeDenied          = 250113
	CodeUnauthenticated = 250114
)

// Error kinds of the dialect itself (core kinds come from domain and auth).
var (
	errMissing  = errors.New("parameter missing")
	errInvalid  = errors.New("parameter invalid")
	errNotFound = errors.New("not found")
	errMethod   = errors.New("method not allowed")
)

// Dialect failures are *domain.Error values of the kinds above, so one
// table maps them together with the core's.

func missing(param string) error {
	return domain.Errorf(errMissing, "parameter %s is missing", param)
}

func invalid(format string, args ...any) error {
	return domain.Errorf(errInvalid, format, args...)
}

func notFound(format string, args ...any) error {
	return domain.Errorf(errNotFound, format, args...)
}

// classify is the dialect's one error table: core and dialect error kinds
// to HTTP status and bk-repo code. Anything unknown is internal.
func classify(err error) (status, code int) {
	switch err = domain.Classify(err); {
	case errors.Is(err, domain.ErrUnavailable):
		return http.StatusServiceUnavailable, CodeInternal
	case errors.Is(err, domain.ErrFull):
		return http.StatusInsufficientStorage, CodeInternal
	case errors.Is(err, errMissing):
		return http.StatusBadRequest, CodeParamMissing
	case errors.Is(err, errInvalid), errors.Is(err, domain.ErrInvalid):
		return http.StatusBadRequest, CodeParamInvalid
	case errors.Is(err, errMethod):
		return http.StatusMethodNotAllowed, CodeParamInvalid
	case errors.Is(err, auth.ErrUnauthenticated):
		return http.StatusUnauthorized, CodeUnauthenticated
	case errors.Is(err, auth.ErrDenied), errors.Is(err, domain.ErrDenied):
		return http.StatusForbidden, CodeDenied
	case errors.Is(err, errNotFound), errors.Is(err, auth.ErrNotFound), errors.Is(err, domain.ErrNotFound):
		return http.StatusNotFound, CodeNotFound
	}
	return http.StatusInternalServerError, CodeInternal
}

// envelope is every JSON response of the dialect.
type envelope struct {
	Code    int     `json:"code"`
	Message *string `json:"message"`
	Data    any     `json:"data"`
	TraceID string  `json:"traceId"`
}

// requestID is the per-request id berth's access log and X-Request-Id carry.
func requestID(r *http.Request) string { return observe.RequestID(r.Context()) }

// ok writes a success envelope (message null, as bk-repo does).
func ok(w http.ResponseWriter, r *http.Request, data any) {
	writeJSON(w, http.StatusOK, envelope{Code: CodeOK, Data: data, TraceID: requestID(r)})
}

// fail writes an error envelope with the status and code of the table.
func (a *api) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, code := classify(err)
	msg := domain.Classify(err).Error()
	switch {
	case status == http.StatusInternalServerError:
		a.log.ErrorContext(r.Context(), "docker ext request failed", "request_id", requestID(r), "path", r.URL.EscapedPath(), "err", err)
		msg = "internal error"
	case errors.Is(err, auth.ErrNotFound):
		msg = "project not found" // a hidden project looks exactly like a missing one
	case status == http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Basic realm="berth"`)
	}
	writeJSON(w, status, envelope{Code: code, Message: &msg, TraceID: requestID(r)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func isNotFound(err error) bool { return errors.Is(err, domain.ErrNotFound) }

func errorsIsInvalid(err error) bool { return errors.Is(err, domain.ErrInvalid) }
