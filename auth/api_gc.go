package auth

import (
	"net/http"
	"strconv"

	"github.com/berth-registry/berth/registry/domain"
	"github.com/berth-registry/berth/registry/gc"
	"github.com/gorilla/mux"
)

// MountGC adds the garbage collector's routes to the management API:
// POST /gc runs a pass now (?dryRun=true: reports what it would delete)
// and answers its report; GET /gc lists recent passes (?limit, at most
// 1000). System admins only.
func MountGC(r *mux.Router, s *Service, dom *domain.Service, c *gc.Collector) {
	g := &gcAPI{api: &api{s: s, dom: dom}, c: c}
	sr := r.Path(APIPrefix + "/gc").Subrouter()
	sr.Use(s.Middleware)
	sr.Methods(http.MethodPost).HandlerFunc(g.run)
	sr.Methods(http.MethodGet).HandlerFunc(g.runs)
}

// gcAPI serves the garbage collector's routes.
type gcAPI struct {
	*api
	c *gc.Collector
}

func (g *gcAPI) admin(w http.ResponseWriter, r *http.Request) bool {
	p, ok := g.principal(w, r)
	if !ok {
		return false
	}
	if err := g.s.CheckAdmin(p); err != nil {
		g.fail(w, r, err)
		return false
	}
	return true
}

func (g *gcAPI) run(w http.ResponseWriter, r *http.Request) {
	if !g.admin(w, r) {
		return
	}
	dry, _ := strconv.ParseBool(r.URL.Query().Get("dryRun"))
	rep, err := g.c.Pass(r.Context(), "api", dry)
	if err != nil && rep.Errors == 0 {
		g.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

func (g *gcAPI) runs(w http.ResponseWriter, r *http.Request) {
	if !g.admin(w, r) {
		return
	}
	limit := 50
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			g.fail(w, r, ErrInvalid)
			return
		}
		limit = n
	}
	runs, err := g.c.Runs(r.Context(), limit)
	if err != nil {
		g.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"runs": runs})
}
