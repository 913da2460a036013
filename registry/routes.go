package registry

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/docker/go-metrics"
	"github.com/gorilla/mux"

	"github.com/berth-registry/berth/storage"
)

// readyTimeout bounds the storage probe behind /readyz.
const readyTimeout = 3 * time.Second

func (s *Server) routes() *mux.Router {
	r := mux.NewRouter()
	r.UseEncodedPath()
	r.SkipClean(true) // distribution validates names itself; never redirect
	r.Methods(http.MethodGet, http.MethodHead).Path("/healthz").HandlerFunc(healthz)
	r.Methods(http.MethodGet, http.MethodHead).Path("/readyz").HandlerFunc(s.readyz)
	r.Methods(http.MethodGet).Path("/metrics").Handler(metrics.Handler())
	r.NotFoundHandler = http.HandlerFunc(s.fallback)
	return r
}

// fallback sends everything under /v2 to distribution and answers 404 for
// the rest.
func (s *Server) fallback(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/v2" || strings.HasPrefix(r.URL.Path, "/v2/") {
		s.serveV2(w, r)
		return
	}
	writeJSON(w, http.StatusNotFound, map[string]string{"error": "not found"})
}

func healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	status := map[string]string{"status": "ok", "storage": "ok", "database": "ok"}
	code := http.StatusOK
	if err := storage.Ping(ctx, s.driver); err != nil {
		s.log.WarnContext(ctx, "readiness: storage unreachable", "err", err)
		status["status"], status["storage"], code = "unavailable", "unreachable", http.StatusServiceUnavailable
	}
	if err := s.db.Ping(ctx); err != nil {
		s.log.WarnContext(ctx, "readiness: metadata database unreachable", "err", err)
		status["status"], status["database"], code = "unavailable", "unreachable", http.StatusServiceUnavailable
	}
	writeJSON(w, code, status)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
