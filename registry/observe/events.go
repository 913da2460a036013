package observe

import "context"

// Actions that are events of their own rather than changes: they report
// something refused or noticed, and are delivered to webhooks whatever
// their result (Notable).
const (
	ArtifactPush  = "artifact.push"
	ArtifactPull  = "artifact.pull"
	QuotaExceeded = "quota.exceeded"
	LoginFailed   = "login.failed"
	UserLockout   = "user.lockout"
	BuildFinish   = "build.finish"
	WebhookTest   = "webhook.test"
)

// Notable reports whether an event with this action is delivered to
// webhooks even when its result is not ok: it is the news itself.
func Notable(action string) bool {
	switch action {
	case QuotaExceeded, LoginFailed, UserLockout:
		return true
	}
	return false
}

// Sink records events that no transaction of a change wrote: refused and
// failed attempts, failed logins, a change of a path that records none.
// The server gives each request one (SetSink); without one, Emit only
// logs nothing more than Audit does.
type Sink interface {
	Emit(ctx context.Context, e Event)
}

// SetSink makes s where Emit sends the events of the request ctx belongs
// to; a no-op outside a request.
func SetSink(ctx context.Context, s Sink) {
	if r := from(ctx); r != nil {
		r.sink = s
	}
}

// SetClient records the caller's address and user agent for the events
// of the request; call it where the request starts, before any reader.
func SetClient(ctx context.Context, addr, agent string) {
	if r := from(ctx); r != nil {
		r.addr, r.agent = addr, agent
	}
}

// Client is the caller's address and user agent, or "".
func Client(ctx context.Context) (addr, agent string) {
	if r := from(ctx); r != nil {
		return r.addr, r.agent
	}
	return "", ""
}

// SetRoute names the route template serving the request (a pointer to a
// string that lives as long as the route: nothing is allocated). Metrics
// are labelled with it.
func SetRoute(ctx context.Context, route *string) {
	if r := from(ctx); r != nil && route != nil {
		r.route.Store(route)
	}
}

// Route is the route template SetRoute named, or "".
func Route(ctx context.Context) string {
	if r := from(ctx); r != nil {
		if p := r.route.Load(); p != nil {
			return *p
		}
	}
	return ""
}

// MarkRecorded says a change of the request wrote its event in the
// change's own transaction: the audit record exists (Recorded). Emit
// marks it too.
func MarkRecorded(ctx context.Context) {
	if r := from(ctx); r != nil {
		r.recorded.Store(true)
	}
}

// Recorded reports whether MarkRecorded was called for the request.
func Recorded(ctx context.Context) bool {
	if r := from(ctx); r != nil {
		return r.recorded.Load()
	}
	return false
}

type pendingKey struct{}

// WithPending returns ctx carrying e, the event of the change the request
// is about to make (the dialect kit's Subject): a transaction recording
// the change takes what the handler named (project, target) from it.
func WithPending(ctx context.Context, e *Event) context.Context {
	return context.WithValue(ctx, pendingKey{}, e)
}

// Pending is the event WithPending attached, or nil.
func Pending(ctx context.Context) *Event {
	e, _ := ctx.Value(pendingKey{}).(*Event)
	return e
}

// Complete fills in what e leaves empty from the request ctx belongs to:
// the actor, the request id, the client, and ok as the result.
func Complete(ctx context.Context, e *Event) {
	if e.Actor.Name == "" && e.Actor.Kind == "" {
		e.Actor = ActorOf(ctx)
	}
	if e.RequestID == "" {
		e.RequestID = RequestID(ctx)
	}
	if e.ClientAddr == "" && e.UserAgent == "" {
		e.ClientAddr, e.UserAgent = Client(ctx)
	}
	if e.Result == "" {
		e.Result = ResultOK
	}
}

// Emit records e through the request's sink (SetSink), after Complete.
// Use it for what no transaction records: a failed login, a lockout, a
// refused push. It is a no-op without a sink.
func Emit(ctx context.Context, e Event) {
	r := from(ctx)
	if r == nil || r.sink == nil {
		return
	}
	Complete(ctx, &e)
	r.sink.Emit(ctx, e)
	r.recorded.Store(true) // the request's one record (Recorded)
}

// Webhook management: audit records, like every management action.
const (
	WebhookCreate   = "webhook.create"
	WebhookUpdate   = "webhook.update"
	WebhookDelete   = "webhook.delete"
	WebhookTestSend = "webhook.test.send"
)
