package berthv1

import (
	"net/http"
	"time"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ext/dialect"
	"github.com/berth-registry/berth/registry/domain"
	"github.com/berth-registry/berth/registry/events"
)

// Paging limits of the audit log.
const (
	auditMaxPage     = 10000
	auditMaxPageSize = 200
)

type auditJSON struct {
	ID         string         `json:"id"`
	Type       string         `json:"type"`
	Action     string         `json:"action"`
	Time       time.Time      `json:"time"`
	Actor      events.Actor   `json:"actor"`
	ClientAddr string         `json:"clientAddr,omitempty"`
	UserAgent  string         `json:"userAgent,omitempty"`
	RequestID  string         `json:"requestId,omitempty"`
	Project    string         `json:"project,omitempty"`
	Repository string         `json:"repository,omitempty"`
	Tag        string         `json:"tag,omitempty"`
	Digest     string         `json:"digest,omitempty"`
	MediaType  string         `json:"mediaType,omitempty"`
	Size       int64          `json:"size,omitempty"`
	Target     string         `json:"target,omitempty"`
	Result     string         `json:"result"`
	Details    map[string]any `json:"details,omitempty"`
}

// GET /audit[?from=&to=&actor=&project=&repository=&type=&page=&pageSize=]:
// the audit log, newest first. System admins see every record; anyone
// else must name a project they administer. from and to are RFC 3339
// times (from inclusive, to exclusive); type is an action ("tag.delete",
// or "io.berth.tag.delete") or a family ending in "." ("artifact.").
func (a *api) audit(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := events.EventFilter{Actor: q.Get("actor"), Project: q.Get("project"), Repository: q.Get("repository"),
		Type: trimType(q.Get("type"))}
	if err := a.Auth.CheckAdmin(dialect.Caller(r)); err != nil {
		if f.Project == "" {
			if !dialect.Caller(r).Authenticated() {
				return err
			}
			return domain.Errorf(domain.ErrDenied, "only system admins read the whole audit log: name a project you administer (?project=)")
		}
		if _, err := a.Authorize(r, f.Project, auth.ActionManage); err != nil {
			return err
		}
	}
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		if v := q.Get(t.name); v != "" {
			tm, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return domain.Errorf(domain.ErrInvalid, "%s must be an RFC 3339 time (2026-01-02T15:04:05Z), not %q", t.name, v)
			}
			*t.dst = tm
		}
	}
	page, err := intParam(r, "page", 1, 1, auditMaxPage)
	if err != nil {
		return err
	}
	size, err := intParam(r, "pageSize", 50, 1, auditMaxPageSize)
	if err != nil {
		return err
	}
	evs, total, err := a.events.Audit(r.Context(), f, (page-1)*size, size)
	if err != nil {
		return err
	}
	out := make([]auditJSON, 0, len(evs))
	for _, e := range evs {
		ce := events.ToCloudEvent(e, "")
		d := ce.Data
		out = append(out, auditJSON{ID: e.ID, Type: ce.Type, Action: e.Type, Time: e.At, Actor: d.Actor, ClientAddr: d.ClientAddr,
			UserAgent: d.UserAgent, RequestID: d.RequestID, Project: d.Project, Repository: d.Repository, Tag: d.Tag,
			Digest: d.Digest, MediaType: d.MediaType, Size: d.Size, Target: d.Target, Result: d.Result, Details: d.Details})
	}
	a.JSON(w, http.StatusOK, map[string]any{"total": total, "page": page, "pageSize": size, "events": out})
	return nil
}

func trimType(t string) string {
	if len(t) > len(events.TypePrefix) && t[:len(events.TypePrefix)] == events.TypePrefix {
		return t[len(events.TypePrefix):]
	}
	return t
}

// eventType is the CloudEvents type of an action.
func eventType(action string) string { return events.TypePrefix + action }
