package registry

import (
	"net/http"
	"strings"

	distauth "github.com/distribution/distribution/v3/registry/auth"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/proxy"
)

// Proxy is the pull-through cache (for the management API).
func (s *Server) Proxy() *proxy.Service { return s.proxy }

// serveProxy gives a GET or HEAD of a manifest or blob of a proxy project
// to the pull-through cache when the caller may pull it: a manifest is
// made current (fetched or re-validated) and then answered as usual, a
// blob berth does not hold is streamed from the upstream. It reports
// whether the request was answered.
func (s *Server) serveProxy(w http.ResponseWriter, r *http.Request) bool {
	if s.proxy == nil || (r.Method != http.MethodGet && r.Method != http.MethodHead) || r.URL.RawPath != "" {
		return false
	}
	name, kind, ref, ok := parseProxyPath(r.URL.Path)
	if !ok || !s.proxy.IsProxy(r.Context(), name) || s.proxy.Local(r.Context(), kind, name, ref) || !s.mayPull(r, name) {
		return false // the registry answers (or challenges) as for any project
	}
	if kind == "manifests" {
		return s.proxy.PrepareManifest(w, r, name, ref)
	}
	d, err := digest.Parse(ref)
	if err != nil {
		return false
	}
	return s.proxy.ServeBlob(w, r, name, d)
}

// mirrorRequest rewrites a request of mirror mode (proxy.mirrors):
// /v2/<name>/... as the upstream names it, with containerd's ?ns=<host> or
// without (Docker's registry-mirrors, docker.io; see proxy.MirrorProject
// for when), becomes
// /v2/<proxy project>/<name>/...; anything else is returned as it is.
func (s *Server) mirrorRequest(r *http.Request) *http.Request {
	if s.proxy == nil || !s.proxy.Mirroring() || r.URL.RawPath != "" {
		return r
	}
	if r.URL.Path == "/service/token" {
		return s.mirrorTokenRequest(r)
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/v2/")
	if !ok {
		return r
	}
	name := ""
	for _, k := range []string{"/manifests/", "/blobs/", "/tags/"} {
		if i := strings.LastIndex(rest, k); i > 0 {
			name = rest[:i]
			break
		}
	}
	if name == "" || !validName(name) {
		return r
	}
	project, ok := s.proxy.MirrorProject(r.Context(), r.Method, r.URL.Query().Get("ns"), name)
	if !ok {
		return r
	}
	r2 := new(http.Request)
	*r2 = *r
	u := *r.URL
	u.Path = "/v2/" + project + "/" + rest
	r2.URL = &u
	r2.RequestURI = u.RequestURI()
	return r2
}

// mirrorTokenRequest adds, to a token request for pulling a repository
// that mirror mode would serve from a proxy project, the same scope on the
// proxy project's repository: Docker asks for a token for library/alpine,
// then pulls /v2/library/alpine/..., which berth serves (and authorizes)
// as hub/library/alpine. Scopes that ask for more than pull are left alone.
func (s *Server) mirrorTokenRequest(r *http.Request) *http.Request {
	q := r.URL.Query()
	scopes := q["scope"]
	added := false
	for _, sc := range scopes {
		typ, rest, _ := strings.Cut(sc, ":")
		i := strings.LastIndex(rest, ":")
		if typ != "repository" || i <= 0 || rest[i+1:] != "pull" || !validName(rest[:i]) {
			continue
		}
		if project, ok := s.proxy.MirrorProject(r.Context(), http.MethodGet, "", rest[:i]); ok {
			q.Add("scope", "repository:"+project+"/"+rest[:i]+":pull")
			added = true
		}
	}
	if !added {
		return r
	}
	r2 := new(http.Request)
	*r2 = *r
	u := *r.URL
	u.RawQuery = q.Encode()
	r2.URL = &u
	r2.RequestURI = u.RequestURI()
	return r2
}

// parseProxyPath splits /v2/<name>/(manifests|blobs)/<ref>.
func parseProxyPath(p string) (name, kind, ref string, ok bool) {
	rest, found := strings.CutPrefix(p, "/v2/")
	if !found {
		return "", "", "", false
	}
	for _, k := range []string{"manifests", "blobs"} {
		if i := strings.LastIndex(rest, "/"+k+"/"); i > 0 {
			name, ref = rest[:i], rest[i+len(k)+2:]
			if validName(name) && strings.Contains(name, "/") && (validTag(ref) || validDigest(ref)) {
				return name, k, ref, true
			}
			return "", "", "", false
		}
	}
	return "", "", "", false
}

// mayPull reports whether the caller of r may pull repo.
func (s *Server) mayPull(r *http.Request, repo string) bool {
	if s.controller == nil {
		return true
	}
	access := distauth.Access{Resource: distauth.Resource{Type: "repository", Name: repo}, Action: "pull"}
	_, err := s.controller.Authorized(r, access)
	return err == nil
}
