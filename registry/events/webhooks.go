package events

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/berth-registry/berth/registry/domain"
	"github.com/berth-registry/berth/registry/observe"
	"github.com/berth-registry/berth/storage/metadata"
)

// Types are the actions webhooks can filter on: every kind of event berth
// records (observe's action names; the CloudEvents type is TypePrefix and
// the action).
var Types = []string{
	observe.ArtifactPush, observe.ArtifactPull, observe.ArtifactDelete, observe.TagDelete,
	observe.RepositoryCreate, observe.RepositoryDelete, observe.ProjectCreate, observe.ProjectDelete,
	observe.ChartUpload, observe.ChartDelete, observe.QuotaExceeded, observe.GCRun, observe.RetentionRun, observe.ProxyEvict,
	observe.LoginFailed, observe.UserLockout, observe.CredentialReset, observe.UserCreate, observe.RobotCreate,
	observe.MemberSet, observe.MemberRemove, observe.BuildFinish, observe.WebhookTest,
}

// Limits of a webhook's fields.
const (
	maxURL    = 2048
	maxName   = 128
	maxSecret = 256
)

// Check validates a webhook's fields (not its reachability: the address
// policy applies when it is dialled).
func Check(w metadata.Webhook) error {
	if w.Name == "" || len(w.Name) > maxName {
		return domain.Errorf(domain.ErrInvalid, "name: 1 to %d characters", maxName)
	}
	if len(w.URL) > maxURL {
		return domain.Errorf(domain.ErrInvalid, "url: at most %d characters", maxURL)
	}
	u, err := url.Parse(w.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Fragment != "" {
		return domain.Errorf(domain.ErrInvalid, "url: an http or https URL with a host and no credentials")
	}
	if len(w.Secret) > maxSecret {
		return domain.Errorf(domain.ErrInvalid, "secret: at most %d characters", maxSecret)
	}
	for _, t := range w.Types {
		if strings.HasSuffix(t, ".") {
			if !slices.ContainsFunc(Types, func(k string) bool { return strings.HasPrefix(k, t) }) {
				return domain.Errorf(domain.ErrInvalid, "types: no event type starts with %q", t)
			}
			continue
		}
		if !slices.Contains(Types, strings.TrimPrefix(t, TypePrefix)) {
			return domain.Errorf(domain.ErrInvalid, "types: unknown event type %q", t)
		}
	}
	return nil
}

// normalize drops the CloudEvents prefix from types and sorts them.
func normalize(types []string) []string {
	out := make([]string, 0, len(types))
	for _, t := range types {
		out = append(out, strings.TrimPrefix(t, TypePrefix))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// CreateWebhook checks and stores w.
func (s *Service) CreateWebhook(ctx context.Context, w metadata.Webhook) (metadata.Webhook, error) {
	w.Types = normalize(w.Types)
	if err := Check(w); err != nil {
		return w, err
	}
	w, err := s.db.CreateWebhook(ctx, w)
	return w, domain.Translate(err, "project")
}

// UpdateWebhook checks and saves w.
func (s *Service) UpdateWebhook(ctx context.Context, w metadata.Webhook) error {
	w.Types = normalize(w.Types)
	if err := Check(w); err != nil {
		return err
	}
	return domain.Translate(s.db.UpdateWebhook(ctx, w), "webhook")
}

// Webhook returns one webhook.
func (s *Service) Webhook(ctx context.Context, id int64) (metadata.Webhook, error) {
	w, err := s.db.GetWebhook(ctx, id)
	return w, domain.Translate(err, "webhook")
}

// Webhooks lists a project's (projectID > 0) or the global (0) webhooks.
func (s *Service) Webhooks(ctx context.Context, projectID int64) ([]metadata.Webhook, error) {
	ws, err := s.db.Webhooks(ctx, projectID)
	return ws, domain.Translate(err, "webhooks")
}

// DeleteWebhook removes a webhook with its delivery log.
func (s *Service) DeleteWebhook(ctx context.Context, id int64) error {
	return domain.Translate(s.db.DeleteWebhook(ctx, id), "webhook")
}

// Deliveries is a webhook's delivery log, newest first.
func (s *Service) Deliveries(ctx context.Context, id, before int64, limit int) ([]metadata.Delivery, error) {
	ds, err := s.db.DeliveryLog(ctx, id, before, limit)
	return ds, domain.Translate(err, "deliveries")
}

// SendTest queues a webhook.test event for w alone and returns the
// delivery's id; it goes out (and is retried) like any other.
func (s *Service) SendTest(ctx context.Context, w metadata.Webhook) (int64, error) {
	a := observe.ActorOf(ctx)
	addr, agent := observe.Client(ctx)
	e := metadata.Event{ID: metadata.NewEventID(), Type: observe.WebhookTest, At: time.Now(), ActorKind: a.Kind,
		ActorID: a.ID, ActorName: a.Name, ClientAddr: addr, UserAgent: agent, RequestID: observe.RequestID(ctx),
		Project: w.Project, Target: w.Name, Result: observe.ResultOK}
	payload, err := Render(e, s.source)
	if err != nil {
		return 0, err
	}
	id, err := s.db.QueueDelivery(ctx, w.ID, e.ID, e.Type, payload)
	return id, domain.Translate(err, "webhook")
}

// Audit lists the events f selects, newest first, with the total.
func (s *Service) Audit(ctx context.Context, f metadata.EventFilter, offset, limit int) ([]metadata.Event, int64, error) {
	evs, total, err := s.db.Events(ctx, f, metadata.ListOptions{Offset: offset, Limit: limit})
	return evs, total, domain.Translate(err, "audit log")
}

// The metadata layer's shapes, for the management API (which reaches the
// core through this service, never the database).
type (
	Webhook     = metadata.Webhook
	Event       = metadata.Event
	EventFilter = metadata.EventFilter
	Delivery    = metadata.Delivery
)

// DeliveryPending is the status of a delivery still to be made.
const DeliveryPending = metadata.DeliveryPending
