package berthv1

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ext/dialect"
	"github.com/berth-registry/berth/registry/domain"
	"github.com/berth-registry/berth/registry/retention"
)

// A project's retention policy and runs, and its immutability rules
// (project admins and system admins):
//
//	GET/PUT/DELETE /projects/{p}/retention       the policy {"rules":[...],"schedule":"..."}
//	POST /projects/{p}/retention/runs[?dryRun=true]  a run now: its report
//	GET  /projects/{p}/retention/runs            recent runs
//	GET  /projects/{p}/retention/runs/{id}[?after=&limit=]  a run with what it removed
//	GET/POST /projects/{p}/immutability          the rules {"repositories","tags"}
//	DELETE /projects/{p}/immutability/{id}

func (a *api) getPolicy(w http.ResponseWriter, r *http.Request) error {
	pr, err := a.project(r, auth.ActionManage)
	if err != nil {
		return err
	}
	pol, err := a.retention.Policy(r.Context(), pr.ID)
	if err != nil {
		return err
	}
	var body map[string]any
	_ = json.Unmarshal(pol.Rules, &body)
	if body == nil {
		body = map[string]any{}
	}
	body["nextRunAt"], body["updatedBy"], body["updatedAt"] = pol.NextRunAt, pol.UpdatedBy, pol.UpdatedAt
	a.JSON(w, http.StatusOK, body)
	return nil
}

func (a *api) putPolicy(w http.ResponseWriter, r *http.Request) error {
	pr, err := a.project(r, auth.ActionManage)
	if err != nil {
		return err
	}
	if err := dialect.RequireJSON(r); err != nil {
		return err
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		return domain.Errorf(dialect.ErrBadBody, "request body: %v", err)
	}
	pol, next, err := a.retention.SetPolicy(r.Context(), pr.ID, raw, dialect.Caller(r).DisplayName())
	if err != nil {
		return invalidUnlessFault(err)
	}
	a.JSON(w, http.StatusOK, map[string]any{"rules": pol.Rules, "schedule": pol.Schedule, "nextRunAt": next})
	return nil
}

// invalidUnlessFault is a policy refused: bad input, unless a backend
// failed.
func invalidUnlessFault(err error) error {
	if c := domain.Classify(err); errors.Is(c, domain.ErrUnavailable) || errors.Is(c, domain.ErrFull) {
		return c
	}
	return dialect.Invalidf("%v", err)
}

func (a *api) deletePolicy(w http.ResponseWriter, r *http.Request) error {
	pr, err := a.project(r, auth.ActionManage)
	if err != nil {
		return err
	}
	if err := a.retention.DeletePolicy(r.Context(), pr.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *api) runRetention(w http.ResponseWriter, r *http.Request) error {
	pr, err := a.project(r, auth.ActionManage)
	if err != nil {
		return err
	}
	dry, _ := strconv.ParseBool(r.URL.Query().Get("dryRun"))
	// A client that stops waiting does not stop the run: it is recorded
	// and listed with the project's runs.
	run, err := a.retention.Run(context.WithoutCancel(r.Context()), pr.Name,
		retention.Options{DryRun: dry, Cause: "api", Actor: dialect.Caller(r).DisplayName()})
	if err != nil && run.ID == 0 {
		return err
	}
	a.JSON(w, http.StatusOK, run)
	return nil
}

func (a *api) retentionRuns(w http.ResponseWriter, r *http.Request) error {
	pr, err := a.project(r, auth.ActionManage)
	if err != nil {
		return err
	}
	runs, err := a.retention.Runs(r.Context(), pr.ID, 100)
	if err != nil {
		return err
	}
	a.JSON(w, http.StatusOK, map[string]any{"runs": runs})
	return nil
}

func (a *api) retentionRun(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	pr, err := a.project(r, auth.ActionManage)
	if err != nil {
		return err
	}
	after, limit, err := pageAfter(r)
	if err != nil {
		return err
	}
	run, items, err := a.retention.RunItems(r.Context(), pr.ID, id, after, limit)
	if err != nil {
		return err
	}
	a.JSON(w, http.StatusOK, map[string]any{"run": run, "items": items})
	return nil
}

// pathID is the route's {id}: a number, or no route at all.
func pathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(dialect.Var(r, "id"), 10, 64)
	if err != nil || id < 0 {
		return 0, domain.Errorf(dialect.ErrNoRoute, "no route %s %s", r.Method, dialect.Clip(r.URL.EscapedPath()))
	}
	return id, nil
}

// pageAfter reads ?after (a sequence number) and ?limit (1-1000, default 100).
func pageAfter(r *http.Request) (int64, int, error) {
	after, limit := int64(0), 100
	q := r.URL.Query()
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, 0, dialect.Invalidf("after must be a sequence number")
		}
		after = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return 0, 0, dialect.Invalidf("limit must be 1 to 1000")
		}
		limit = n
	}
	return after, limit, nil
}

func (a *api) listImmutable(w http.ResponseWriter, r *http.Request) error {
	pr, err := a.project(r, auth.ActionManage)
	if err != nil {
		return err
	}
	rules, err := a.retention.ImmutableRules(r.Context(), pr.ID)
	if err != nil {
		return err
	}
	a.JSON(w, http.StatusOK, map[string]any{"rules": rules})
	return nil
}

func (a *api) createImmutable(w http.ResponseWriter, r *http.Request) error {
	pr, err := a.project(r, auth.ActionManage)
	if err != nil {
		return err
	}
	var body struct {
		Repositories string `json:"repositories"`
		Tags         string `json:"tags"`
	}
	if err := a.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	dialect.Subject(r).Target = "immutable " + body.Repositories + ":" + body.Tags
	rule, err := a.retention.AddImmutableRule(r.Context(), pr.ID, body.Repositories, body.Tags, dialect.Caller(r).DisplayName())
	if err != nil {
		return err
	}
	dialect.Subject(r).Target = fmt.Sprintf("immutable rule %d (%s:%s)", rule.ID, rule.Repositories, rule.Tags)
	a.JSON(w, http.StatusCreated, rule)
	return nil
}

func (a *api) deleteImmutable(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	dialect.Subject(r).Target = fmt.Sprintf("immutable rule %d", id)
	pr, err := a.project(r, auth.ActionManage)
	if err != nil {
		return err
	}
	if err := a.retention.DeleteImmutableRule(r.Context(), pr.ID, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
