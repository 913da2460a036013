package dialect

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/registry/domain"
	"github.com/berth-registry/berth/registry/observe"
)

type routeKey struct{}
type eventKey struct{}

// ServeHTTP dispatches a request in the one order every dialect shares:
// route (404, or NoRoute's answer), credentials (401), method (405 with
// Allow), guard, decode,
// then the handler; every failure goes through Fail.
func (a *API[C]) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if observe.RequestID(ctx) == "" {
		// Served outside berth's request middleware (a test, an embedding):
		// every answer still has a request id.
		id := observe.NewRequestID()
		w.Header().Set(observe.Header, id)
		ctx = observe.WithRequest(ctx, id)
		r = r.WithContext(ctx)
	}
	rt, raw, ok := a.match(r)
	if !ok {
		a.Fail(w, r, a.noRoute(r))
		return
	}
	r = r.WithContext(context.WithValue(ctx, routeKey{}, rt.Name))
	observe.SetRoute(ctx, &rt.template)
	if a.Check != nil {
		if err := a.Check(r, rawVars(raw)); err != nil {
			a.Fail(w, r, err)
			return
		}
	}
	var p auth.Principal
	var err error
	if a.Identify != nil {
		p, err = a.Identify(r)
	} else {
		p, _, err = a.Auth.Identify(r)
	}
	if err == nil && !p.Authenticated() && !a.Anonymous {
		err = auth.ErrUnauthenticated
	}
	if err != nil {
		a.Fail(w, r, err) // credentials presented but wrong, unverifiable now, or none
		return
	}
	op, ok := rt.Methods[r.Method]
	if !ok || op.Serve == nil {
		allowed := allow(rt)
		w.Header().Set("Allow", allowed)
		a.Fail(w, r, domain.Errorf(ErrMethod, "method not allowed: %s (allowed: %s)", r.Method, allowed))
		return
	}
	if err := a.guard(r); err != nil {
		a.Fail(w, r, err)
		return
	}
	v, err := a.decode(raw)
	if err != nil {
		a.Fail(w, r, err)
		return
	}
	ctx = withVars(auth.WithPrincipal(r.Context(), p), v)
	ev := &observe.Event{Action: op.Action, Actor: actor(p), RequestID: observe.RequestID(ctx)}
	if op.Action != "" {
		observe.SetActor(ctx, ev.Actor)
		ctx = observe.WithPending(ctx, ev)
	}
	r = r.WithContext(context.WithValue(ctx, eventKey{}, ev))
	dw := &durableWriter{ResponseWriter: w, r: r, durable: domain.Durable, fail: a.Fail}
	if err = op.Serve(dw, r); err != nil {
		a.Fail(dw, r, err)
	} else {
		err = dw.done()
	}
	if op.Action != "" {
		ev.Result = observe.ResultOK
		if err != nil {
			ev.Result = observe.ResultRefused
			if f := a.Errors.Classify(rt.Name, err); f.Kind == nil || f.Status >= 500 {
				ev.Result = observe.ResultFailed
			}
		}
		observe.Audit(r.Context(), a.Log, *ev)
		// One audit record per change: the change's transaction wrote it,
		// or (a refused or failed attempt, a change no transaction
		// records) it is written now.
		if !observe.Recorded(ctx) {
			observe.Emit(ctx, *ev)
		}
	}
}

// guard refuses what no route of the dialect may serve whoever asks. It
// is the one place for checks every management API makes: a change
// (any method but GET, HEAD and OPTIONS) a browser sends from another
// site is refused on every API of the kit, so Basic credentials a browser
// cached for berth cannot be replayed by another site's page (a form, a
// text/plain fetch, a multipart upload). A browser names the sender in
// Sec-Fetch-Site and Origin: cross-site and same-site are refused, and an
// Origin that is not berth's own host (the request's Host or the public
// URL's), "null" (a sandboxed frame, a data: URL) included. Clients that
// are not browsers (curl, helm, docker, the SDKs) send neither header and
// are not affected.
func (a *API[C]) guard(r *http.Request) error {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return nil
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" || site == "same-site" {
		return domain.Errorf(ErrCrossSite, "cross-origin request refused (Sec-Fetch-Site: %s)", site)
	}
	if o, ok := r.Header["Origin"]; ok {
		if len(o) != 1 || !a.sameOrigin(r, o[0]) {
			return domain.Errorf(ErrCrossSite, "cross-origin request refused (Origin: %.100q)", strings.Join(o, ", "))
		}
	}
	return nil
}

// sameOrigin reports whether origin is berth's own: the host the request
// was sent to, or the configured public URL's.
func (a *API[C]) sameOrigin(r *http.Request, origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false // "null", or not an origin at all
	}
	return strings.EqualFold(u.Host, r.Host) || strings.EqualFold(u.Host, a.PublicHost(r))
}

// rawVars are raw variables as Vars (their first segment each), for Check.
func rawVars(raw map[string][]string) Vars {
	v := make(Vars, len(raw))
	for k, segs := range raw {
		v[k], _ = url.PathUnescape(segs[0])
	}
	return v
}

func routeName(r *http.Request) string {
	name, _ := r.Context().Value(routeKey{}).(string)
	return name
}

// Caller is who sent the request: a verified user or application
// credential, or auth.Anonymous where the dialect serves anonymous callers.
func Caller(r *http.Request) auth.Principal {
	return auth.FromContext(r.Context())
}

// Subject is the audit event of the request's change: the handler fills
// in what it acted on (Project, Repository, Tag, Digest); the kit fills
// in the action, the actor, the request id and the result, and writes it
// when the handler returns. For a read it is a scratch event nobody writes.
func Subject(r *http.Request) *observe.Event {
	if ev, ok := r.Context().Value(eventKey{}).(*observe.Event); ok {
		return ev
	}
	return &observe.Event{}
}

func actor(p auth.Principal) observe.Actor {
	a := observe.Actor{Kind: p.Kind, Name: p.DisplayName(), Asserted: p.ActingUser}
	switch p.Kind {
	case auth.KindUser:
		a.ID = p.UserID
	case auth.KindApp:
		a.ID = p.AppID
	case "":
		a.Kind = auth.KindAnonymous
	}
	return a
}
