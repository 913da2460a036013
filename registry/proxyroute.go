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
	if !ok || !s.proxy.IsProxy(r.Context(), name) || !s.mayPull(r, name) {
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
