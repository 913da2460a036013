package harborv1

import (
	"errors"
	"net/http"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ext/dialect"
	"github.com/berth-registry/berth/registry/domain"
)

// Dialect-local error kinds, mapped by the table below like the core's.
var (
	errBadParam = errors.New("bad parameter")
	errNotFound = errors.New("not found")
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
// HTTP statuses (Harbor's code is the status); the first kind that
// matches wins, anything else is 500.
var errorTable = dialect.Table[int]{
	{Kind: domain.ErrUnavailable, Status: http.StatusServiceUnavailable},
	{Kind: domain.ErrFull, Status: http.StatusInsufficientStorage},
	{Kind: auth.ErrUnauthenticated, Status: http.StatusUnauthorized, Message: "authentication required: send Basic credentials or a berth token"},
	{Kind: errBadParam, Status: http.StatusBadRequest},
	{Kind: dialect.ErrBadPath, Status: http.StatusBadRequest},
	{Kind: dialect.ErrBadBody, Status: http.StatusBadRequest},
	{Kind: domain.ErrInvalid, Status: http.StatusBadRequest},
	{Kind: dialect.ErrMethod, Status: http.StatusMethodNotAllowed, Message: "method not allowed"},
	// A hidden project looks exactly like a missing one.
	{Kind: auth.ErrNotFound, Status: http.StatusNotFound, Message: "project not found"},
	{Kind: domain.ErrNotFound, Status: http.StatusNotFound},
	{Kind: errNotFound, Status: http.StatusNotFound},
	{Kind: dialect.ErrNoRoute, Status: http.StatusNotFound},
	{Kind: auth.ErrDenied, Status: http.StatusForbidden, Message: "permission denied"},
	{Kind: domain.ErrDenied, Status: http.StatusForbidden},
	{Kind: dialect.ErrCrossSite, Status: http.StatusForbidden},
	{Kind: domain.ErrQuotaExceeded, Status: http.StatusForbidden},
	{Kind: domain.ErrAlreadyExists, Status: http.StatusConflict},
	{Kind: domain.ErrNotEmpty, Status: http.StatusConflict},
	{Status: http.StatusInternalServerError},
}

// result is the seed's one JSON reply shape, {"code":0,"msg":""} on a
// delete; errors carry the HTTP status as code.
type result struct {
	Code int    `json:"code"`
	Msg  string `json:"msg"`
}

// envelope writes a failure as {"code":<status>,"msg":"..."} with that
// status.
func (a *api) envelope(w http.ResponseWriter, _ *http.Request, f dialect.Failure[int]) {
	a.JSON(w, f.Status, result{Code: f.Status, Msg: f.Message})
}
