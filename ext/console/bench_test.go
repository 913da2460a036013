package console_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/cmd/berth/app/apptest"
	"github.com/berth-registry/berth/cmd/berth/berthtest"
	"github.com/berth-registry/berth/storage/metadata"
)

// BenchmarkConsolePages loads the console's pages from a whole berth in
// this process whose project holds 2,000 repositories, one of them with
// 100,000 tags (seeded into the metadata database directly: pushing them
// would take an hour). ms/page is the time from request to the last byte
// over loopback, so the server's time and a little more. No page may walk
// the tags: keyset pages seek the index, counts are the repository's
// counters.
//
//	go test ./ext/console/ -run XXX -bench ConsolePages -benchtime 50x -count 1
func BenchmarkConsolePages(b *testing.B) {
	const tags, repos = 100_000, 2_000
	dbPath := filepath.Join(b.TempDir(), "berth.db")
	srv := apptest.Start(b, berthtest.Options{Env: []string{"BERTH_DATABASE_URL=" + dbPath}})
	img := berthtest.PushRawImage(b, srv, "big/app", "seed", "amd64", berthtest.LayerBytes(1))
	seedTags(b, dbPath, "big/app", tags, repos)

	br := newBrowser(b, srv)
	br.login("admin", srv.AdminPassword)
	pages := []struct{ name, path, want string }{
		{"projects", "/console/", "big"},
		{"repositories/first", "/console/projects/big", "big/r000049"},
		{"repositories/deep", "/console/projects/big?after=big/r001900", "big/r001950"},
		{"repositories/search", "/console/projects/big?q=r0019", "big/r001949"},
		{"tags/first", "/console/repositories/big/app", "t000048"},
		{"tags/middle", "/console/repositories/big/app?after=t050000", "t050050"},
		{"tags/last", "/console/repositories/big/app?after=t099950", "t099999"},
		{"tags/back", "/console/repositories/big/app?before=t050000", "t049950"},
		{"tags/search", "/console/repositories/big/app?q=t0999", "t099949"},
		{"artifact", "/console/repositories/big/app/-/artifacts/seed", img.Digest},
	}
	for _, p := range pages {
		b.Run(p.name, func(b *testing.B) {
			var total time.Duration
			for b.Loop() {
				start := time.Now()
				code, _, body := br.get(p.path)
				total += time.Since(start)
				if code != http.StatusOK || !strings.Contains(body, p.want) {
					b.Fatalf("%s: %d, lacks %q", p.path, code, p.want)
				}
			}
			b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/page")
		})
	}
}

// seedTags gives repo tags tags t000000..., each naming an artifact of its
// own (rows only: their manifests are not in storage), and the repository's
// project repos-1 more repositories, in a few large transactions, then
// recounts the counters as a reindex would.
func seedTags(b *testing.B, dbPath, repo string, tags, repos int) {
	b.Helper()
	ctx := context.Background()
	mdb, err := metadata.Open(ctx, dbPath, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer mdb.Close()
	r, err := mdb.GetRepository(ctx, repo)
	if err != nil {
		b.Fatal(err)
	}
	raw, err := sql.Open("sqlite", "file:"+dbPath+"?_pragma=busy_timeout(10000)&_txlock=immediate")
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	now := time.Now().UnixMilli()
	insert := func(head string, n int, row func(i int) []any) {
		tx, err := raw.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		const batch = 200
		for lo := 0; lo < n; lo += batch {
			hi := min(lo+batch, n)
			var q strings.Builder
			var args []any
			q.WriteString(head + " VALUES ")
			for i := lo; i < hi; i++ {
				vals := row(i)
				if i > lo {
					q.WriteString(", ")
				}
				q.WriteString("(" + strings.TrimSuffix(strings.Repeat("?, ", len(vals)), ", ") + ")")
				args = append(args, vals...)
			}
			if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
				b.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	digest := func(i int) string { return fmt.Sprintf("sha256:%064d", i) }
	insert("INSERT INTO artifacts (repository_id, digest, media_type, manifest_size, size, push_time)", tags, func(i int) []any {
		return []any{r.ID, digest(i), "application/vnd.oci.image.manifest.v1+json", 1000, 1000 + i, now - int64(i)}
	})
	ids := map[string]int64{}
	rows, err := raw.QueryContext(ctx, "SELECT id, digest FROM artifacts WHERE repository_id = ?", r.ID)
	if err != nil {
		b.Fatal(err)
	}
	for rows.Next() {
		var id int64
		var d string
		if err := rows.Scan(&id, &d); err != nil {
			b.Fatal(err)
		}
		ids[d] = id
	}
	rows.Close()
	insert("INSERT INTO tags (repository_id, artifact_id, name, push_time)", tags, func(i int) []any {
		return []any{r.ID, ids[digest(i)], fmt.Sprintf("t%06d", i), now - int64(i)}
	})
	insert("INSERT INTO repositories (project_id, name, created_at, updated_at)", repos-1, func(i int) []any {
		return []any{r.ProjectID, fmt.Sprintf("big/r%06d", i+1), now, now}
	})
	if err := mdb.Recount(ctx); err != nil {
		b.Fatal(err)
	}
}
