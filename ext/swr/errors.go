package swr

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/berth-registry/berth/auth"
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
	errMethod   = errors.New("method not allowed")
)

func badParam(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadParam, fmt.Sprintf(format, args...))
}

func badBody(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadBody, fmt.Sprintf(format, args...))
}

// errorTable is the one mapping of core and dialect errors to SWR answers;
// the first kind that matches wins.
var errorTable = []struct {
	kind   error
	status int
	code   string
}{
	{domain.ErrUnavailable, http.StatusServiceUnavailable, CodeUnavailable},
	{domain.ErrFull, http.StatusInsufficientStorage, CodeFull},
	{auth.ErrUnauthenticated, http.StatusUnauthorized, CodeUnauthorized},
	{errBadParam, http.StatusBadRequest, CodeBadParam},
	{errBadBody, http.StatusBadRequest, CodeBadBody},
	{domain.ErrInvalid, http.StatusBadRequest, CodeBadParam},
	{auth.ErrNotFound, http.StatusNotFound, CodeNotFound},
	{domain.ErrNotFound, http.StatusNotFound, CodeNotFound},
	{auth.ErrDenied, http.StatusForbidden, CodeDenied},
	{domain.ErrDenied, http.StatusForbidden, CodeDenied},
	{domain.ErrQuotaExceeded, http.StatusForbidden, CodeQuota},
	{domain.ErrAlreadyExists, http.StatusConflict, CodeExists},
	{domain.ErrNotEmpty, http.StatusConflict, CodeNotEmpty},
	{errMethod, http.StatusMethodNotAllowed, CodeMethod},
}

// errorBody is SWR's error envelope.
type errorBody struct {
	Code string `json:"error_code"`
	Msg  string `json:"error_msg"`
}

// classify returns the status, code and client message for err.
func classify(err error) (int, string, string) {
	err = domain.Classify(err)
	for _, e := range errorTable {
		if errors.Is(err, e.kind) {
			msg := err.Error()
			switch e.kind {
			case auth.ErrNotFound:
				msg = "namespace not found" // never tell a hidden namespace from a missing one
			case auth.ErrUnauthenticated:
				msg = "authentication required: send X-Auth-Token (a berth token) or Basic credentials"
			case auth.ErrDenied:
				msg = "permission denied"
			}
			return e.status, e.code, msg
		}
	}
	return http.StatusInternalServerError, CodeInternal, "internal error"
}

// fail writes err in SWR's shape, logging what the client is not told.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, code, msg := classify(err)
	if status == http.StatusInternalServerError {
		h.log.ErrorContext(r.Context(), "swr", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="berth"`)
	}
	writeJSON(w, status, errorBody{Code: code, Msg: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

// contentRange sets SWR's Content-Range: offset-count/total.
func contentRange(w http.ResponseWriter, offset, count int, total int64) {
	w.Header().Set("Content-Range", fmt.Sprintf("%d-%d/%d", offset, count, total))
}
