package berthv1

import (
	"net/http"
	"strconv"

	"github.com/berth-registry/berth/ext/dialect"
)

// POST /gc[?dryRun=true]: a garbage-collection pass now (a dry run
// reports what it would delete); its report. System admins only.
func (a *api) runGC(w http.ResponseWriter, r *http.Request) error {
	if err := a.Auth.CheckAdmin(dialect.Caller(r)); err != nil {
		return err
	}
	dry, _ := strconv.ParseBool(r.URL.Query().Get("dryRun"))
	rep, err := a.gc.Pass(r.Context(), "api", dry)
	if err != nil && rep.Errors == 0 {
		return err
	}
	a.JSON(w, http.StatusOK, rep)
	return nil
}

// GET /gc[?limit=]: recent passes (at most 1000, default 50).
func (a *api) gcRuns(w http.ResponseWriter, r *http.Request) error {
	if err := a.Auth.CheckAdmin(dialect.Caller(r)); err != nil {
		return err
	}
	limit := 50
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return dialect.Invalidf("limit must be 1 to 1000, not %q", v)
		}
		limit = n
	}
	runs, err := a.gc.Runs(r.Context(), limit)
	if err != nil {
		return err
	}
	a.JSON(w, http.StatusOK, map[string]any{"runs": runs})
	return nil
}
