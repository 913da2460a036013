package registry

import (
	"cmp"
	"errors"
	"net/http"
	"strings"

	v2 "github.com/distribution/distribution/v3/registry/api/v2"
	distauth "github.com/distribution/distribution/v3/registry/auth"
	"github.com/gorilla/mux"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/domain"
	"github.com/berth-registry/berth/registry/index"
	"github.com/berth-registry/berth/registry/observe"
	"github.com/berth-registry/berth/storage/metadata"
)

// serveV2 hands a request to distribution after berth's own checks: pushes
// need an existing project (or auto-creation), and manifest pulls are
// counted. Routes are matched with distribution's own router, so names are
// parsed exactly as distribution parses them.
func (s *Server) serveV2(w http.ResponseWriter, r *http.Request) {
	if sm := referrersPath.FindStringSubmatch(r.URL.Path); sm != nil {
		s.serveReferrers(w, r, sm[1], sm[len(sm)-1])
		return
	}
	name, route, ok := parseUploadPath(r.URL.Path) // the most frequent requests of a push
	var m mux.RouteMatch
	if !ok || r.URL.RawPath != "" {
		if !s.v2routes.Match(r, &m) || m.Route == nil {
			s.app.ServeHTTP(w, r)
			return
		}
		name, route = m.Vars["name"], m.Route.GetName()
	}
	act := v2Write(route, r)
	if act == "" {
		s.routeV2(w, r, name, route, m.Vars)
		return
	}
	sw := &statusWriter{ResponseWriter: w}
	s.routeV2(sw, r, name, route, m.Vars)
	ref := m.Vars["reference"]
	if ref == "" {
		ref = m.Vars["digest"]
	}
	auditV2(r, act, name, ref, cmp.Or(sw.status, http.StatusOK))
}

// routeV2 serves a /v2 request of route (distribution's route name) on
// repository name; vars are the route's variables.
func (s *Server) routeV2(w http.ResponseWriter, r *http.Request, name, route string, vars map[string]string) {
	switch {
	case isPush(route, r.Method):
		r = r.WithContext(metadata.WithProjectMemo(r.Context())) // one project lookup per push request
		// Blob uploads trust a project found for a second (index.CheckUpload).
		check := s.ix.CheckUpload
		if route == v2.RouteNameManifest {
			check = s.ix.CheckPush
		}
		if err := check(r.Context(), name); err != nil {
			if errors.Is(err, index.ErrNoProject) || errors.Is(err, index.ErrPushRefused) {
				// Only a caller allowed to push learns that the project is missing.
				if s.challenged(w, r, name) {
					return
				}
				writeOCIError(w, http.StatusForbidden, "DENIED", err.Error())
				return
			}
			s.log.ErrorContext(r.Context(), "push check", "repository", name, "err", err)
			writeOCIError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "metadata database unavailable, try again later")
			return
		}
		if route == v2.RouteNameBlobUploadChunk {
			r = withUploadHint(r)
		}
		if route == v2.RouteNameBlobUpload && r.Method == http.MethodPost {
			if err := s.ix.CheckQuota(r.Context(), name, nil); errors.Is(err, index.ErrQuotaExceeded) {
				project, _, _ := strings.Cut(name, "/")
				observe.Emit(r.Context(), observe.Event{Action: observe.QuotaExceeded, Repository: name, Project: project,
					Result: observe.ResultRefused})
				writeOCIError(w, http.StatusForbidden, "DENIED", err.Error())
				return
			}
		}
		if route == v2.RouteNameManifest {
			ctx, subject := index.WithSubjectHolder(index.WithTagHolder(r.Context()))
			aw, ar := s.aliasManifestPut(w, r.WithContext(ctx), name, vars["reference"])
			if ar == nil {
				return
			}
			s.app.ServeHTTP(aw, ar)
			if sub := subject(); sub != "" {
				// The status is held back until the handler returns (see
				// withUnavailable), so the header still goes out with it.
				w.Header().Set("OCI-Subject", sub)
			}
			return
		}
	case route == v2.RouteNameCatalog && s.access != nil:
		ids, err := s.access.VisibleProjectsFor(r)
		if err == nil {
			r = r.WithContext(index.WithVisibleProjects(r.Context(), ids))
		} else if !s.challenged(w, r, "") {
			// Unverifiable credentials: let distribution refuse them.
			r = r.WithContext(index.WithVisibleProjects(r.Context(), []int64{}))
		} else {
			return
		}
	case route == v2.RouteNameManifest && r.Method == http.MethodDelete:
		if s.refusedManifestDelete(w, r, name, vars["reference"]) {
			return
		}
	case route == v2.RouteNameManifest && s.serveHotManifest(w, r, name, vars["reference"]):
		return // answered from memory (see manifestcache.go)
	case route == v2.RouteNameManifest:
		s.serveManifestPull(w, r, name, vars["reference"])
		return
	}
	s.app.ServeHTTP(w, r)
}

