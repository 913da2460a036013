package dialect

import (
	"context"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/berth-registry/berth/registry/domain"
)

// Vars are a route's path variables, decoded.
type Vars map[string]string

type varsKey struct{}

// Var is the decoded path variable name of the request's route.
func Var(r *http.Request, name string) string {
	v, _ := r.Context().Value(varsKey{}).(Vars)
	return v[name]
}

// Resolve is the route that serves r and its decoded variables (route
// and decode steps of the dispatch, without the others): for tests and
// tools.
func (a *API[C]) Resolve(r *http.Request) (*Route, Vars, error) {
	a.init()
	rt, raw, ok := a.match(r)
	if !ok {
		return nil, nil, a.noRoute(r)
	}
	v, err := a.decode(raw)
	return rt, v, err
}

// noRoute is the failure of a path no route matches.
func (a *API[C]) noRoute(r *http.Request) error {
	if a.NoRoute != nil {
		if err := a.NoRoute(r); err != nil {
			return err
		}
	}
	return domain.Errorf(ErrNoRoute, "no %s route %s %s", a.Name, r.Method, Clip(r.URL.EscapedPath()))
}

// match finds the first route whose path matches the request's (escaped)
// path, with its raw variables.
func (a *API[C]) match(r *http.Request) (*Route, map[string][]string, bool) {
	for i := range a.Routes {
		if raw, ok := a.matchRoute(&a.Routes[i], r); ok {
			return &a.Routes[i], raw, true
		}
	}
	return nil, nil, false
}

// matchRoute matches one route; a FallThrough route matches only the
// methods it serves.
func (a *API[C]) matchRoute(rt *Route, r *http.Request) (map[string][]string, bool) {
	if rt.FallThrough && rt.Methods[r.Method].Serve == nil {
		return nil, false
	}
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), a.Prefix)
	if !ok {
		return nil, false
	}
	raw := map[string][]string{}
	if !matchSegs(rt.segs, strings.Split(rest, "/"), raw, a.OwnPrefix) {
		return nil, false
	}
	return raw, true
}

// matchSegs matches pattern segments against path segments: a literal
// equals its segment, {x} takes one segment, {x...} one or more (the
// fewest that let the rest match, trying more after). A variable takes an
// empty segment only with empty set: where the dialect owns its prefix
// its segment rules judge every segment; elsewhere, as with mux's {x}, a
// path with an empty segment is not the dialect's.
func matchSegs(pat, segs []string, raw map[string][]string, empty bool) bool {
	if len(pat) == 0 {
		return len(segs) == 0
	}
	p := pat[0]
	name, isVar := strings.CutPrefix(p, "{")
	if !isVar {
		return len(segs) > 0 && segs[0] == p && matchSegs(pat[1:], segs[1:], raw, empty)
	}
	name = strings.TrimSuffix(name, "}")
	if rest, many := strings.CutSuffix(name, "..."); many {
		for n := 1; n <= len(segs)-(len(pat)-1); n++ {
			if segs[n-1] == "" && !empty {
				return false
			}
			if matchSegs(pat[1:], segs[n:], raw, empty) {
				raw[rest] = segs[:n]
				return true
			}
		}
		return false
	}
	if len(segs) == 0 || (segs[0] == "" && !empty) || !matchSegs(pat[1:], segs[1:], raw, empty) {
		return false
	}
	raw[name] = segs[:1]
	return true
}

// decode turns raw variables into Vars with the dialect's segment rules;
// a {x...} variable's segments are joined with "/".
func (a *API[C]) decode(raw map[string][]string) (Vars, error) {
	seg := a.Segment
	if seg == nil {
		seg = unescape
	}
	v := make(Vars, len(raw))
	for name, segs := range raw {
		parts := make([]string, len(segs))
		for i, s := range segs {
			d, err := seg(s)
			if err != nil {
				return nil, err
			}
			parts[i] = d
		}
		v[name] = strings.Join(parts, "/")
	}
	return v, nil
}

func unescape(s string) (string, error) {
	d, err := url.PathUnescape(s)
	if err != nil {
		return "", domain.Errorf(ErrBadPath, "path segment %q is not validly escaped", Clip(s))
	}
	return d, nil
}

func withVars(ctx context.Context, v Vars) context.Context {
	return context.WithValue(ctx, varsKey{}, v)
}

// allow is the Allow header of a route: its methods, sorted.
func allow(rt *Route) string { return strings.Join(slices.Sorted(maps.Keys(rt.Methods)), ", ") }

// Clip keeps input echoed in an answer short.
func Clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
