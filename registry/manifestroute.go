package registry

import (
	"net/http"
	"slices"
	"strings"
	"sync"

	v2 "github.com/distribution/distribution/v3/registry/api/v2"
	"github.com/gorilla/mux"
)

// The fast route: a /v2/ request skips berth's router (every dialect's
// routes, tried in turn before the /v2 fallback), and a GET or HEAD of
// /v2/<name>/manifests/<ref> also skips distribution's route table, which
// cost more than the rest of a cached answer. parseManifestPath accepts a
// subset of what distribution's manifest route matches, with the same name
// and reference; anything else takes the ordinary way.

// maxV2Path bounds the path of an OCI API request: /v2/, a name of at most
// 255 characters, /manifests/ or /blobs/uploads/, and a reference or an
// upload id, with room to spare.
const maxV2Path = 1024

// fastRoutes is what the fast route needs to know about berth's router,
// worked out once, at the first request (dialects mount before serving).
type fastRoutes struct {
	once     sync.Once
	off      bool     // a route could match anywhere under /v2/: never bypass
	shadowed []string // static prefixes of routes mounted under /v2/
}

// serveHTTP is berth's router behind the request middleware, with the fast
// route in front of it: a /v2/ path no route of berth's router can match
// goes straight to serveV2, where the router's fallback would send it after
// trying every dialect's routes in turn, and a manifest GET or HEAD there
// goes straight to the hot manifest path.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/v2/") && len(r.URL.EscapedPath()) > maxV2Path {
		// A repository name is at most 255 characters and a reference 135:
		// nothing longer is anything distribution would serve.
		writeOCIError(w, http.StatusBadRequest, "NAME_INVALID", "invalid repository name: a repository name is at most 255 characters")
		return
	}
	if s.proxy.ServePeer(w, r) {
		return
	}
	r = s.mirrorRequest(r)
	if s.serveProxy(w, r) {
		return
	}
	if r.URL.RawPath == "" && strings.HasPrefix(r.URL.Path, "/v2/") && s.fastRoutable(r.URL.Path) {
		if s.hot != nil && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			if name, ref, ok := parseManifestPath(r.URL.Path); ok {
				if !s.serveHotManifest(w, r, name, ref) {
					s.serveManifestPull(w, r, name, ref)
				}
				return
			}
		}
		s.serveV2(w, r)
		return
	}
	s.router.ServeHTTP(w, r)
}

// fastRoutable reports whether no route of berth's router can match path,
// which then reaches serveV2 through the router's fallback anyway.
func (s *Server) fastRoutable(path string) bool {
	f := &s.fast
	f.once.Do(func() {
		f.off, f.shadowed = v2Shadows(s.router)
		s.log.Debug("manifest fast route", "off", f.off, "shadowed", f.shadowed)
	})
	if f.off {
		return false
	}
	for _, p := range f.shadowed {
		if strings.HasPrefix(path, p) {
			return false
		}
	}
	return true
}

// v2Shadows lists the static prefixes (the template up to its first
// variable) of the routes whose paths lie under /v2/. A route without a
// path template, or whose static prefix does not get past "/v2/", could
// match any manifest path: off.
func v2Shadows(router *mux.Router) (off bool, shadowed []string) {
	_ = router.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := route.GetPathTemplate()
		if err != nil {
			off = true
			return nil
		}
		prefix, _, _ := strings.Cut(tpl, "{")
		switch {
		case strings.HasPrefix("/v2/", prefix):
			off = true
		case strings.HasPrefix(prefix, "/v2/"):
			shadowed = append(shadowed, prefix)
		}
		return nil
	})
	slices.Sort(shadowed)
	return off, slices.Compact(shadowed)
}

// parseManifestPath splits /v2/<name>/manifests/<ref> when name is made of
// path components ([a-z0-9]+ joined by ".", "_", "__" or runs of "-",
// components joined by "/") and ref is a tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})
// or a digest (algorithm:hex, 32 hex digits or more). Distribution's
// manifest route matches all of these with the same name and reference
// (TestParseManifestPath); names with a registry host or port are left to it.
func parseManifestPath(p string) (name, ref string, ok bool) {
	rest, found := strings.CutPrefix(p, "/v2/")
	if !found {
		return "", "", false
	}
	i := strings.LastIndex(rest, "/manifests/")
	if i <= 0 {
		return "", "", false
	}
	name, ref = rest[:i], rest[i+len("/manifests/"):]
	if !validName(name) || !(validTag(ref) || validDigest(ref)) {
		return "", "", false
	}
	return name, ref, true
}

func isAlnum(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }

func isWord(c byte) bool { return isAlnum(c) || 'A' <= c && c <= 'Z' || c == '_' }

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// validName: components of alphanumerics with single separators between
// them; a separator is ".", "_", "__" or any run of "-".
func validName(name string) bool {
	for comp := range strings.SplitSeq(name, "/") {
		if comp == "" || !isAlnum(comp[0]) || !isAlnum(comp[len(comp)-1]) {
			return false
		}
		for i := 1; i < len(comp); {
			c := comp[i]
			if isAlnum(c) {
				i++
				continue
			}
			// A separator, then an alphanumeric (the last byte is one).
			switch {
			case c == '-':
				for i < len(comp) && comp[i] == '-' {
					i++
				}
			case c == '_' && comp[i+1] == '_':
				i += 2
			case c == '.' || c == '_':
				i++
			default:
				return false
			}
			if !isAlnum(comp[i]) {
				return false
			}
		}
	}
	return true
}

func validTag(ref string) bool {
	if ref == "" || len(ref) > 128 || !isWord(ref[0]) {
		return false
	}
	for i := 1; i < len(ref); i++ {
		if c := ref[i]; !isWord(c) && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

// validDigest: a lowercase algorithm name ([a-z][a-z0-9]*), ":", and at
// least 32 hex digits.
func validDigest(ref string) bool {
	alg, hex, ok := strings.Cut(ref, ":")
	if !ok || alg == "" || len(hex) < 32 || !('a' <= alg[0] && alg[0] <= 'z') {
		return false
	}
	for i := 1; i < len(alg); i++ {
		if !isAlnum(alg[i]) {
			return false
		}
	}
	for i := 0; i < len(hex); i++ {
		if !isHex(hex[i]) {
			return false
		}
	}
	return true
}

// parseUploadPath recognises distribution's blob upload routes without its
// route table: /v2/<name>/blobs/uploads/ (RouteNameBlobUpload) and
// /v2/<name>/blobs/uploads/<uuid> (RouteNameBlobUploadChunk, uuid made of
// [a-zA-Z0-9-_.=]), for the names parseManifestPath accepts. Distribution
// routes all of these the same way (TestParseUploadPath); anything else is
// left to its router.
func parseUploadPath(p string) (name, route string, ok bool) {
	rest, found := strings.CutPrefix(p, "/v2/")
	if !found {
		return "", "", false
	}
	i := strings.LastIndex(rest, "/blobs/uploads/")
	if i <= 0 {
		return "", "", false
	}
	name, id := rest[:i], rest[i+len("/blobs/uploads/"):]
	if !validName(name) {
		return "", "", false
	}
	if id == "" {
		return name, v2.RouteNameBlobUpload, true
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !isWord(c) && c != '-' && c != '.' && c != '=' {
			return "", "", false
		}
	}
	return name, v2.RouteNameBlobUploadChunk, true
}
