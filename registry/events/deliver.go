package events

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/docker/go-metrics"

	"github.com/berth-registry/berth/storage/metadata"
)

// Prometheus metrics of events, served on /metrics.
var (
	ns              = metrics.NewNamespace("berth", "events", nil)
	eventsTotal     = ns.NewLabeledCounter("recorded", "Events and audit records, by type (the action), counted once across replicas", "type")
	attemptsTotal   = ns.NewLabeledCounter("webhook_attempts", "Webhook delivery attempts by outcome (delivered, retry, failed)", "outcome")
	deliveryLatency = ns.NewTimer("webhook_delivery_latency", "Time from handing an event to a webhook to its delivery (retries included)")
	outboxBacklog   = ns.NewGauge("outbox_backlog", "Events committed and not yet handed to the webhooks", metrics.Unit(""))
	deliveryBacklog = ns.NewLabeledGauge("webhook_deliveries", "Webhook deliveries by status (pending, failed)", metrics.Unit(""), "status")
)

func init() { metrics.Register(ns) }

// backoff is the wait after the attempt-th failed attempt (1-based).
func (s *Service) backoff(attempt int) time.Duration {
	d := s.cfg.Backoff
	for i := 1; i < attempt && d < s.cfg.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, s.cfg.MaxBackoff)
}

// deliver makes one attempt of d and records it.
func (s *Service) deliver(ctx context.Context, d metadata.Delivery) {
	a := metadata.Attempt{Attempt: d.Attempts + 1, At: time.Now()}
	code, err := s.post(ctx, d)
	a.Duration, a.StatusCode = time.Since(a.At), code
	status, next := metadata.DeliveryDelivered, time.Now()
	switch {
	case err == nil && code >= 200 && code < 300:
		attemptsTotal.WithValues("delivered").Inc(1)
		deliveryLatency.UpdateSince(d.CreatedAt)
	default:
		if err != nil {
			a.Error = err.Error()
		} else {
			a.Error = "answered " + strconv.Itoa(code)
		}
		status, next = metadata.DeliveryPending, time.Now().Add(s.backoff(a.Attempt))
		outcome := "retry"
		if a.Attempt >= s.cfg.MaxAttempts {
			status, outcome = metadata.DeliveryFailed, "failed"
		}
		attemptsTotal.WithValues(outcome).Inc(1)
		s.log.WarnContext(ctx, "events: webhook delivery failed", "webhook", d.WebhookID, "delivery", d.ID,
			"event", d.EventID, "attempt", a.Attempt, "err", a.Error, "next", status)
	}
	// Recorded even when berth is stopping: the attempt happened.
	if err := s.db.FinishAttempt(context.WithoutCancel(ctx), d, a, status, next); err != nil {
		s.log.WarnContext(ctx, "events: recording a delivery attempt", "delivery", d.ID, "err", err)
	}
}

// post sends d's payload, signed, and returns the status.
func (s *Service) post(ctx context.Context, d metadata.Delivery) (int, error) {
	body := []byte(d.Payload)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", ContentType)
	req.Header.Set("User-Agent", "berth-webhook/1")
	req.Header.Set(DeliveryHeader, strconv.FormatInt(d.ID, 10))
	if d.Secret != "" {
		req.Header.Set(SignatureHeader, Sign(d.Secret, body))
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("post: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, nil
}

// gauges refreshes the backlog gauges.
func (s *Service) gauges(ctx context.Context) {
	if n, err := s.db.EventBacklog(ctx); err == nil {
		outboxBacklog.Set(float64(n))
	}
	if pending, failed, err := s.db.DeliveryCounts(ctx); err == nil {
		deliveryBacklog.WithValues("pending").Set(float64(pending))
		deliveryBacklog.WithValues("failed").Set(float64(failed))
	}
}
