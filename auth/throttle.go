package auth

import (
	"sync"
	"time"
)

// throttle locks out a username or a client address after too many failed
// logins in a window. Both keys count, so spraying many users from one
// address or one user from many addresses is slowed alike.
type throttle struct {
	max            int
	window, lockup time.Duration
	mu             sync.Mutex
	m              map[string]*failures
}

type failures struct {
	count       int
	since       time.Time
	lockedUntil time.Time
}

func newThrottle(max int, window, lockout time.Duration) *throttle {
	return &throttle{max: max, window: window, lockup: lockout, m: map[string]*failures{}}
}

func (t *throttle) blocked(name, client string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	for _, k := range []string{"u:" + name, "c:" + client} {
		if f := t.m[k]; f != nil && now.Before(f.lockedUntil) {
			return true
		}
	}
	return false
}

func (t *throttle) fail(name, client string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	if len(t.m) > 100000 {
		t.m = map[string]*failures{} // bounded memory under a spray
	}
	for _, k := range []string{"u:" + name, "c:" + client} {
		f := t.m[k]
		if f == nil || now.Sub(f.since) > t.window {
			f = &failures{since: now}
			t.m[k] = f
		}
		f.count++
		if f.count >= t.max {
			f.lockedUntil = now.Add(t.lockup)
			f.count, f.since = 0, now
		}
	}
}

func (t *throttle) success(name, client string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, "u:"+name)
}
