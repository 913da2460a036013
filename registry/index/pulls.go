package index

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/berth-registry/berth/storage/metadata"
)

// maxPendingPulls flushes early when this many distinct pulls are waiting.
const maxPendingPulls = 10000

type pullKey struct{ repo, digest, tag string }

// Pulls counts manifest pulls in memory and writes them to the index in one
// transaction per interval, so a pull never waits for the database.
type Pulls struct {
	db       *metadata.DB
	log      *slog.Logger
	interval time.Duration

	mu      sync.Mutex
	pending map[pullKey]*metadata.Pull
	kick    chan struct{}
	stop    chan struct{}
	done    chan struct{}
}

// NewPulls starts a pull recorder that flushes every interval.
func NewPulls(db *metadata.DB, log *slog.Logger, interval time.Duration) *Pulls {
	p := &Pulls{
		db: db, log: log, interval: interval,
		pending: map[pullKey]*metadata.Pull{},
		kick:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	go p.loop()
	return p
}

// Record counts one pull of digest in repo (by tag when tag is not empty).
func (p *Pulls) Record(repo, digest, tag string) {
	k := pullKey{repo, digest, tag}
	now := time.Now()
	p.mu.Lock()
	e, ok := p.pending[k]
	if !ok {
		e = &metadata.Pull{Repository: repo, Digest: digest, Tag: tag}
		p.pending[k] = e
	}
	e.Count++
	e.At = now
	full := len(p.pending) >= maxPendingPulls
	p.mu.Unlock()
	if full {
		select {
		case p.kick <- struct{}{}:
		default:
		}
	}
}

// Flush writes what is pending now.
func (p *Pulls) Flush(ctx context.Context) error {
	p.mu.Lock()
	batch := make([]metadata.Pull, 0, len(p.pending))
	for _, e := range p.pending {
		batch = append(batch, *e)
	}
	p.pending = map[pullKey]*metadata.Pull{}
	p.mu.Unlock()
	return p.db.RecordPulls(ctx, batch)
}

func (p *Pulls) loop() {
	defer close(p.done)
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		case <-p.kick:
		}
		if err := p.Flush(context.Background()); err != nil {
			p.log.Error("index: recording pulls", "err", err)
		}
	}
}

// Close stops the loop and writes what is pending.
func (p *Pulls) Close(ctx context.Context) error {
	close(p.stop)
	<-p.done
	return p.Flush(ctx)
}
