package imagebuild

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/registry/builder"
	"github.com/berth-registry/berth/registry/domain"
)

// Image market codes (seed 001, part 1). 10401 and 10403 are berth's, in
// the same numbering, for authentication and authorization failures.
const (
	CodeOK              = 10000
	CodeExists          = 10001 // project already exists
	CodeCloneSrcMissing = 10002 // clone source missing
	CodeDeleteMissing   = 10003 // project to delete missing
	CodePluginParam     = 10004 // plugin parameter error
	CodePluginCall      = 10005 // plugin call error
	CodeInvalid         = 10006 // parameter invalid
	CodeBuildMissing    = 10007 // project to build missing, or no build history
	CodeProjectMissing  = 10008 // project missing
	CodePluginMissing   = 10009 // plugin missing
	CodeInternal        = 10100 // internal error
	CodeUnauthenticated = 10401 // no or bad credentials (berth)
	CodeDenied          = 10403 // authenticated, not allowed (berth)
)

// Dialect-local error kinds.
var (
	errInvalid = errors.New("parameter invalid")
	errMethod  = errors.New("method not allowed")
	errOrigin  = errors.New("cross-origin request refused")
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errInvalid, fmt.Sprintf(format, args...))
}

// errorTable is the one mapping of core and dialect errors to the image
// market's answers. A row with an op applies to that route only; the first
// row that matches wins. A Cluster the caller may not see is reported like
// a missing project on reads, and as a bad parameter where it is given.
var errorTable = []struct {
	op     string
	kinds  []error
	status int
	code   int
}{
	{"", []error{domain.ErrUnavailable}, http.StatusServiceUnavailable, CodeInternal},
	{"", []error{domain.ErrFull}, http.StatusInsufficientStorage, CodeInternal},
	{"", []error{auth.ErrUnauthenticated}, http.StatusUnauthorized, CodeUnauthenticated},
	{"", []error{auth.ErrDenied, errOrigin, domain.ErrDenied}, http.StatusForbidden, CodeDenied},
	{"", []error{errMethod}, http.StatusMethodNotAllowed, CodeInvalid},
	{"new", []error{auth.ErrNotFound}, http.StatusBadRequest, CodeInvalid},
	{"save", []error{auth.ErrNotFound}, http.StatusBadRequest, CodeInvalid},
	{"clone", []error{builder.ErrNotFound, auth.ErrNotFound}, http.StatusNotFound, CodeCloneSrcMissing},
	{"delete", []error{builder.ErrNotFound, auth.ErrNotFound}, http.StatusNotFound, CodeDeleteMissing},
	{"build", []error{builder.ErrNotFound, auth.ErrNotFound}, http.StatusNotFound, CodeBuildMissing},
	{"buildHistory", []error{builder.ErrNotFound, auth.ErrNotFound}, http.StatusNotFound, CodeBuildMissing},
	{"", []error{builder.ErrNoHistory}, http.StatusNotFound, CodeBuildMissing},
	{"", []error{builder.ErrNotFound, auth.ErrNotFound}, http.StatusNotFound, CodeProjectMissing},
	{"", []error{builder.ErrExists}, http.StatusConflict, CodeExists},
	{"", []error{builder.ErrPluginMissing}, http.StatusNotFound, CodePluginMissing},
	{"", []error{builder.ErrPluginParam}, http.StatusBadRequest, CodePluginParam},
	{"", []error{builder.ErrPluginCall}, http.StatusBadGateway, CodePluginCall},
	{"", []error{builder.ErrTooLarge}, http.StatusRequestEntityTooLarge, CodeInvalid},
	{"", []error{builder.ErrInvalid, domain.ErrInvalid, errInvalid}, http.StatusBadRequest, CodeInvalid},
	{"", []error{builder.ErrUnavailable}, http.StatusServiceUnavailable, CodeInternal},
}

// classify returns the status, code and message for err on route op.
func classify(op string, err error) (int, int, string) {
	err = domain.Classify(err)
	for _, row := range errorTable {
		if row.op != "" && row.op != op {
			continue
		}
		for _, k := range row.kinds {
			if !errors.Is(err, k) {
				continue
			}
			msg := err.Error()
			switch k {
			case auth.ErrUnauthenticated:
				msg = "authentication required: send Basic credentials"
			case auth.ErrDenied:
				msg = "permission denied"
			case auth.ErrNotFound:
				msg = "project or Cluster not found"
			}
			return row.status, row.code, msg
		}
	}
	return http.StatusInternalServerError, CodeInternal, "server internal error"
}

// envelope is the image market's answer.
type envelope struct {
	Code    int    `json:"code"`
	ErrMsg  string `json:"errMsg"`
	Content any    `json:"content"`
}

// listEnvelope is the answer of list: paging beside the content.
type listEnvelope struct {
	envelope
	Page       int   `json:"page"`
	PageSize   int   `json:"page_size"`
	TotalCount int64 `json:"total_count"`
}

// fail writes err in the envelope, logging what the client is not told.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, op string, err error) {
	status, code, msg := classify(op, err)
	if code == CodeInternal && status == http.StatusInternalServerError {
		h.log.ErrorContext(r.Context(), "imagebuild", "op", op, "path", r.URL.Path, "err", err)
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="berth"`)
	}
	var content any = -1
	switch {
	case code == CodeExists, errors.Is(err, builder.ErrInvalid) && code == CodeInvalid:
		content = msg
	case op == "plugin":
		content = map[string]any{}
	}
	writeJSON(w, status, envelope{Code: code, ErrMsg: msg, Content: content})
}

func (h *handler) ok(w http.ResponseWriter, content any) {
	writeJSON(w, http.StatusOK, envelope{Code: CodeOK, ErrMsg: "ok", Content: content})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
