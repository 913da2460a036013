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
)

// Dialect failures are *domain.Error values of the kinds above, so one
// table maps them together with the core's.

func badParam(format string, args ...any) error {
	return domain.Errorf(errBadParam, format, args...)
}

// errorTable is the dialect's one mapping of core and dialect errors to
// HTTP statuses (Harbor's code is the status); the first kind that
// matches wins, anything else is 500.
var errorTable = dialect.NewTable(
	dialect.Faults(0, 0),
	dialect.Unauthenticated(0, "authentication required: send Basic credentials or a berth token"),
	dialect.Invalid(0, errBadParam),
	[]dialect.Row[int]{{Kind: dialect.ErrMethod, Status: http.StatusMethodNotAllowed, Message: "method not allowed"}},
	dialect.NotFound(0, "project not found"),
	[]dialect.Row[int]{{Kind: auth.ErrDenied, Status: http.StatusForbidden, Message: "permission denied"}},
	dialect.Denied(0, domain.ErrQuotaExceeded),
	dialect.Rows(http.StatusConflict, 0, domain.ErrAlreadyExists, domain.ErrNotEmpty),
	dialect.Internal(http.StatusInternalServerError, 0, ""),
)

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
