package berthv1

import (
	"net/http"
	"strconv"
	"time"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ext/dialect"
	"github.com/berth-registry/berth/registry/domain"
	"github.com/berth-registry/berth/registry/events"
	"github.com/berth-registry/berth/registry/observe"
)

// eventRoutes are the webhook and audit routes: global webhooks for
// system admins, a project's for its admins.
func (a *api) eventRoutes() []dialect.Route {
	const get, put, post, del = http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete
	var out []dialect.Route
	for _, base := range []string{"/webhooks", "/projects/{project}/webhooks"} {
		out = append(out,
			dialect.Route{Path: base, Methods: map[string]dialect.Op{get: {Serve: a.listWebhooks},
				post: {Serve: a.createWebhook, Action: observe.WebhookCreate}}},
			dialect.Route{Path: base + "/{id}", Methods: map[string]dialect.Op{get: {Serve: a.getWebhook},
				put: {Serve: a.updateWebhook, Action: observe.WebhookUpdate}, del: {Serve: a.deleteWebhook, Action: observe.WebhookDelete}}},
			dialect.Route{Path: base + "/{id}/deliveries", Methods: map[string]dialect.Op{get: {Serve: a.webhookDeliveries}}},
			dialect.Route{Path: base + "/{id}/test", Methods: map[string]dialect.Op{post: {Serve: a.testWebhook, Action: observe.WebhookTestSend}}},
		)
	}
	return append(out, dialect.Route{Path: "/audit", Methods: map[string]dialect.Op{get: {Serve: a.audit}}})
}

// webhookJSON is a webhook as the API shows it: never its secret.
type webhookJSON struct {
	ID        int64     `json:"id"`
	Project   string    `json:"project,omitempty"`
	Name      string    `json:"name"`
	URL       string    `json:"url"`
	HasSecret bool      `json:"hasSecret"`
	Types     []string  `json:"types"`
	Enabled   bool      `json:"enabled"`
	CreatedBy string    `json:"createdBy"`
	CreatedAt time.Time `json:"createdAt"`
}

func toWebhookJSON(w events.Webhook) webhookJSON {
	types := w.Types
	if types == nil {
		types = []string{}
	}
	return webhookJSON{w.ID, w.Project, w.Name, w.URL, w.Secret != "", types, w.Enabled, w.CreatedBy, w.CreatedAt}
}

// scope authorizes webhook management: the route's project (its admins),
// or the global webhooks (system admins). It returns the project's id (0
// for global).
func (a *api) scope(r *http.Request) (int64, error) {
	if dialect.Var(r, "project") == "" {
		return 0, a.Auth.CheckAdmin(dialect.Caller(r))
	}
	pr, err := a.project(r, auth.ActionManage)
	return pr.ID, err
}

// webhook authorizes and returns the route's {id}, which must belong to
// the route's scope (another scope's webhook is not found).
func (a *api) webhook(r *http.Request) (events.Webhook, error) {
	pid, err := a.scope(r)
	if err != nil {
		return events.Webhook{}, err
	}
	id, err := strconv.ParseInt(dialect.Var(r, "id"), 10, 64)
	if err != nil || id < 1 {
		return events.Webhook{}, dialect.NotFoundf("webhook %q not found", dialect.Var(r, "id"))
	}
	w, err := a.events.Webhook(r.Context(), id)
	if err == nil && w.ProjectID != pid {
		err = dialect.NotFoundf("webhook %d not found", id)
	}
	dialect.Subject(r).Target = w.Name
	return w, err
}

type webhookBody struct {
	Name    string   `json:"name"`
	URL     string   `json:"url"`
	Secret  *string  `json:"secret"`
	Types   []string `json:"types"`
	Enabled *bool    `json:"enabled"`
}

// GET .../webhooks
func (a *api) listWebhooks(w http.ResponseWriter, r *http.Request) error {
	pid, err := a.scope(r)
	if err != nil {
		return err
	}
	ws, err := a.events.Webhooks(r.Context(), pid)
	if err != nil {
		return err
	}
	out := make([]webhookJSON, 0, len(ws))
	for _, wh := range ws {
		out = append(out, toWebhookJSON(wh))
	}
	a.JSON(w, http.StatusOK, map[string]any{"webhooks": out})
	return nil
}

// POST .../webhooks {"name","url","secret","types","enabled"}
func (a *api) createWebhook(w http.ResponseWriter, r *http.Request) error {
	pid, err := a.scope(r)
	if err != nil {
		return err
	}
	var body webhookBody
	if err := a.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	dialect.Subject(r).Target = body.Name
	wh := events.Webhook{ProjectID: pid, Name: body.Name, URL: body.URL, Types: body.Types, Enabled: true,
		CreatedBy: dialect.Caller(r).DisplayName()}
	if body.Secret != nil {
		wh.Secret = *body.Secret
	}
	if body.Enabled != nil {
		wh.Enabled = *body.Enabled
	}
	if wh, err = a.events.CreateWebhook(r.Context(), wh); err != nil {
		return err
	}
	wh.Project = dialect.Var(r, "project")
	a.JSON(w, http.StatusCreated, toWebhookJSON(wh))
	return nil
}

