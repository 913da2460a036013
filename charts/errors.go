package charts

import (
	"errors"
	"net/http"

	"github.com/berth-registry/berth/ext/dialect"
	"github.com/berth-registry/berth/registry/domain"
)

// errTooLarge is a chart upload over the limits; the other kinds are the
// core's (domain, auth). Every error is a *domain.Error, so callers of the
// Service (the CCR dialect) map core kinds without knowing this package's.
var errTooLarge = errors.New("too large")

// errorTable is the one error table: core and chart error kinds to HTTP
// status and Harbor's error code. Anything unknown is internal.
var errorTable = dialect.NewTable(
	dialect.Faults("SERVICE_UNAVAILABLE", "INSUFFICIENT_STORAGE"),
	dialect.Invalid("BAD_REQUEST"),
	dialect.Rows(http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE", errTooLarge),
	dialect.Method("METHOD_NOT_ALLOWED"),
	dialect.Unauthenticated("UNAUTHORIZED", ""),
	dialect.Denied("FORBIDDEN", domain.ErrQuotaExceeded),
	dialect.NotFound("NOT_FOUND", "project not found"),
	dialect.Rows(http.StatusConflict, "CONFLICT", domain.ErrAlreadyExists),
	dialect.Internal(http.StatusInternalServerError, "INTERNAL_SERVER_ERROR", ""),
)

type errorBody struct {
	Errors []errorItem `json:"errors"`
}

type errorItem struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// envelope writes a failure in Harbor's shape.
func (a *api) envelope(w http.ResponseWriter, _ *http.Request, f dialect.Failure[string]) {
	a.JSON(w, f.Status, errorBody{Errors: []errorItem{{Code: f.Code, Message: f.Message}}})
}
