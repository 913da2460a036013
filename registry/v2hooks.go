package registry

import (
	"errors"
	"net/http"

	v2 "github.com/distribution/distribution/v3/registry/api/v2"
	"github.com/gorilla/mux"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/index"
)

// serveV2 hands a request to distribution after berth's own checks: pushes
// need an existing project (or auto-creation), and manifest pulls are
// counted. Routes are matched with distribution's own router, so names are
// parsed exactly as distribution parses them.
func (s *Server) serveV2(w http.ResponseWriter, r *http.Request) {
	var m mux.RouteMatch
	if !s.v2routes.Match(r, &m) || m.Route == nil {
		s.app.ServeHTTP(w, r)
		return
	}
	name := m.Vars["name"]
	switch route := m.Route.GetName(); {
	case isPush(route, r.Method):
		if _, err := s.ix.ProjectForPush(r.Context(), name); err != nil {
			if errors.Is(err, index.ErrNoProject) {
				writeOCIError(w, http.StatusForbidden, "DENIED", err.Error())
				return
			}
			s.log.ErrorContext(r.Context(), "push check", "repository", name, "err", err)
			writeOCIError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "metadata database unavailable, try again later")
			return
		}
	case route == v2.RouteNameManifest && r.Method == http.MethodGet:
		sw := &statusWriter{ResponseWriter: w}
		s.app.ServeHTTP(sw, r)
		if sw.status == http.StatusOK {
			if d := w.Header().Get("Docker-Content-Digest"); d != "" {
				ref := m.Vars["reference"]
				if _, err := digest.Parse(ref); err == nil {
					ref = ""
				}
				s.pulls.Record(name, d, ref)
			}
		}
		return
	}
	s.app.ServeHTTP(w, r)
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