// GET .../webhooks/{id}
func (a *api) getWebhook(w http.ResponseWriter, r *http.Request) error {
	wh, err := a.webhook(r)
	if err != nil {
		return err
	}
	a.JSON(w, http.StatusOK, toWebhookJSON(wh))
	return nil
}

// PUT .../webhooks/{id}: the fields given replace the webhook's; a
// secret left out is kept ("" removes it).
func (a *api) updateWebhook(w http.ResponseWriter, r *http.Request) error {
	wh, err := a.webhook(r)
	if err != nil {
		return err
	}
	var body webhookBody
	if err := a.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	if body.Name != "" {
		wh.Name = body.Name
	}
	if body.URL != "" {
		wh.URL = body.URL
	}
	if body.Secret != nil {
		wh.Secret = *body.Secret
	}
	if body.Types != nil {
		wh.Types = body.Types
	}
	if body.Enabled != nil {
		wh.Enabled = *body.Enabled
	}
	if err := a.events.UpdateWebhook(r.Context(), wh); err != nil {
		return err
	}
	a.JSON(w, http.StatusOK, toWebhookJSON(wh))
	return nil
}

// DELETE .../webhooks/{id}
func (a *api) deleteWebhook(w http.ResponseWriter, r *http.Request) error {
	wh, err := a.webhook(r)
	if err != nil {
		return err
	}
	if err := a.events.DeleteWebhook(r.Context(), wh.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// POST .../webhooks/{id}/test: queues a webhook.test event for this
// webhook alone; 202 with the delivery's id (its outcome is in the
// delivery log).
func (a *api) testWebhook(w http.ResponseWriter, r *http.Request) error {
	wh, err := a.webhook(r)
	if err != nil {
		return err
	}
	id, err := a.events.SendTest(r.Context(), wh)
	if err != nil {
		return err
	}
	a.JSON(w, http.StatusAccepted, map[string]any{"delivery": id})
	return nil
}

type attemptJSON struct {
	Attempt    int       `json:"attempt"`
	At         time.Time `json:"at"`
	StatusCode int       `json:"statusCode,omitempty"`
	Error      string    `json:"error,omitempty"`
	DurationMs int64     `json:"durationMs"`
}

type deliveryJSON struct {
	ID        int64         `json:"id"`
	EventID   string        `json:"eventId"`
	EventType string        `json:"eventType"`
	Status    string        `json:"status"`
	Attempts  []attemptJSON `json:"attempts"`
	NextAt    *time.Time    `json:"nextAt,omitempty"`
	CreatedAt time.Time     `json:"createdAt"`
}

// GET .../webhooks/{id}/deliveries[?before=&limit=]: the delivery log,
// newest first, each delivery with its attempts.
func (a *api) webhookDeliveries(w http.ResponseWriter, r *http.Request) error {
	wh, err := a.webhook(r)
	if err != nil {
		return err
	}
	limit, err := intParam(r, "limit", 50, 1, 500)
	if err != nil {
		return err
	}
	before, err := intParam(r, "before", 0, 0, 1<<62)
	if err != nil {
		return err
	}
	ds, err := a.events.Deliveries(r.Context(), wh.ID, int64(before), limit)
	if err != nil {
		return err
	}
	out := make([]deliveryJSON, 0, len(ds))
	for _, d := range ds {
		dj := deliveryJSON{ID: d.ID, EventID: d.EventID, EventType: eventType(d.EventType), Status: d.Status,
			Attempts: []attemptJSON{}, CreatedAt: d.CreatedAt}
		if d.Status == events.DeliveryPending {
			next := d.NextAt
			dj.NextAt = &next
		}
		for _, at := range d.Log {
			dj.Attempts = append(dj.Attempts, attemptJSON{at.Attempt, at.At, at.StatusCode, at.Error, at.Duration.Milliseconds()})
		}
		out = append(out, dj)
	}
	a.JSON(w, http.StatusOK, map[string]any{"deliveries": out})
	return nil
}

// intParam reads an integer query parameter within [lo, hi], def when
// absent; anything else is INVALID.
func intParam(r *http.Request, name string, def, lo, hi int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, domain.Errorf(domain.ErrInvalid, "%s must be an integer from %d to %d, not %q", name, lo, hi, v)
	}
	return n, nil
}
