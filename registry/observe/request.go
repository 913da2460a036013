// Package observe is what every layer needs to make a request observable,
// and nothing else: the request id (the X-Request-Id header and the
// request_id of every log line), the user the request acts for, a
// slog.Handler that adds both to every line logged with the request's
// context, and the one shape of an audit event. It imports nothing of
// berth's, so the core, the identity layer and every dialect use it
// without depending on each other.
package observe

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync/atomic"
)

// Header carries the request id in every response.
const Header = "X-Request-Id"

// request is what a request's context carries for logs. The user is set
// once the caller is identified, which happens below the middleware that
// made the context, so it is a shared, mutable field.
type request struct {
	id string
	// actor is who the request acts for, once identified (SetUser names
	// one with a name only, SetActor in full).
	actor atomic.Pointer[Actor]
	// client is the caller's address and user agent (SetClient).
	addr, agent string
	// route is the route template that serves the request (SetRoute).
	route atomic.Pointer[string]
	// recorded: a change the request made wrote its event in its own
	// transaction (MarkRecorded), so the audit record is written already.
	recorded atomic.Bool
	sink     Sink
	umbrella atomic.Pointer[Umbrella] // WithUmbrella
}

type requestKey struct{}

// WithRequest returns ctx belonging to the request with this id: every
// line logged with it (through Handler) carries request_id, and user once
// SetUser named one.
func WithRequest(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestKey{}, &request{id: id})
}

func from(ctx context.Context) *request {
	r, _ := ctx.Value(requestKey{}).(*request)
	return r
}

// RequestID returns the id of the request ctx belongs to, or "".
func RequestID(ctx context.Context) string {
	if r := from(ctx); r != nil {
		return r.id
	}
	return ""
}

// SetUser names who the request acts for (a user, an access key, or the
// user an application credential acts for); a no-op outside a request.
func SetUser(ctx context.Context, name string) {
	if r := from(ctx); r != nil && name != "" {
		r.actor.Store(&Actor{Name: name})
	}
}

// SetActor names who the request acts for in full (kind, id, name).
func SetActor(ctx context.Context, a Actor) {
	if r := from(ctx); r != nil && a.Name != "" {
		r.actor.Store(&a)
	}
}

// ActorOf is who the request acts for: SetActor's or SetUser's, else
// anonymous.
func ActorOf(ctx context.Context) Actor {
	if r := from(ctx); r != nil {
		if a := r.actor.Load(); a != nil {
			return *a
		}
	}
	return Actor{Kind: "anonymous"}
}

// User is the name SetUser gave the request, or "".
func User(ctx context.Context) string {
	if r := from(ctx); r != nil {
		if a := r.actor.Load(); a != nil {
			return a.Name
		}
	}
	return ""
}

// Request ids are 24 hex digits: 6 random bytes drawn once per process,
// then a 6-byte counter. Unique without a random read per request (ids
// are for correlating log lines, not secrets).
var (
	idPrefix = func() (p [12]byte) {
		var b [6]byte
		_, _ = rand.Read(b[:])
		hex.Encode(p[:], b[:])
		return p
	}()
	idSeq atomic.Uint64
)

// NewRequestID returns a fresh request id.
func NewRequestID() string {
	const digits = "0123456789abcdef"
	var id [24]byte
	copy(id[:], idPrefix[:])
	n := idSeq.Add(1)
	for i := len(id) - 1; i >= len(idPrefix); i-- {
		id[i] = digits[n&0xf]
		n >>= 4
	}
	return string(id[:])
}