// serveManifestPull hands a manifest GET or HEAD the hot path declined to
// distribution, counting a GET that succeeds as a pull.
func (s *Server) serveManifestPull(w http.ResponseWriter, r *http.Request, name, ref string) {
	if r.Method != http.MethodGet {
		s.app.ServeHTTP(w, r)
		return
	}
	sw := &statusWriter{ResponseWriter: w}
	s.app.ServeHTTP(sw, r)
	if sw.status == http.StatusOK {
		if d := w.Header().Get("Docker-Content-Digest"); d != "" {
			if _, err := digest.Parse(ref); err == nil {
				ref = ""
			}
			s.pulls.Record(name, d, ref)
		}
	}
}

// challenged runs the access controller for a push to repo (a catalog read
// when repo is empty) and, when it refuses, answers as distribution would:
// 401 with the challenge. It reports whether it answered.
func (s *Server) challenged(w http.ResponseWriter, r *http.Request, repo string) bool {
	if s.controller == nil {
		return false
	}
	access := []distauth.Access{{Resource: distauth.Resource{Type: "registry", Name: "catalog"}, Action: "*"}}
	if repo != "" {
		access = []distauth.Access{
			{Resource: distauth.Resource{Type: "repository", Name: repo}, Action: "pull"},
			{Resource: distauth.Resource{Type: "repository", Name: repo}, Action: "push"},
		}
	}
	_, err := s.controller.Authorized(r, access...)
	if err == nil {
		return false
	}
	if ch, ok := err.(distauth.Challenge); ok {
		ch.SetHeaders(r, w)
		w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
		writeOCIError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
		return true
	}
	writeOCIError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "try again later")
	return true
}

// refusedManifestDelete answers a DELETE of a manifest that an
// immutability rule protects (by its tag, or a tag of it or its referrers),
// or of one by digest that a tagged index still refers to
// (domain.CheckManifestDelete), with 403 DENIED and the reason. Only a
// caller who may delete learns it; anything else (not found, no right) gets
// distribution's own answer.
func (s *Server) refusedManifestDelete(w http.ResponseWriter, r *http.Request, name, ref string) bool {
	if s.controller != nil {
		access := distauth.Access{Resource: distauth.Resource{Type: "repository", Name: name}, Action: "delete"}
		if _, err := s.controller.Authorized(r, access); err != nil {
			return false
		}
	}
	if err := s.ix.CheckImmutableDelete(r.Context(), name, ref); index.IsImmutable(err) {
		writeOCIError(w, http.StatusForbidden, "DENIED", err.Error())
		return true
	}
	if _, err := digest.Parse(ref); err != nil {
		return false // a tag: deleting it leaves its manifest
	}
	err := s.domain.CheckManifestDelete(r.Context(), name, ref)
	if !errors.Is(err, domain.ErrReferenced) {
		return false
	}
	writeOCIError(w, http.StatusForbidden, "DENIED", err.Error())
	return true
}

func isPush(route, method string) bool {
	switch route {
	case v2.RouteNameBlobUpload, v2.RouteNameBlobUploadChunk:
		return method == http.MethodPost || method == http.MethodPatch || method == http.MethodPut
	case v2.RouteNameManifest:
		return method == http.MethodPut
	}
	return false
}
