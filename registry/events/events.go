// Package events turns berth's one event model (registry/observe's Event,
// stored by storage/metadata in the transaction of the change it
// describes) into what leaves berth: CloudEvents posted to webhooks with
// retries and a delivery log, JSON lines for log shippers, and the audit
// log's queries. Every replica runs the same worker: it hands committed
// events to the webhooks that want them and delivers what is due, holding
// each delivery under a lease, so each event reaches each webhook at least
// once, in commit order per repository.
package events

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/berth-registry/berth/registry/netguard"
	"github.com/berth-registry/berth/registry/observe"
	"github.com/berth-registry/berth/storage/metadata"
)

// Service records and delivers events.
type Service struct {
	db     *metadata.DB
	cfg    Config
	log    *slog.Logger
	source string
	owner  string // this replica, for leases
	client *http.Client
	wake   chan struct{}
	stdout io.Writer
	outMu  sync.Mutex

	stop   context.CancelFunc
	done   chan struct{}
	gauged time.Time // the worker's last refresh of the gauges
}

// New makes the service and connects it to db: from now on every change
// that records an event is stamped with the request's actor and client.
// source names berth in CloudEvents (its public URL; "" : "/berth").
func New(db *metadata.DB, cfg Config, source string, log *slog.Logger) *Service {
	if source == "" {
		source = "/berth"
	}
	allow, _ := netguard.ParseAllow(cfg.WebhookAllow) // checked by Validate
	policy := netguard.Policy{Allow: allow, Key: "events.webhookAllow"}
	d := &net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second, Control: policy.Control}
	var id [6]byte
	_, _ = rand.Read(id[:])
	s := &Service{
		db: db, cfg: cfg, log: observe.Logger(log).With("component", "events"), source: source,
		owner: hex.EncodeToString(id[:]), wake: make(chan struct{}, 1), stdout: os.Stdout,
		client: &http.Client{
			Timeout: cfg.Timeout,
			Transport: &http.Transport{
				Proxy:               nil, // the policy checks the receiver itself
				DialContext:         d.DialContext,
				MaxIdleConnsPerHost: 4,
				IdleConnTimeout:     30 * time.Second,
			},
			// A redirect is an answer like any other non-2xx: not followed.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	db.SetEventHooks(metadata.EventHooks{Stamp: stamp, Committed: committed, Fold: fold, Wake: s.wake})
	return s
}

// stamp fills in who made a change and from where: the request's actor,
// client and id, and what the handler named (observe.Pending) that the
// change does not know. Work outside a request is the system's.
func stamp(ctx context.Context, e *metadata.Event) {
	if observe.RequestID(ctx) == "" {
		if e.ActorKind == "" && e.ActorName == "" {
			e.ActorKind = "system"
		}
		return
	}
	if e.ActorKind == "" && e.ActorName == "" {
		a := observe.ActorOf(ctx)
		e.ActorKind, e.ActorID, e.ActorName = a.Kind, a.ID, a.Name
	}
	if e.RequestID == "" {
		e.RequestID = observe.RequestID(ctx)
	}
	if e.ClientAddr == "" && e.UserAgent == "" {
		e.ClientAddr, e.UserAgent = observe.Client(ctx)
	}
	if p := observe.Pending(ctx); p != nil {
		if e.Project == "" {
			e.Project = p.Project
		}
		if e.Target == "" {
			e.Target = p.Target
		}
	}
}

// Emit records an event no change's transaction recorded (observe.Sink):
// a refused or failed attempt (audit log only), news of its own
// (observe.Notable, delivered), or a management action. Webhooks get the
// event types (Types) that succeeded, and the notable ones; the rest is
// the audit log's.
func (s *Service) Emit(ctx context.Context, e observe.Event) {
	row := metadata.Event{Type: e.Action, ActorKind: e.Actor.Kind, ActorID: e.Actor.ID, ActorName: e.Actor.Name,
		ClientAddr: e.ClientAddr, UserAgent: e.UserAgent, RequestID: e.RequestID, Project: e.Project,
		Repository: e.Repository, Tag: e.Tag, Digest: e.Digest, MediaType: e.MediaType, Size: e.Size,
		Target: e.Target, Result: e.Result, Deliver: (e.Result == observe.ResultOK && slices.Contains(Types, e.Action)) || observe.Notable(e.Action)}
	if row.ActorKind == "" {
		row.ActorKind = "anonymous"
	}
	// Recorded even when the request's context is cancelled (the client
	// went away after the change).
	row.Data = withFolded(row.Data, observe.FoldedOf(ctx, e.Action))
	stored, err := s.db.RecordEvent(context.WithoutCancel(ctx), row)
	if err != nil {
		s.log.WarnContext(ctx, "events: cannot record an event", "action", e.Action, "err", err)
		return
	}
	if !stored.Deliver {
		eventsTotal.WithValues(stored.Type).Inc()
		s.writeLine(stored)
	}
}

// writeLine writes e as one JSON line on standard output (events.stdout).
func (s *Service) writeLine(e metadata.Event) {
	if !s.cfg.Stdout {
		return
	}
	line, err := Render(e, s.source)
	if err != nil {
		return
	}
	s.outMu.Lock()
	defer s.outMu.Unlock()
	_, _ = fmt.Fprintln(s.stdout, line)
}

// Start runs the worker until Close.
func (s *Service) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.stop, s.done = cancel, make(chan struct{})
	go func() {
		defer close(s.done)
		s.run(ctx)
	}()
}

