package metadata

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"
)

// TimeHeld reports how long a transaction ran, not how long it waited for
// the writer, nor how long a request's write waited for it.
func TestTimeHeld(t *testing.T) {
	const hold = 300 * time.Millisecond
	for _, tc := range []struct {
		name       string
		behind     bool          // queued behind a write that runs for hold
		request    bool          // a request's write is asked while fn runs
		background bool          // the transaction is background work
		runs       time.Duration // fn's own time
		fail       bool
		min, max   time.Duration // bounds of the held time reported
	}{
		{name: "alone", runs: 40 * time.Millisecond, min: 40 * time.Millisecond, max: hold},
		{name: "behind another write", behind: true, min: 0, max: hold},
		{name: "failed", runs: 40 * time.Millisecond, fail: true, min: 40 * time.Millisecond, max: hold},
		{name: "a request waits for it", runs: 40 * time.Millisecond, request: true, min: 40 * time.Millisecond, max: hold},
		{name: "background, a request waits for it", runs: 40 * time.Millisecond, request: true, background: true,
			min: 40 * time.Millisecond, max: hold},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := groupTestDB(t)
			held := Held{Took: -1}
			ctx := TimeHeld(context.Background(), &held)
			if tc.background {
				ctx = Background(ctx)
			}
			running := make(chan struct{})
			var requested chan error
			var release func()
			var done <-chan error
			if tc.behind {
				release, done = holdWriter(t, db)
			}
			errc := make(chan error, 1)
			start := time.Now()
			go func() {
				errc <- db.tx(ctx, func(tx *sql.Tx) error {
					close(running)
					time.Sleep(tc.runs)
					if _, err := tx.Exec(`INSERT INTO gt (k, v) VALUES ('k', 1)`); err != nil {
						return err
					}
					if tc.fail {
						return errors.New("refused")
					}
					return nil
				})
			}()
			if tc.behind {
				queued(t, db, 1)
				time.Sleep(hold)
				release()
				if err := <-done; err != nil {
					t.Fatal(err)
				}
			}
			if tc.request {
				<-running
				requested = make(chan error, 1)
				go func() {
					requested <- db.tx(context.Background(), func(tx *sql.Tx) error {
						_, err := tx.Exec(`INSERT INTO gt (k, v) VALUES ('request', 1)`)
						return err
					})
				}()
				queued(t, db, 1)
			}
			err := <-errc
			wall := time.Since(start)
			if requested != nil {
				if err := <-requested; err != nil {
					t.Fatal(err)
				}
			}
			if (err != nil) != tc.fail {
				t.Fatalf("err %v, want failure %v", err, tc.fail)
			}
			if held.Took < tc.min || held.Took >= tc.max {
				t.Errorf("held %s, want in [%s, %s)", held.Took, tc.min, tc.max)
			}
			if tc.behind && wall < hold {
				t.Errorf("the write took %s, want at least %s (it waited)", wall, hold)
			}
			if want := map[bool]int{false: 1, true: 0}[tc.fail]; gtCount(t, db, "k = 'k'") != want {
				t.Errorf("rows: want %d", want)
			}
		})
	}
}
