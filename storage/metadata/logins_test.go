package metadata

import (
	"context"
	"testing"
	"time"
)

// Failed logins lock a user out from one address only, each lock in a row
// twice as long as the one before (capped), and a success forgets them.
func TestLoginFailures(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		th := LoginThrottle{Max: 3, Window: time.Minute, Lockout: 10 * time.Second, MaxLockout: 25 * time.Second}
		now := time.UnixMilli(1_700_000_000_000)
		fail := func(client string, n int) (time.Time, int) {
			t.Helper()
			var until time.Time
			var locks int
			for i := 0; i < n; i++ {
				var err error
				if until, locks, err = db.LoginFailed(ctx, "alice", client, th, now); err != nil {
					t.Fatal(err)
				}
			}
			return until, locks
		}
		if until, _ := fail("10.0.0.1", 2); !until.IsZero() {
			t.Fatalf("locked after 2 of 3 failures: %v", until)
		}
		for i, want := range []time.Duration{10 * time.Second, 20 * time.Second, 25 * time.Second} {
			n := 3
			if i == 0 {
				n = 1 // the third of the first three
			}
			until, locks := fail("10.0.0.1", n)
			if until.Sub(now) != want || locks != i+1 {
				t.Fatalf("lock %d: %v (%d in a row), want %v", i+1, until.Sub(now), locks, want)
			}
			if got, found, err := db.LoginLockedUntil(ctx, "alice", "10.0.0.1"); err != nil || !found || !got.Equal(until) {
				t.Fatalf("lock %d read back: %v %v %v", i+1, got, found, err)
			}
			now = until.Add(time.Second)
		}
		if got, found, _ := db.LoginLockedUntil(ctx, "alice", "10.0.0.2"); found || !got.IsZero() {
			t.Fatalf("another address is locked: %v", got)
		}
		if err := db.LoginSucceeded(ctx, "alice", "10.0.0.1"); err != nil {
			t.Fatal(err)
		}
		if _, found, _ := db.LoginLockedUntil(ctx, "alice", "10.0.0.1"); found {
			t.Fatal("a success did not forget the failures")
		}
		if until, locks := fail("10.0.0.1", 3); until.Sub(now) != 10*time.Second || locks != 1 {
			t.Fatalf("after a success the first lock is %v (%d in a row)", until.Sub(now), locks)
		}
	})
}
