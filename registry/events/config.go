package events

import (
	"errors"
	"time"

	"github.com/berth-registry/berth/registry/netguard"
)

// Config is the events: webhook delivery and the audit log.
type Config struct {
	// WebhookAllow lists the networks (CIDR prefixes or addresses,
	// separated by commas or spaces) webhooks may post to besides public
	// addresses: the address policy of downloads (imagebuild.fetchAllow),
	// with its own list.
	WebhookAllow string `yaml:"webhookAllow"`
	// MaxAttempts is how often a delivery is tried before it is given up.
	MaxAttempts int `yaml:"maxAttempts"`
	// Backoff is the wait after the first failed attempt; it doubles after
	// each further one, up to MaxBackoff.
	Backoff    time.Duration `yaml:"backoff"`
	MaxBackoff time.Duration `yaml:"maxBackoff"`
	// Timeout bounds one attempt.
	Timeout time.Duration `yaml:"timeout"`
	// Poll is how often a replica looks for events and deliveries it was
	// not woken for (another replica's, retries due).
	Poll time.Duration `yaml:"poll"`
	// Retention is how long the audit log keeps events (0: for ever).
	Retention time.Duration `yaml:"retention"`
	// Stdout writes every event as one JSON line (CloudEvents) on
	// standard output, for log shippers.
	Stdout bool `yaml:"stdout"`
}

// Defaults returns the embedded defaults.
func Defaults() Config {
	return Config{MaxAttempts: 10, Backoff: 2 * time.Second, MaxBackoff: 10 * time.Minute, Timeout: 10 * time.Second,
		Poll: time.Second, Retention: 90 * 24 * time.Hour}
}

// Validate reports bad settings, naming their keys.
func (c Config) Validate() []error {
	var errs []error
	if _, err := netguard.ParseAllow(c.WebhookAllow); err != nil {
		errs = append(errs, errors.New("events.webhookAllow: "+err.Error()))
	}
	if c.MaxAttempts < 1 || c.MaxAttempts > 100 {
		errs = append(errs, errors.New("events.maxAttempts: must be between 1 and 100"))
	}
	if c.Backoff < 10*time.Millisecond || c.MaxBackoff < c.Backoff {
		errs = append(errs, errors.New("events.backoff, events.maxBackoff: backoff must be at least 10ms and maxBackoff at least backoff"))
	}
	if c.Timeout < 100*time.Millisecond {
		errs = append(errs, errors.New("events.timeout: must be a duration of at least 100ms"))
	}
	if c.Poll < 10*time.Millisecond {
		errs = append(errs, errors.New("events.poll: must be a duration of at least 10ms"))
	}
	if c.Retention < 0 {
		errs = append(errs, errors.New("events.retention: must not be negative"))
	}
	return errs
}
