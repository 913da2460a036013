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

// Image market codes (seed 001, part 1), as each endpoint's own table and
// examples give them. 10401 and 10403 are berth's, in the same numbering,
// for authentication and authorization failures.
const (
	CodeOK              = 10000
	CodeInvalidSave     = 10001 // parameter invalid, in save and buildHistory (their examples)
	CodeCloneSrcMissing = 10002 // clone source missing
	CodeDeleteMissing   = 10003 // project to delete missing
	CodePluginParam     = 10004 // plugin parameter error
	CodePluginCall      = 10005 // plugin call error
	CodeInvalid         = 10006 // parameter invalid; a project that already exists ("项目已存在不能添加")
	CodeBuildMissing    = 10007 // project to build missing
	CodeProjectMissing  = 10008 // project missing
	CodePluginMissing   = 10009 // plugin missing
	CodeInternal        = 10100 // internal error
	CodeUnauthenticated = 10401 // no or bad credentials (berth)
	CodeDenied          = 10403 // authenticated, not allowed (berth)
)

// The seed's errMsg of the two kinds whose examples carry the detail in
// content: {"code":10006,"errMsg":"project already exist","content":"project: aaa already exist"}
// and {"code":10001,"errMsg":"parameter invalid","content":"projectName contains special char: *"}.
const (
	msgExists  = "project already exist"
	msgInvalid = "parameter invalid"
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

// invalidKinds are the errors of a bad parameter, whatever found it.
var invalidKinds = []error{errMethod, builder.ErrTooLarge, builder.ErrInvalid, domain.ErrInvalid, errInvalid}

// errorTable is the one mapping of core and dialect errors to the image
// market's codes. A row with an op applies to that route only; the first
// row that matches wins. A Cluster the caller may not see is reported like
// a missing project on reads, and as a bad parameter where it is given.
//
// Only save and buildHistory show "parameter invalid" as 10001 (their
// special-character examples); every other table has it as 10006. A name
// that already exists is 10006 everywhere ("参数非法，项目已存在不能添加").
//
// The HTTP status is 200 (status 0) but where the status itself is what a
// client or a proxy acts on (see status).
var errorTable = []struct {
	op     string
	kinds  []error
	code   int
	status int
}{
	{"", []error{domain.ErrUnavailable, builder.ErrUnavailable}, CodeInternal, http.StatusServiceUnavailable},
	{"", []error{domain.ErrFull}, CodeInternal, http.StatusInsufficientStorage},
	{"", []error{auth.ErrUnauthenticated}, CodeUnauthenticated, http.StatusUnauthorized},
	{"", []error{auth.ErrDenied, errOrigin, domain.ErrDenied}, CodeDenied, 0},
	{"save", invalidKinds, CodeInvalidSave, 0},
	{"buildHistory", invalidKinds, CodeInvalidSave, 0},
	{"new", []error{auth.ErrNotFound}, CodeInvalid, 0},
	{"save", []error{auth.ErrNotFound}, CodeInvalidSave, 0},
	{"clone", []error{builder.ErrNotFound, auth.ErrNotFound}, CodeCloneSrcMissing, 0},
	{"delete", []error{builder.ErrNotFound, auth.ErrNotFound}, CodeDeleteMissing, 0},
	{"build", []error{builder.ErrNotFound, auth.ErrNotFound}, CodeBuildMissing, 0},
	{"buildHistory", []error{builder.ErrNotFound, auth.ErrNotFound}, CodeBuildMissing, 0},
	{"", []error{builder.ErrNotFound, auth.ErrNotFound}, CodeProjectMissing, 0},
	{"", []error{builder.ErrExists}, CodeInvalid, 0},
	{"", []error{builder.ErrPluginMissing}, CodePluginMissing, 0},
	{"", []error{builder.ErrPluginParam}, CodePluginParam, 0},
	{"", []error{builder.ErrPluginCall}, CodePluginCall, 0},
	{"", invalidKinds, CodeInvalid, 0},
}

// classify returns the code, HTTP status and message for err on route op,
// and the kind that matched (nil: an internal error).
func classify(op string, err error) (int, int, string, error) {
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
			return row.code, status(row.status), msg, k
		}
	}
	return CodeInternal, http.StatusOK, "server internal error", nil
}

// status is the HTTP status of an error answer. The seed documents codes
// only, never a status, and the system it describes answers every
// envelope with 200: a client reads code and errMsg, and one that stopped
// at a non-2xx status would never see them. So every error is 200, but
// where the status is what HTTP acts on, still with the envelope: 401 with
// the Basic challenge (berth's authentication, not the seed's), 503 for
// "try again later" (a backend outage, the build queue full, berth
// stopping) and 507 for full storage.
func status(s int) int {
	if s == 0 {
		return http.StatusOK
	}
	return s
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

// failure is the envelope of err on route op: errMsg and content as the
// seed's examples have them (the detail in content for a name that
// exists and a bad parameter, {} for the plugin call, else -1).
func failure(op string, err error) envelope {
	code, _, msg, kind := classify(op, err)
	env := envelope{Code: code, ErrMsg: msg, Content: -1}
	switch {
	case kind == builder.ErrExists:
		env.ErrMsg, env.Content = msgExists, msg
	case kind != nil && isInvalid(kind):
		env.ErrMsg, env.Content = msgInvalid, msg
	case op == "plugin":
		env.Content = map[string]any{}
	}
	return env
}

func isInvalid(kind error) bool {
	for _, k := range invalidKinds {
		if k == kind {
			return true
		}
	}
	return false
}

// fail writes err in the envelope, logging what the client is not told.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, op string, err error) {
	env := failure(op, err)
	_, st, _, kind := classify(op, err)
	if kind == nil {
		h.log.ErrorContext(r.Context(), "imagebuild", "op", op, "path", r.URL.Path, "err", err)
	}
	if st == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="berth"`)
	}
	writeJSON(w, st, env)
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
