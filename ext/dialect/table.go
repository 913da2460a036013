package dialect

import (
	"net/http"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/registry/domain"
)

// The groups of rows every dialect answers alike but for its codes: which
// kinds of the core and the kit are bad input, a refusal, a missing
// thing, with the HTTP status berth gives them everywhere. A dialect's
// table is its own rows (first: they win) and these groups, ending with
// Internal.

// NewTable joins groups of rows into one table.
func NewTable[C any](groups ...[]Row[C]) Table[C] {
	var t Table[C]
	for _, g := range groups {
		t = append(t, g...)
	}
	return t
}

// Rows maps kinds to one status and code.
func Rows[C any](status int, code C, kinds ...error) []Row[C] {
	return RouteRows("", status, code, kinds...)
}

// RouteRows maps kinds to one status and code on the route named route
// only.
func RouteRows[C any](route string, status int, code C, kinds ...error) []Row[C] {
	rows := make([]Row[C], 0, len(kinds))
	for _, k := range kinds {
		rows = append(rows, Row[C]{Kind: k, Status: status, Code: code, Route: route})
	}
	return rows
}

// Faults are storage or the metadata database down or out of time (503)
// and full (507): nothing was changed, the client may retry.
func Faults[C any](unavailable, full C) []Row[C] {
	return []Row[C]{
		{Kind: domain.ErrUnavailable, Status: http.StatusServiceUnavailable, Code: unavailable},
		{Kind: domain.ErrFull, Status: http.StatusInsufficientStorage, Code: full},
	}
}

// Unauthenticated is a caller without credentials where the dialect needs
// them, or with credentials that do not verify (401); hint says what to
// send ("" keeps the error's message). A login locked out after too many
// failures is 429 with the same code and its own message (Fail adds
// Retry-After).
func Unauthenticated[C any](code C, hint string) []Row[C] {
	return []Row[C]{{Kind: auth.ErrThrottled, Status: http.StatusTooManyRequests, Code: code},
		{Kind: auth.ErrUnauthenticated, Status: http.StatusUnauthorized, Code: code, Message: hint}}
}

// Invalid is bad input (400): the core's and the identity layer's, a path
// or a body the kit could not decode, and the dialect's own kinds more; a
// JSON body sent as another media type is 415 with the same code.
func Invalid[C any](code C, more ...error) []Row[C] {
	return append(Rows(http.StatusUnsupportedMediaType, code, ErrMediaType), Rows(http.StatusBadRequest, code, append([]error{domain.ErrInvalid, auth.ErrInvalid, auth.ErrWeakPassword, ErrBadPath, ErrBadBody}, more...)...)...)
}

// Method is a method the route does not serve (405, with Allow).
func Method[C any](code C) []Row[C] { return Rows(http.StatusMethodNotAllowed, code, ErrMethod) }

// Denied is a caller without the right (403), and a browser's
// cross-site change.
func Denied[C any](code C, more ...error) []Row[C] {
	return Rows(http.StatusForbidden, code, append([]error{auth.ErrDenied, domain.ErrDenied, ErrCrossSite}, more...)...)
}

// NotFound is a missing thing or route (404). A project the caller may
// not see reads exactly like a missing one: hidden is the message of both
// where the dialect names it ("project not found").
func NotFound[C any](code C, hidden string, more ...error) []Row[C] {
	rows := []Row[C]{{Kind: auth.ErrNotFound, Status: http.StatusNotFound, Code: code, Message: hidden}}
	return append(rows, Rows(http.StatusNotFound, code, append([]error{domain.ErrNotFound, ErrNoRoute}, more...)...)...)
}

// Internal is the last row: anything else, logged and never described.
func Internal[C any](status int, code C, msg string) []Row[C] {
	return []Row[C]{{Status: status, Code: code, Message: msg}}
}
