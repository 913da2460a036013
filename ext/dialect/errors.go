package dialect

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/registry/domain"
)

// Kinds of failure the kit itself finds; every table maps them.
var (
	ErrNoRoute = errors.New("no such route")
	ErrMethod  = errors.New("method not allowed")
	ErrBadPath = errors.New("invalid path")
	ErrBadBody = errors.New("invalid request body")
	// ErrCrossSite: a change a browser sent from another site (guard).
	ErrCrossSite = errors.New("cross-origin request refused")
	// ErrMediaType: a JSON body sent as another media type (a browser's
	// form or text/plain). It is an ErrBadBody, so a table without a row
	// of its own answers it as bad input; Invalid answers 415.
	ErrMediaType = fmt.Errorf("%w: unsupported media type", ErrBadBody)
)

// Invalidf is bad input a dialect found (domain.ErrInvalid: 400 in every
// table, through Invalid).
func Invalidf(format string, args ...any) error {
	return domain.Errorf(domain.ErrInvalid, format, args...)
}

// NotFoundf is something a dialect did not find (domain.ErrNotFound: 404
// in every table, through NotFound).
func NotFoundf(format string, args ...any) error {
	return domain.Errorf(domain.ErrNotFound, format, args...)
}

// Row maps one kind of error to the dialect's answer.
type Row[C any] struct {
	// Kind is matched with errors.Is; nil matches everything and answers
	// what nothing else does: an internal error, logged, never described.
	Kind   error
	Status int
	Code   C
	// Message replaces the error's own (a hidden project must read like
	// a missing one); "" keeps it (for Kind nil: "internal error").
	Message string
	// Route limits the row to the route of this Name; "" any route.
	Route string
}

// Table is a dialect's one error table: the first row that matches wins,
// and the last has Kind nil.
type Table[C any] []Row[C]

// Failure is what Fail answers: the row that matched, for the envelope.
type Failure[C any] struct {
	Status  int
	Code    C
	Message string
	Kind    error  // the row's kind; nil: an internal error
	Route   string // the Name of the route that failed
	Err     error  // what failed, for the log; never sent
}

// mustCover panics when the table misses a kind every dialect must map:
// the kit's own, the identity layer's 401 and the core's faults.
func (t Table[C]) mustCover(dialect string) {
	if len(t) == 0 || t[len(t)-1].Kind != nil {
		panic(fmt.Sprintf("dialect %s: the error table must end with the internal error (Kind nil)", dialect))
	}
	for _, k := range []error{ErrNoRoute, ErrMethod, ErrBadPath, ErrBadBody, ErrCrossSite, auth.ErrUnauthenticated, domain.ErrUnavailable, domain.ErrFull} {
		covered := false
		for _, row := range t[:len(t)-1] {
			covered = covered || (row.Route == "" && errors.Is(k, row.Kind))
		}
		if !covered {
			panic(fmt.Sprintf("dialect %s: the error table does not map %q", dialect, k))
		}
	}
}

// Classify finds the row of err on the route named route. Infrastructure
// faults (storage or the database down, out of time or full) are the
// core's ErrUnavailable and ErrFull first (domain.Classify).
func (t Table[C]) Classify(route string, err error) Failure[C] {
	err = domain.Classify(err)
	for _, row := range t {
		if (row.Route != "" && row.Route != route) || (row.Kind != nil && !errors.Is(err, row.Kind)) {
			continue
		}
		f := Failure[C]{Status: row.Status, Code: row.Code, Message: row.Message, Kind: row.Kind, Route: route, Err: err}
		switch {
		case f.Message != "":
		case row.Kind == nil:
			f.Message = "internal error"
		default:
			f.Message = err.Error()
		}
		return f
	}
	return Failure[C]{Status: http.StatusInternalServerError, Message: "internal error", Route: route, Err: err}
}

// Fail answers err in the dialect's envelope with the status and code of
// its table, logging what the client is not told (an internal error, at
// error level, with the request id) and, at debug level, why a request
// was refused. A 401 carries the Basic challenge.
func (a *API[C]) Fail(w http.ResponseWriter, r *http.Request, err error) {
	domain.MarkFault(r.Context(), err)
	f := a.Errors.Classify(routeName(r), err)
	if f.Kind == nil {
		a.Log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.EscapedPath(), "err", err)
	} else if a.Log.Enabled(r.Context(), slog.LevelDebug) {
		a.Log.DebugContext(r.Context(), "request refused", "status", f.Status, "err", err)
	}
	if f.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="berth"`)
	}
	if secs := auth.RetryAfter(err); secs > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	a.Envelope(w, r, f)
}
