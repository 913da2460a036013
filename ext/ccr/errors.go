package ccr

import (
	"errors"
	"net/http"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ext/dialect"
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
var errorTable = dialect.Table[string]{
	{Kind: domain.ErrUnavailable, Status: http.StatusServiceUnavailable, Code: CodeInternal},
	{Kind: domain.ErrFull, Status: http.StatusInsufficientStorage, Code: CodeInternal},
	{Kind: auth.ErrUnauthenticated, Status: http.StatusUnauthorized, Code: CodeAuthFailed,
		Message: "authentication failed: send HTTP Basic credentials or a berth token"},
	{Kind: errParam, Status: http.StatusBadRequest, Code: CodeParam},
	{Kind: dialect.ErrBadPath, Status: http.StatusBadRequest, Code: CodeParam},
	{Kind: dialect.ErrBadBody, Status: http.StatusBadRequest, Code: CodeParam},
	{Kind: domain.ErrInvalid, Status: http.StatusBadRequest, Code: CodeParam},
	{Kind: auth.ErrInvalid, Status: http.StatusBadRequest, Code: CodeParam},
	{Kind: auth.ErrWeakPassword, Status: http.StatusBadRequest, Code: CodeParam},
	{Kind: dialect.ErrMethod, Status: http.StatusMethodNotAllowed, Code: CodeForbid},
	{Kind: auth.ErrDenied, Status: http.StatusForbidden, Code: CodeDenied},
	{Kind: domain.ErrDenied, Status: http.StatusForbidden, Code: CodeDenied},
	{Kind: dialect.ErrCrossSite, Status: http.StatusForbidden, Code: CodeDenied},
	{Kind: errForbid, Status: http.StatusForbidden, Code: CodeForbid},
	{Kind: domain.ErrNotEmpty, Status: http.StatusForbidden, Code: CodeForbid},
	{Kind: domain.ErrQuotaExceeded, Status: http.StatusForbidden, Code: CodeForbid},
	{Kind: domain.ErrReferenced, Status: http.StatusForbidden, Code: CodeForbid},
	{Kind: errNotFound, Status: http.StatusNotFound, Code: CodeNotExists},
	{Kind: dialect.ErrNoRoute, Status: http.StatusNotFound, Code: CodeNotExists},
	// A hidden project looks exactly like a missing one.
	{Kind: auth.ErrNotFound, Status: http.StatusNotFound, Code: CodeNotExists, Message: "project not found"},
	{Kind: domain.ErrNotFound, Status: http.StatusNotFound, Code: CodeNotExists},
	{Kind: domain.ErrAlreadyExists, Status: http.StatusConflict, Code: CodeAlreadyExists},
	{Kind: errNoCharts, Status: http.StatusNotImplemented, Code: CodeInternal},
	{Status: http.StatusInternalServerError, Code: CodeInternal},
}

// envelopeJSON is the part every CCR answer carries.
type envelopeJSON struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"requestId"`
}

// envelope writes a failure in the CCR envelope.
func (h *handler) envelope(w http.ResponseWriter, r *http.Request, f dialect.Failure[string]) {
	h.JSON(w, f.Status, envelopeJSON{Code: f.Code, Message: f.Message, RequestID: observe.RequestID(r.Context())})
}

// ok writes a success answer: the envelope plus fields (nil: none).
func (h *handler) ok(w http.ResponseWriter, r *http.Request, fields map[string]any) error {
	out := map[string]any{"code": CodeSuccess, "message": successMessage, "requestId": observe.RequestID(r.Context())}
	for k, v := range fields {
		out[k] = v
	}
	h.JSON(w, http.StatusOK, out)
	return nil
}
