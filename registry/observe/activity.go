package observe

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Activity counts the requests in flight that background work gives way
// to: a retention run waits for a quiet moment before each of its reads of
// tags and write transactions, and SQLite's checkpointer before each
// checkpoint, so a push beside them has the machine (the cores, the disk,
// the database) as it would alone. The server counts the requests that
// change something (not GET, HEAD or OPTIONS), each replica its own; a
// request that itself runs background work (a retention run asked for over
// the API) stops counting when that work begins (Background).
type Activity struct {
	inFlight atomic.Int64
	lastEnd  atomic.Int64 // unix nanoseconds: when the last one ended
}

type activityKey struct{}

// token is one request's place in an Activity: it ends once.
type token struct {
	a    *Activity
	once sync.Once
}

func (t *token) end() {
	t.once.Do(func() {
		t.a.lastEnd.Store(time.Now().UnixNano())
		t.a.inFlight.Add(-1)
	})
}

// Begin counts a request in flight until end is called; ctx carries its
// place, so that Background can end it earlier.
func (a *Activity) Begin(ctx context.Context) (_ context.Context, end func()) {
	t := &token{a: a}
	a.inFlight.Add(1)
	return context.WithValue(ctx, activityKey{}, t), t.end
}

// Background says the request of ctx now runs background work: it no
// longer counts as activity (the work would otherwise wait for itself).
// Outside a counted request it does nothing.
func Background(ctx context.Context) {
	if t, ok := ctx.Value(activityKey{}).(*token); ok {
		t.end()
	}
}

// InFlight is the number of counted requests in flight (0 for a nil
// Activity).
func (a *Activity) InFlight() int64 {
	if a == nil {
		return 0
	}
	return a.inFlight.Load()
}

// pollEvery is how often GiveWay looks again while requests are in flight.
const pollEvery = 2 * time.Millisecond

// The terms background work gives way on: it waits for a moment with no
// counted request in flight and none ended within GiveWaySettle (the next
// request of the same push follows within a round trip), and at most
// GiveWayMost each time, so that a steady stream of requests slows it
// down and never stops it.
const (
	GiveWaySettle = 10 * time.Millisecond
	GiveWayMost   = 100 * time.Millisecond
)

// GiveWay waits until no counted request is in flight and none ended
// within settle, but at most most (see GiveWaySettle and GiveWayMost). It
// returns how long it waited, or ctx's error. A nil Activity never waits.
func (a *Activity) GiveWay(ctx context.Context, settle, most time.Duration) (time.Duration, error) {
	if a == nil {
		return 0, nil
	}
	start := time.Now()
	for {
		now := time.Now()
		waited := now.Sub(start)
		if waited >= most {
			return waited, nil
		}
		wait := pollEvery
		if a.inFlight.Load() <= 0 {
			quiet := now.Sub(time.Unix(0, a.lastEnd.Load()))
			if quiet >= settle {
				return waited, nil
			}
			wait = settle - quiet
		}
		t := time.NewTimer(min(wait, most-waited))
		select {
		case <-ctx.Done():
			t.Stop()
			return time.Since(start), ctx.Err()
		case <-t.C:
		}
	}
}