// Close stops the worker; deliveries in flight finish or are left to
// their lease.
func (s *Service) Close() {
	if s.stop != nil {
		s.stop()
		<-s.done
		s.stop = nil
	}
}

func (s *Service) run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Poll)
	defer t.Stop()
	var pruned time.Time
	for {
		s.pass(ctx)
		if s.cfg.Retention > 0 && time.Since(pruned) > time.Hour {
			pruned = time.Now()
			before := time.Now().Add(-s.cfg.Retention)
			n, err := s.db.PruneEvents(ctx, before, 10000)
			if err == nil {
				var d int64
				d, err = s.db.PruneDeliveries(ctx, before, 10000)
				n += d
			}
			if err != nil {
				s.log.WarnContext(ctx, "events: pruning the audit log and delivery log", "err", err)
			} else if n > 0 {
				s.log.InfoContext(ctx, "events: pruned the audit log and delivery log", "rows", n)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
			// Let the commits of a burst (a push of many tags) gather
			// into one hand-out: on SQLite every pass's write queues for
			// the one write lock with the pushes.
			time.Sleep(gather)
		case <-t.C:
		}
	}
}

// gather is how long a woken worker waits for more commits.
const gather = 5 * time.Millisecond

// pass hands out what was committed, then delivers what is due.
func (s *Service) pass(ctx context.Context) {
	const batch = 100
	for ctx.Err() == nil {
		if pending, err := s.db.EventsPending(ctx); err != nil || !pending {
			break // a read: no write lock taken when there is nothing to do
		}
		evs, err := s.db.DispatchEvents(ctx, batch, func(e metadata.Event) (string, error) { return Render(e, s.source) })
		if err != nil {
			s.log.WarnContext(ctx, "events: dispatch", "err", err)
			break
		}
		for _, e := range evs {
			eventsTotal.WithValues(e.Type).Inc()
			s.writeLine(e)
		}
		if len(evs) < batch {
			break
		}
	}
	for ctx.Err() == nil {
		ds, err := s.db.ClaimDeliveries(ctx, s.owner, 2*s.cfg.Timeout+5*time.Second, 16)
		if err != nil {
			s.log.WarnContext(ctx, "events: claim deliveries", "err", err)
			break
		}
		var wg sync.WaitGroup
		for _, d := range ds {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.deliver(ctx, d)
			}()
		}
		wg.Wait()
		if len(ds) == 0 {
			break
		}
	}
	if time.Since(s.gauged) >= time.Second {
		s.gauged = time.Now()
		s.gauges(ctx)
	}
}
