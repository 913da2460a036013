package ccr

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/registry/domain"
	"github.com/berth-registry/berth/registry/observe"
)

// CCR response codes (seed 004, 1.15). The seed's examples answer success
// with "CCR.Success"; its table calls it CCR.CodeSuccess.
const (
	CodeSuccess       = "CCR.Success"
	CodeInternal      = "CCR.CodeInternalError"
	CodeParam         = "CCR.CodeParamError"
	CodeNotExists     = "CCR.CodeErrNotExists"
	CodeAlreadyExists = "CCR.CodeErrAlreadyExists"
	CodeForbid        = "CCR.CodeForbidOperate"
	CodeAuthFailed    = "CCR.RespAuthFailed"
	CodeDenied        = "CCR.RespPermissionDenied"
)

// successMessage is the seed's message of every successful call.
const successMessage = "调用成功"

// Error kinds of the dialect itself; core kinds come from domain and auth.
var (
	errParam    = errors.New("parameter error")
	errNotFound = errors.New("not found")
	errForbid   = errors.New("operation forbidden")
	errMethod   = errors.New("method not allowed")
	errNoCharts = errors.New("chart repository not available")
)

// Dialect failures are *domain.Error values of the kinds above, so one
// table maps them together with the core's.

func badParam(format string, args ...any) error {
	return domain.Errorf(errParam, format, args...)
}

func notFound(format string, args ...any) error {
	return domain.Errorf(errNotFound, format, args...)
}

func forbidden(format string, args ...any) error {
	return domain.Errorf(errForbid, format, args...)
}

// errorTable is the dialect's one mapping of core and dialect errors to
// HTTP status and CCR code; the first kind that matches wins. Anything
// unknown is a 500 CCR.CodeInternalError.
var errorTable = []struct {
	kind   error
	status int
	code   string
}{
	{domain.ErrUnavailable, http.StatusServiceUnavailable, CodeInternal},
	{domain.ErrFull, http.StatusInsufficientStorage, CodeInternal},
	{auth.ErrUnauthenticated, http.StatusUnauthorized, CodeAuthFailed},
	{errParam, http.StatusBadRequest, CodeParam},
	{domain.ErrInvalid, http.StatusBadRequest, CodeParam},
	{auth.ErrInvalid, http.StatusBadRequest, CodeParam},
	{auth.ErrWeakPassword, http.StatusBadRequest, CodeParam},
	{errMethod, http.StatusMethodNotAllowed, CodeForbid},
	{auth.ErrDenied, http.StatusForbidden, CodeDenied},
	{domain.ErrDenied, http.StatusForbidden, CodeDenied},
	{errForbid, http.StatusForbidden, CodeForbid},
	{domain.ErrNotEmpty, http.StatusForbidden, CodeForbid},
	{domain.ErrQuotaExceeded, http.StatusForbidden, CodeForbid},
	{domain.ErrReferenced, http.StatusForbidden, CodeForbid},
	{errNotFound, http.StatusNotFound, CodeNotExists},
	{auth.ErrNotFound, http.StatusNotFound, CodeNotExists},
	{domain.ErrNotFound, http.StatusNotFound, CodeNotExists},
	{domain.ErrAlreadyExists, http.StatusConflict, CodeAlreadyExists},
	{errNoCharts, http.StatusNotImplemented, CodeInternal},
}

// classify returns the status, code and client message for err.
func classify(err error) (int, string, string) {
	err = domain.Classify(err)
	for _, e := range errorTable {
		if !errors.Is(err, e.kind) {
			continue
		}
		msg := err.Error()
		switch {
		case errors.Is(err, auth.ErrNotFound):
			msg = "project not found" // a hidden project looks exactly like a missing one
		case e.kind == auth.ErrUnauthenticated:
			msg = "authentication failed: send HTTP Basic credentials or a berth token"
		}
		return e.status, e.code, msg
	}
	return http.StatusInternalServerError, CodeInternal, "internal error"
}

type requestIDKey struct{}

// requestID is the id berth's request middleware gave this request (the
// X-Request-Id header and the access log's request_id), or the one
// withRequestID made when the dialect is served without that middleware.
func requestID(r *http.Request) string {
	if id := observe.RequestID(r.Context()); id != "" {
		return id
	}
	id, _ := r.Context().Value(requestIDKey{}).(string)
	return id
}

// withRequestID makes sure every answer has a request id, also when the
// dialect runs outside berth's middleware (unit tests, embedding).
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if observe.RequestID(r.Context()) == "" {
			b := make([]byte, 12)
			_, _ = rand.Read(b)
			id := hex.EncodeToString(b)
			w.Header().Set(observe.Header, id)
			r = r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id))
		}
		next.ServeHTTP(w, r)
	})
}

// envelope is the part every CCR answer carries.
type envelope struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"requestId"`
}

// ok writes a success answer: the envelope plus fields (nil: none).
func ok(w http.ResponseWriter, r *http.Request, fields map[string]any) {
	out := map[string]any{"code": CodeSuccess, "message": successMessage, "requestId": requestID(r)}
	for k, v := range fields {
		out[k] = v
	}
	writeJSON(w, http.StatusOK, out)
}

// fail writes err in the CCR envelope with the status of the table,
// logging with the request id what the client is not told.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, code, msg := classify(err)
	if status == http.StatusInternalServerError {
		h.log.ErrorContext(r.Context(), "ccr request failed", "request_id", requestID(r),
			"method", r.Method, "path", r.URL.EscapedPath(), "err", err)
	} else {
		h.log.DebugContext(r.Context(), "ccr request refused", "request_id", requestID(r),
			"status", status, "code", code, "err", err)
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="berth"`)
	}
	writeJSON(w, status, envelope{Code: code, Message: msg, RequestID: requestID(r)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
