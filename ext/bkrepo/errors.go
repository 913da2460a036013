package bkrepo

import (
	"errors"
	"net/http"

	"github.com/berth-registry/berth/ext/dialect"
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

// errorTable is the dialect's one error table: core and dialect error
// kinds to HTTP status and bk-repo code. Anything unknown is internal.
var errorTable = dialect.NewTable(
	dialect.Faults(CodeInternal, CodeInternal),
	dialect.Rows(http.StatusBadRequest, CodeParamMissing, errMissing),
	dialect.Invalid(CodeParamInvalid, errInvalid),
	dialect.Method(CodeParamInvalid),
	dialect.Unauthenticated(CodeUnauthenticated, ""),
	dialect.Denied(CodeDenied),
	dialect.NotFound(CodeNotFound, "project not found", errNotFound),
	dialect.Internal(http.StatusInternalServerError, CodeInternal, ""),
)

// envelopeJSON is every JSON response of the dialect.
type envelopeJSON struct {
	Code    int     `json:"code"`
	Message *string `json:"message"`
	Data    any     `json:"data"`
	TraceID string  `json:"traceId"`
}

// ok writes a success envelope (message null, as bk-repo does); traceId
// is the request id of the X-Request-Id header and the log.
func (a *api) ok(w http.ResponseWriter, r *http.Request, data any) error {
	a.JSON(w, http.StatusOK, envelopeJSON{Code: CodeOK, Data: data, TraceID: observe.RequestID(r.Context())})
	return nil
}

// envelope writes a failure.
func (a *api) envelope(w http.ResponseWriter, r *http.Request, f dialect.Failure[int]) {
	a.JSON(w, f.Status, envelopeJSON{Code: f.Code, Message: &f.Message, TraceID: observe.RequestID(r.Context())})
}

func isNotFound(err error) bool { return errors.Is(err, domain.ErrNotFound) }

func errorsIsInvalid(err error) bool { return errors.Is(err, domain.ErrInvalid) }
