package charts

import (
	"errors"
	"net/http"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ext/dialect"
	"github.com/berth-registry/berth/registry/domain"
)

// errTooLarge is a chart upload over the limits; the other kinds are the
// core's (domain, auth). Every error is a *domain.Error, so callers of the
// Service (the CCR dialect) map core kinds without knowing this package's.
var errTooLarge = errors.New("too large")

func invalid(format string, args ...any) error {
	return domain.Errorf(domain.ErrInvalid, format, args...)
}

func notFound(format string, args ...any) error {
	return domain.Errorf(domain.ErrNotFound, format, args...)
}

// errorTable is the one error table: core and chart error kinds to HTTP
// status and Harbor's error code. Anything unknown is internal.
var errorTable = dialect.Table[string]{
	{Kind: domain.ErrUnavailable, Status: http.StatusServiceUnavailable, Code: "SERVICE_UNAVAILABLE"},
	{Kind: domain.ErrFull, Status: http.StatusInsufficientStorage, Code: "INSUFFICIENT_STORAGE"},
	{Kind: domain.ErrInvalid, Status: http.StatusBadRequest, Code: "BAD_REQUEST"},
	{Kind: dialect.ErrBadPath, Status: http.StatusBadRequest, Code: "BAD_REQUEST"},
	{Kind: dialect.ErrBadBody, Status: http.StatusBadRequest, Code: "BAD_REQUEST"},
	{Kind: errTooLarge, Status: http.StatusRequestEntityTooLarge, Code: "PAYLOAD_TOO_LARGE"},
	{Kind: dialect.ErrMethod, Status: http.StatusMethodNotAllowed, Code: "METHOD_NOT_ALLOWED"},
	{Kind: auth.ErrUnauthenticated, Status: http.StatusUnauthorized, Code: "UNAUTHORIZED"},
	{Kind: auth.ErrDenied, Status: http.StatusForbidden, Code: "FORBIDDEN"},
	{Kind: domain.ErrDenied, Status: http.StatusForbidden, Code: "FORBIDDEN"},
	{Kind: domain.ErrQuotaExceeded, Status: http.StatusForbidden, Code: "FORBIDDEN"},
	{Kind: dialect.ErrCrossSite, Status: http.StatusForbidden, Code: "FORBIDDEN"},
	// A hidden project looks exactly like a missing one.
	{Kind: auth.ErrNotFound, Status: http.StatusNotFound, Code: "NOT_FOUND", Message: "project not found"},
	{Kind: domain.ErrNotFound, Status: http.StatusNotFound, Code: "NOT_FOUND"},
	{Kind: dialect.ErrNoRoute, Status: http.StatusNotFound, Code: "NOT_FOUND"},
	{Kind: domain.ErrAlreadyExists, Status: http.StatusConflict, Code: "CONFLICT"},
	{Status: http.StatusInternalServerError, Code: "INTERNAL_SERVER_ERROR"},
}

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
