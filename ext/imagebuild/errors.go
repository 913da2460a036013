package imagebuild

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ext/dialect"
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
var errInvalid = errors.New("parameter invalid")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errInvalid, fmt.Sprintf(format, args...))
}

// invalidKinds are the errors of a bad parameter, whatever found it.
var invalidKinds = []error{dialect.ErrMethod, builder.ErrTooLarge, builder.ErrInvalid, domain.ErrInvalid, errInvalid,
	dialect.ErrBadPath, dialect.ErrBadBody}

// errorTable is the one mapping of core and dialect errors to the image
// market's codes. A row with a route applies to that route only; the
// first row that matches wins. A Cluster the caller may not see is
// reported like a missing project on reads, and as a bad parameter where
// it is given.
//
// Only save and buildHistory show "parameter invalid" as 10001 (their
// special-character examples); every other table has it as 10006. A name
// that already exists is 10006 everywhere ("参数非法，项目已存在不能添加").
//
// The HTTP status is 200 but where the status itself is what a client or
// a proxy acts on: the seed documents codes only, never a status, and the
// system it describes answers every envelope with 200: a client reads
// code and errMsg, and one that stopped at a non-2xx status would never
// see them. So every error is 200, but 401 with the Basic challenge
// (berth's authentication, not the seed's), 503 for "try again later" (a
// backend outage, the build queue full, berth stopping) and 507 for full
// storage, each still with the envelope.
func errorTable() dialect.Table[int] {
	var t dialect.Table[int]
	add := func(route string, kinds []error, code, status int) {
		for _, k := range kinds {
			row := dialect.Row[int]{Kind: k, Status: status, Code: code, Route: route}
			switch k {
			case auth.ErrUnauthenticated:
				row.Message = "authentication required: send Basic credentials"
			case auth.ErrDenied:
				row.Message = "permission denied"
			case auth.ErrNotFound:
				row.Message = "project or Cluster not found"
			}
			t = append(t, row)
		}
	}
	const ok = http.StatusOK
	missing := []error{builder.ErrNotFound, auth.ErrNotFound}
	add("", []error{domain.ErrUnavailable, builder.ErrUnavailable}, CodeInternal, http.StatusServiceUnavailable)
	add("", []error{domain.ErrFull}, CodeInternal, http.StatusInsufficientStorage)
	add("", []error{auth.ErrThrottled}, CodeUnauthenticated, http.StatusTooManyRequests)
	add("", []error{auth.ErrUnauthenticated}, CodeUnauthenticated, http.StatusUnauthorized)
	add("", []error{auth.ErrDenied, dialect.ErrCrossSite, domain.ErrDenied}, CodeDenied, ok)
	add("save", invalidKinds, CodeInvalidSave, ok)
	add("buildHistory", invalidKinds, CodeInvalidSave, ok)
	add("new", []error{auth.ErrNotFound}, CodeInvalid, ok)
	add("save", []error{auth.ErrNotFound}, CodeInvalidSave, ok)
	add("clone", missing, CodeCloneSrcMissing, ok)
	add("delete", missing, CodeDeleteMissing, ok)
	add("build", missing, CodeBuildMissing, ok)
	add("buildHistory", missing, CodeBuildMissing, ok)
	add("", append(missing, dialect.ErrNoRoute), CodeProjectMissing, ok)
	add("", []error{builder.ErrExists}, CodeInvalid, ok)
	add("", []error{builder.ErrPluginMissing}, CodePluginMissing, ok)
	add("", []error{builder.ErrPluginParam}, CodePluginParam, ok)
	add("", []error{builder.ErrPluginCall}, CodePluginCall, ok)
	add("", invalidKinds, CodeInvalid, ok)
	return append(t, dialect.Row[int]{Status: ok, Code: CodeInternal, Message: "server internal error"})
}

// envelopeJSON is the image market's answer.
type envelopeJSON struct {
	Code    int    `json:"code"`
	ErrMsg  string `json:"errMsg"`
	Content any    `json:"content"`
}

// listEnvelope is the answer of list: paging beside the content.
type listEnvelope struct {
	envelopeJSON
	Page       int   `json:"page"`
	PageSize   int   `json:"page_size"`
	TotalCount int64 `json:"total_count"`
}

// failure is the envelope of a failure: errMsg and content as the seed's
// examples have them (the detail in content for a name that exists and a
// bad parameter, {} for the plugin call, else -1).
func failure(f dialect.Failure[int]) envelopeJSON {
	env := envelopeJSON{Code: f.Code, ErrMsg: f.Message, Content: -1}
	switch {
	case f.Kind == builder.ErrExists:
		env.ErrMsg, env.Content = msgExists, f.Message
	case f.Kind != nil && isInvalid(f.Kind):
		env.ErrMsg, env.Content = msgInvalid, f.Message
	case f.Route == "plugin":
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

// envelope writes a failure.
func (h *handler) envelope(w http.ResponseWriter, _ *http.Request, f dialect.Failure[int]) {
	h.JSON(w, f.Status, failure(f))
}

func (h *handler) ok(w http.ResponseWriter, content any) {
	h.JSON(w, http.StatusOK, envelopeJSON{Code: CodeOK, ErrMsg: "ok", Content: content})
}
