package berthtest

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
)

// blockSample is one lock wait seen in pg_stat_activity: who waited, on
// what, and what the session it waited for (pg_blocking_pids) was doing.
type blockSample struct {
	waiter, blocker           int
	waitMs                    float64
	wait, statement           string
	blockerState, blockerWait string
	blockerXactMs             float64
	blockerStatement          string
	at                        time.Time
}

// SampleBlocks polls the database of dsn every interval for sessions
// waiting over 50 ms for a lock, with the sessions they wait for, until
// the returned stop is called; stop returns the n longest waits seen (each
// waiter and blocker pair once, at its longest), one line each. A log of
// lock waits (PGWaitsEnv) names the waiter and the lock; this says what
// the holder was doing: a statement, or "idle in transaction" (its client
// busy elsewhere while holding the lock).
func (p *Postgres) SampleBlocks(t testing.TB, dsn string, interval time.Duration) (stop func(n int) string) {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	seen := map[[2]int]blockSample{}
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			for _, s := range sampleBlocks(ctx, db) {
				mu.Lock()
				k := [2]int{s.waiter, s.blocker}
				if old, ok := seen[k]; !ok || s.waitMs > old.waitMs {
					seen[k] = s
				}
				mu.Unlock()
			}
		}
	})
	return func(n int) string {
		cancel()
		wg.Wait()
		_ = db.Close()
		all := slices.Collect(maps.Values(seen))
		slices.SortFunc(all, func(a, b blockSample) int { return cmp.Compare(b.waitMs, a.waitMs) })
		var out []string
		for _, s := range all[:min(n, len(all))] {
			out = append(out, fmt.Sprintf("%s pid %d waited %.0f ms (%s) in %q for pid %d: %s%s, its transaction %.0f ms old, last statement %q",
				s.at.Format("15:04:05.000"), s.waiter, s.waitMs, s.wait, s.statement, s.blocker, s.blockerState, s.blockerWait, s.blockerXactMs, s.blockerStatement))
		}
		return fmt.Sprintf("%d waits seen over 50 ms; the longest:\n%s", len(all), strings.Join(out, "\n"))
	}
}

func sampleBlocks(ctx context.Context, db *sql.DB) []blockSample {
	rows, err := db.QueryContext(ctx, `SELECT a.pid, b.pid, extract(epoch FROM now() - a.query_start) * 1000,
		a.wait_event_type || ':' || a.wait_event, left(regexp_replace(a.query, '\s+', ' ', 'g'), 160),
		coalesce(b.state, ''), coalesce(' (waiting ' || b.wait_event_type || ':' || b.wait_event || ')', ''),
		coalesce(extract(epoch FROM now() - b.xact_start) * 1000, 0), left(regexp_replace(b.query, '\s+', ' ', 'g'), 200)
		FROM pg_stat_activity a CROSS JOIN LATERAL unnest(pg_blocking_pids(a.pid)) AS bp(pid)
		JOIN pg_stat_activity b ON b.pid = bp.pid
		WHERE a.datname = current_database() AND a.wait_event_type = 'Lock' AND now() - a.query_start > interval '50 ms'`)
	if err != nil {
		return nil
	}
	defer rows.Close()
	var out []blockSample
	now := time.Now()
	for rows.Next() {
		s := blockSample{at: now}
		if rows.Scan(&s.waiter, &s.blocker, &s.waitMs, &s.wait, &s.statement, &s.blockerState, &s.blockerWait, &s.blockerXactMs, &s.blockerStatement) == nil {
			out = append(out, s)
		}
	}
	return out
}
