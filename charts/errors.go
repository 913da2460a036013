package charts

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/registry/domain"
)

// Error kinds of the chart repository itself; the others are the core's
// (domain, auth). Every error is a *domain.Error, so callers of the Service
// (the CCR dialect) map core kinds without knowing this package's.
var (
	errTooLarge = errors.New("too large")
	errMethod   = errors.New("method not allowed")
)

func invalid(format string, args ...any) error {
	return domain.Errorf(domain.ErrInvalid, format, args...)
}

func notFound(format string, args ...any) error {
	return domain.Errorf(domain.ErrNotFound, format, args...)
}

// classify is the one error table: core and chart error kinds to HTTP
// status and Harbor's error code. Anything unknown is internal.
func classify(err error) (int, string) {
	switch err = domain.Classify(err); {
	case errors.Is(err, domain.ErrUnavailable):
		return http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE"
	case errors.Is(err, domain.ErrFull):
		return http.StatusInsufficientStorage, "INSUFFICIENT_STORAGE"
	case errors.Is(err, domain.ErrInvalid):
		return http.StatusBadRequest, "BAD_REQUEST"
	case errors.Is(err, errTooLarge):
		return http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE"
	case errors.Is(err, errMethod):
		return http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED"
	case errors.Is(err, auth.ErrUnauthenticated):
		return http.StatusUnauthorized, "UNAUTHORIZED"
	case errors.Is(err, auth.ErrDenied), errors.Is(err, domain.ErrDenied), errors.Is(err, domain.ErrQuotaExceeded):
		return http.StatusForbidden, "FORBIDDEN"
	case errors.Is(err, auth.ErrNotFound), errors.Is(err, domain.ErrNotFound):
		return http.StatusNotFound, "NOT_FOUND"
	case errors.Is(err, domain.ErrAlreadyExists):
		return http.StatusConflict, "CONFLICT"
	}
	return http.StatusInternalServerError, "INTERNAL_SERVER_ERROR"
}

type errorBody struct {
	Errors []errorItem `json:"errors"`
}

type errorItem struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// fail writes err in Harbor's shape with the status of the table.
func (a *api) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, code := classify(err)
	msg := domain.Classify(err).Error()
	switch {
	case status == http.StatusInternalServerError:
		a.log.ErrorContext(r.Context(), "chart repository request failed", "method", r.Method, "path", r.URL.EscapedPath(), "err", err)
		msg = "internal error"
	case errors.Is(err, auth.ErrNotFound):
		msg = "project not found" // a hidden project looks exactly like a missing one
	case status == http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Basic realm="berth"`)
	}
	writeJSON(w, status, errorBody{Errors: []errorItem{{Code: code, Message: msg}}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
