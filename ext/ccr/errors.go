package ccr

import (
	"errors"
	"net/http"

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
	errForbid   = errors.New("operation forbidden")
	errNoCharts = errors.New("chart repository not available")
)

// Dialect failures are *domain.Error values of the kinds above, so one
// table maps them together with the core's.

func forbidden(format string, args ...any) error {
	return domain.Errorf(errForbid, format, args...)
}

// errorTable is the dialect's one mapping of core and dialect errors to
// HTTP status and CCR code; the first kind that matches wins. Anything
// unknown is a 500 CCR.CodeInternalError.
var errorTable = dialect.NewTable(
	dialect.Faults(CodeInternal, CodeInternal),
	dialect.Unauthenticated(CodeAuthFailed, "authentication failed: send HTTP Basic credentials or a berth token"),
	dialect.Invalid(CodeParam),
	dialect.Method(CodeForbid),
	dialect.Denied(CodeDenied),
	dialect.Rows(http.StatusForbidden, CodeForbid, errForbid, domain.ErrNotEmpty, domain.ErrQuotaExceeded, domain.ErrReferenced),
	dialect.NotFound(CodeNotExists, "project not found"),
	dialect.Rows(http.StatusConflict, CodeAlreadyExists, domain.ErrAlreadyExists),
	dialect.Rows(http.StatusNotImplemented, CodeInternal, errNoCharts),
	dialect.Internal(http.StatusInternalServerError, CodeInternal, ""),
)

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
