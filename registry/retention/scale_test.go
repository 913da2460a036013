package retention_test

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// TestRetentionScale measures a retention run over a project of a million
// tags (BERTH_BENCH_RET_TAGS, in BERTH_BENCH_RET_REPOS repositories), on
// SQLite and on PostgreSQL, with filesystem storage holding every tag's
// links: the run's duration, the longest write transaction it held, push
// latency alone and while the run goes, and, since the run does not wait
// for storage's copies of what it removed, when they are all written and
// push latency until then. The policy keeps each
// repository's newest tenth. It is a benchmark, not a test of speed: it
// runs with BERTH_BENCH=1 (make bench-retention) and prints a Markdown
// table for docs/benchmarks.md; it does fail when the run removes anything
// but what the policy says. With BERTH_TEST_PG_STATS=1 it also logs the
// statements PostgreSQL spent its time on during the run. make
// bench-retention runs PostgreSQL as a server (BERTH_TEST_PG_DURABLE,
// BERTH_TEST_PG_SETTINGS); without them it is the tests' throwaway, whose
// commits never wait for the disk.
func TestRetentionScale(t *testing.T) {
	if os.Getenv("BERTH_BENCH") == "" {
		t.Skip("a benchmark: run with BERTH_BENCH=1 (make bench-retention)")
	}
	repos := envInt("BERTH_BENCH_RET_REPOS", 100)
	p := bigProject{name: "big", repos: repos, tagsPer: envInt("BERTH_BENCH_RET_TAGS", 1_000_000) / repos}
	keep := max(1, p.tagsPer/10)
	// The pushes beside the run: 4 clients pushing one after another (a
	// saturated registry), or BERTH_BENCH_RET_PUSH_RATE pushes a second
	// whatever the registry's pace (an open load: what a push waits for
	// shows, not what it shares the CPU with).
	rate := float64(envInt("BERTH_BENCH_RET_PUSH_RATE", 0))
	load := "4 clients"
	if rate > 0 {
		load = fmt.Sprintf("%.0f/s", rate)
	}
	var rows []string
	for _, be := range []struct {
		name string
		dsn  func(dir string) (dsn string, env []string)
	}{
		{"SQLite", func(dir string) (string, []string) { return filepath.Join(dir, "berth.db"), nil }},
		{"PostgreSQL", func(string) (string, []string) {
			dsn := berthtest.SharedPostgres(t).NewDatabase(t)
			return dsn, []string{"BERTH_DATABASE_URL=" + dsn}
		}},
	} {
		if only := os.Getenv("BERTH_BENCH_RET_DB"); only != "" && only != be.name {
			continue
		}
		dir := t.TempDir()
		dsn, env := be.dsn(dir)
		start := time.Now()
		seedIndex(t, dsn, p)
		seedStorage(t, filepath.Join(dir, "registry"), p)
		t.Logf("%s: seeded %d tags in %s", be.name, p.repos*p.tagsPer, time.Since(start).Round(time.Second))
		// The seed's writeback (millions of files, the database's pages)
		// goes to the disk now, not during the pushes measured alone.
		start = time.Now()
		syscall.Sync()
		if be.name == "PostgreSQL" {
			berthtest.SharedPostgres(t).Checkpoint(t)
		}
		t.Logf("%s: seed written to the disk in %s", be.name, time.Since(start).Round(time.Second))
		b := berthtest.Start(t, berthtest.Options{DataDir: dir, Env: append(env, "BERTH_GC_ENABLED=false", "PPROF_ADDR="+os.Getenv("PPROF_ADDR"))})
		policy, _ := json.Marshal(map[string]any{"rules": []map[string]any{{"keep": "latestPushed", "count": keep, "repositories": "svc*"}}})
		if code, body := call(t, b, http.MethodPut, "/api/berth/v1/projects/big/retention", policy); code != http.StatusOK {
			t.Fatalf("policy: %d %s", code, body)
		}
		pushes := func(d time.Duration, stop <-chan struct{}) []time.Duration {
			if rate > 0 {
				return berthtest.PacedPushLatencies(t, b, "big/live", rate, d, stop)
			}
			return berthtest.PushLatencies(t, b, "big/live", 4, d, stop)
		}
		alone := pushes(time.Duration(envInt("BERTH_BENCH_RET_ALONE", 30))*time.Second, nil)
		pgStats := be.name == "PostgreSQL" && os.Getenv(berthtest.PGStatsEnv) != ""
		if pgStats {
			berthtest.SharedPostgres(t).ResetStatements(t, dsn)
		}
		type result struct {
			code int
			body []byte
			took time.Duration
		}
		done, res := make(chan struct{}), make(chan result, 1)
		pgWaits := be.name == "PostgreSQL" && os.Getenv(berthtest.PGWaitsEnv) != ""
		var blocks func(n int) string
		if pgWaits {
			blocks = berthtest.SharedPostgres(t).SampleBlocks(t, dsn, 20*time.Millisecond)
		}
		runStart := time.Now()
		go func() {
			defer close(done)
			code, body, err := try(b, http.MethodPost, "/api/berth/v1/projects/big/retention/runs", nil)
			if err != nil { // not t.Fatal: this goroutine must answer
				body = []byte(err.Error())
			}
			res <- result{code, body, time.Since(runStart)}
		}()
		during := pushes(0, done)
		r := <-res
		// Printed now: the copies after it take several times the run.
		t.Logf("%s: run answered %d in %s (%.300s); pushes alone p50 %s p99 %s, during p50 %s p99 %s (%d)", be.name, r.code, r.took, bytes.TrimSpace(r.body),
			berthtest.Percentile(alone, 50), berthtest.Percentile(alone, 99), berthtest.Percentile(during, 50), berthtest.Percentile(during, 99), len(during))
		if f := os.Getenv("BERTH_BENCH_RET_LOGS"); f != "" {
			if err := os.WriteFile(f, []byte(b.Logs()), 0o644); err != nil {
				t.Error(err)
			}
		}
		for _, l := range strings.Split(b.Logs(), "\n") {
			if strings.Contains(l, "slow write transaction") {
				t.Logf("%s: %s", be.name, l)
			}
		}
		if pgWaits {
			t.Logf("PostgreSQL's lock waits, autovacuums and checkpoints so far:\n%s", berthtest.SharedPostgres(t).Waits(300))
			t.Logf("PostgreSQL's lock waits during the run, sampled:\n%s", blocks(40))
		}
		// The run does not wait for storage's copies of what it removed:
		// how much longer they take, and the pushes meanwhile.
		copied := make(chan struct{})
		var copies time.Duration
		go func() {
			defer close(copied)
			waitCopies(t, dsn, "big/live")
			copies = time.Since(runStart)
		}()
		copying := pushes(0, copied)
		if pgStats {
			t.Logf("PostgreSQL's statements during the run, most time first:\n%s", berthtest.SharedPostgres(t).Statements(t, dsn, 40))
		}
		var run struct {
			Status                string
			TagsSeen, TagsRemoved int64
			ManifestsRemoved      int64
			LongestWriteMs        int64
			Kept                  map[string]int64
		}
		if err := json.Unmarshal(r.body, &run); err != nil || r.code != http.StatusOK || run.Status != "done" {
			t.Fatalf("%s: run: %d %s", be.name, r.code, r.body)
		}
		want := int64(p.repos * (p.tagsPer - keep))
		if run.TagsRemoved != want || run.ManifestsRemoved != want {
			t.Errorf("%s: removed %d tags and %d manifests, want %d of each: %+v", be.name, run.TagsRemoved, run.ManifestsRemoved, want, run)
		}
		for _, repo := range []string{p.repo(0), p.repo(p.repos - 1)} {
			tags, err := os.ReadDir(filepath.Join(dir, "registry/docker/registry/v2/repositories", repo, "_manifests/tags"))
			if err != nil || len(tags) != keep || tags[0].Name() != fmt.Sprintf("t%07d", p.tagsPer-keep) {
				t.Errorf("%s: %s keeps %d tags in storage (%v), want the newest %d", be.name, repo, len(tags), err, keep)
			}
		}
		t.Logf("%s: %+v in %s, storage copies by %s; pushes alone p99 %s, during %s (%d), while the copies are written %s (%d)", be.name, run, r.took, copies,
			berthtest.Percentile(alone, 99), berthtest.Percentile(during, 99), len(during), berthtest.Percentile(copying, 99), len(copying))
		rows = append(rows, fmt.Sprintf("| %s, pushes %s | %d | %d | %.0f s | %.0f | %d ms | %s / %s | %s / %s (%d pushes) | %.0f s | %s / %s (%d pushes) |",
			be.name, load, run.TagsSeen, run.TagsRemoved, r.took.Seconds(), float64(run.TagsRemoved)/r.took.Seconds(), run.LongestWriteMs,
			berthtest.Percentile(alone, 50), berthtest.Percentile(alone, 99), berthtest.Percentile(during, 50), berthtest.Percentile(during, 99), len(during),
			copies.Seconds(), berthtest.Percentile(copying, 50), berthtest.Percentile(copying, 99), len(copying)))
		if err := b.Stop(); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Printf("\n| index, pushes beside the run | tags | removed (and as many manifests) | run | tags/s | longest write | push p50 / p99 alone | push p50 / p99 during the run | storage copies written by | push p50 / p99 after the run, until then |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, r := range rows {
		fmt.Println(r)
	}
}

// waitCopies waits until the index holds no storage sync row but those of
// the repositories named besides* (the pushes'): every storage copy the
// run left is written.
func waitCopies(t *testing.T, dsn, besides string) {
	driver, src, arg := "sqlite", "file:"+dsn+"?mode=ro", "?"
	if strings.HasPrefix(dsn, "postgres") {
		driver, src, arg = "pgx", dsn, "$1"
	}
	db, err := sql.Open(driver, src)
	if err != nil {
		t.Error(err)
		return
	}
	defer db.Close()
	for {
		var n int64
		if err := db.QueryRow(`SELECT count(*) FROM storage_sync WHERE repository NOT LIKE `+arg, besides+"%").Scan(&n); err != nil {
			t.Errorf("storage sync rows: %v", err)
			return
		}
		if n == 0 {
			return
		}
		time.Sleep(time.Second)
	}
}

func call(t *testing.T, b *berthtest.Berth, method, path string, body []byte) (int, []byte) {
	code, out, err := try(b, method, path, body)
	if err != nil {
		t.Fatal(err)
	}
	return code, out
}

// try makes an API call as the admin, waiting as long as it takes (a run
// over a million tags on PostgreSQL takes longer than half an hour; the
// test's -timeout bounds it).
func try(b *berthtest.Berth, method, path string, body []byte) (int, []byte, error) {
	req, _ := http.NewRequest(method, b.URL(path), bytes.NewReader(body))
	req.SetBasicAuth("admin", b.AdminPassword)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	_, err = out.ReadFrom(resp.Body)
	return resp.StatusCode, out.Bytes(), err
}

func envInt(name string, def int) int {
	var n int
	if _, err := fmt.Sscanf(os.Getenv(name), "%d", &n); err != nil || n <= 0 {
		return def
	}
	return n
}
