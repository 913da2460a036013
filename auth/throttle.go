package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/berth-registry/berth/registry/observe"
	"github.com/berth-registry/berth/storage/metadata"
)

// ErrThrottled is a login refused without being checked, because the
// user failed too often from the client's address lately. It is an
// ErrUnauthenticated too (the caller is not identified), so an API that
// does not tell it apart answers it as one; those that do answer 429
// with Retry-After.
var ErrThrottled = errors.New("too many failed logins")

// ThrottledError is ErrThrottled with when to try again.
type ThrottledError struct {
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many failed logins for this user from this address: try again in %d s", e.seconds())
}

// Is makes the error both ErrThrottled and ErrUnauthenticated.
func (e *ThrottledError) Is(target error) bool {
	return target == ErrThrottled || target == ErrUnauthenticated
}

// Seconds is RetryAfter in whole seconds (at least 1), for Retry-After.
func (e *ThrottledError) seconds() int { return max(1, int((e.RetryAfter+time.Second-1)/time.Second)) }

// RetryAfter returns the seconds to wait that err (an ErrThrottled) names,
// 0 when it names none.
func RetryAfter(err error) int {
	var te *ThrottledError
	if errors.As(err, &te) {
		return te.seconds()
	}
	return 0
}

// maxLockout caps the exponential backoff of locks in a row.
const maxLockout = time.Hour

// lockMemoTTL bounds how long a replica trusts what it read of a lock:
// a lock another replica started is seen here within this long.
const lockMemoTTL = time.Second

// maxThrottleKey bounds the username a failure is counted under: the
// database row and the log line of a guess with a huge name stay small.
const maxThrottleKey = 128

// throttle locks a user out from one client address after too many failed
// logins from it, for a period that doubles with each lock in a row. The
// key is the user and the address together: whoever guesses locks out
// only itself (and whoever shares its address), never the user from
// elsewhere, and a correct password from another address is never
// refused. The counts live in the database, shared by replicas; each
// replica remembers what it read for at most lockMemoTTL.
type throttle struct {
	db  *metadata.DB
	log *slog.Logger
	cfg metadata.LoginThrottle

	mu     sync.Mutex
	memo   map[throttleKey]heldLock
	pruned time.Time
}

type throttleKey struct{ name, client string }

// heldLock is what a replica read of a user's failures from an address:
// none at all (clean), or the lock they started (until).
type heldLock struct {
	until, read time.Time
	clean       bool
}

func newThrottle(db *metadata.DB, log *slog.Logger, max int, window, lockout time.Duration) *throttle {
	return &throttle{db: db, log: log, memo: map[throttleKey]heldLock{},
		cfg: metadata.LoginThrottle{Max: max, Window: window, Lockout: lockout, MaxLockout: max64(lockout, maxLockout)}}
}

func max64(a, b time.Duration) time.Duration {
	if a > b {
		return a
	}
	return b
}

func keyOf(name, client string) throttleKey {
	if len(name) > maxThrottleKey {
		name = name[:maxThrottleKey]
	}
	return throttleKey{name: name, client: client}
}

// blocked returns a *ThrottledError while name is locked out from client.
func (t *throttle) blocked(ctx context.Context, name, client string) error {
	if t.cfg.Lockout <= 0 {
		return nil
	}
	k := keyOf(name, client)
	now := time.Now()
	t.mu.Lock()
	h, ok := t.memo[k]
	t.mu.Unlock()
	// Remembered are a clean record (for at most lockMemoTTL) and a lock
	// (until it ends); failures short of a lock are read every time, so
	// that a lock another replica starts is seen at once.
	if !ok || !(now.Before(h.until) || (h.clean && now.Sub(h.read) < lockMemoTTL)) {
		until, found, err := t.db.LoginLockedUntil(ctx, k.name, k.client)
		if err != nil {
			return err
		}
		h = heldLock{until: until, read: now, clean: !found}
		t.remember(k, h)
	}
	if now.Before(h.until) {
		return &ThrottledError{RetryAfter: h.until.Sub(now)}
	}
	return nil
}

// fail records a failed login (an event: login.failed) and counts it;
// the failure that starts a lock is logged and is an event of its own
// (user.lockout), naming the user and the address, never the password.
func (t *throttle) fail(ctx context.Context, name, client string) {
	who := name
	if len(who) > 256 {
		who = who[:256] // what the caller sent: bounded
	}
	observe.Emit(ctx, observe.Event{Action: observe.LoginFailed, Target: who, Result: observe.ResultRefused})
	if t.cfg.Lockout <= 0 {
		return
	}
	k := keyOf(name, client)
	now := time.Now()
	until, lockouts, err := t.db.LoginFailed(ctx, k.name, k.client, t.cfg, now)
	if err != nil {
		t.log.WarnContext(ctx, "counting a failed login", "err", err)
		return
	}
	t.remember(k, heldLock{until: until, read: now})
	if !until.IsZero() {
		observe.Emit(ctx, observe.Event{Action: observe.UserLockout, Target: who, Result: observe.ResultRefused})
		t.log.WarnContext(ctx, "login locked: too many failed logins for this user from this address",
			"username", k.name, "client", client, "failures", t.cfg.Max, "locks_in_a_row", lockouts,
			"locked_for", until.Sub(now).Round(time.Second).String())
	}
	if now.Sub(t.pruned) > 10*time.Minute {
		t.pruned = now
		_ = t.db.PruneLoginFailures(ctx, now.Add(-24*time.Hour))
	}
}

// success forgets the failures of name from client.
func (t *throttle) success(ctx context.Context, name, client string) {
	if t.cfg.Lockout <= 0 {
		return
	}
	k := keyOf(name, client)
	t.mu.Lock()
	delete(t.memo, k)
	t.mu.Unlock()
	if err := t.db.LoginSucceeded(ctx, k.name, k.client); err != nil {
		t.log.WarnContext(ctx, "forgetting failed logins", "err", err)
	}
}

func (t *throttle) remember(k throttleKey, h heldLock) {
	t.mu.Lock()
	if len(t.memo) >= 100000 {
		clear(t.memo) // bounded memory under a spray
	}
	t.memo[k] = h
	t.mu.Unlock()
}
