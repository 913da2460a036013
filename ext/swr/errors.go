package swr

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ext/dialect"
	"github.com/berth-registry/berth/registry/domain"
)

// SWR error codes. The seed names the 400, 401, 404 and 500 codes; the 403,
// 405 and 409 codes are berth's choice in the same numbering.
const (
	CodeBadParam     = "SVCSTG.SWR.4000014" // a path or query parameter is invalid
	CodeBadBody      = "SVCSTG.SWR.4001025" // the request body is invalid
	CodeUnauthorized = "SVCSTG.SWR.4010000" // no or bad X-Auth-Token / Basic credentials
	CodeDenied       = "SVCSTG.SWR.4030000" // authenticated but not allowed
	CodeQuota        = "SVCSTG.SWR.4030001" // quota exceeded
	CodeNotFound     = "SVCSTG.SWR.4040010" // namespace, repository or tag missing (or invisible)
	CodeMethod       = "SVCSTG.SWR.4050000" // method not allowed on an SWR path
	CodeExists       = "SVCSTG.SWR.4090000" // namespace or repository already exists
	CodeNotEmpty     = "SVCSTG.SWR.4090001" // namespace still holds repositories
	CodeInternal     = "SVCSTG.SWR.5000008" // anything else
	CodeUnavailable  = "SVCSTG.SWR.5030000" // storage or database did not answer
	CodeFull         = "SVCSTG.SWR.5070000" // storage or database disk full
)

// Dialect-local error kinds, mapped by the table below like the core's.
var (
	errBadParam = errors.New("invalid parameter")
	errBadBody  = errors.New("invalid request body")
)

func badParam(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadParam, fmt.Sprintf(format, args...))
}

func badBody(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadBody, fmt.Sprintf(format, args...))
}

// errorTable is the one mapping of core and dialect errors to SWR answers;
// the first kind that matches wins.
var errorTable = dialect.NewTable(
	dialect.Faults(CodeUnavailable, CodeFull),
	dialect.Unauthenticated(CodeUnauthorized, "authentication required: send X-Auth-Token (a berth token) or Basic credentials"),
	dialect.Rows(http.StatusBadRequest, CodeBadBody, errBadBody, dialect.ErrBadBody),
	dialect.Invalid(CodeBadParam, errBadParam),
	dialect.NotFound(CodeNotFound, "namespace not found"), // never tell a hidden namespace from a missing one
	[]dialect.Row[string]{{Kind: auth.ErrDenied, Status: http.StatusForbidden, Code: CodeDenied, Message: "permission denied"}},
	dialect.Denied(CodeDenied),
	dialect.Rows(http.StatusForbidden, CodeQuota, domain.ErrQuotaExceeded),
	dialect.Rows(http.StatusConflict, CodeExists, domain.ErrAlreadyExists),
	dialect.Rows(http.StatusConflict, CodeNotEmpty, domain.ErrNotEmpty),
	dialect.Method(CodeMethod),
	dialect.Internal(http.StatusInternalServerError, CodeInternal, ""),
)

// errorBody is SWR's error envelope.
type errorBody struct {
	Code string `json:"error_code"`
	Msg  string `json:"error_msg"`
}

// envelope writes a failure in SWR's shape.
func (h *handler) envelope(w http.ResponseWriter, _ *http.Request, f dialect.Failure[string]) {
	h.JSON(w, f.Status, errorBody{Code: f.Code, Msg: f.Message})
}

// contentRange sets SWR's Content-Range: offset-count/total.
func contentRange(w http.ResponseWriter, offset, count int, total int64) {
	w.Header().Set("Content-Range", fmt.Sprintf("%d-%d/%d", offset, count, total))
}
