package metadata

import (
	"context"
	"database/sql"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

// Benchmarks of the list queries the registry serves most, on both backends,
// over data seeded in bulk (see bulkSeed):
//
//	go test ./storage/metadata/ -run XXX -bench . -benchtime 200x -count 1
//
// Results and notes: docs/benchmarks-metadata.md.

// seedRepo describes one repository to seed: artifacts artifacts and tags
// tags, tag i pointing at artifact i % artifacts.
type seedRepo struct {
	name      string
	artifacts int
	tags      int
}

// seeded is what bulkSeed inserted, for assertions.
type seeded struct {
	projectID int64
	repoIDs   map[string]int64
}

// seedBase is the push time of everything seeded (ms since the epoch).
var seedBase = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()

func seedDigest(repo string, i int) string {
	return fmt.Sprintf("sha256:%s-%06d", strings.ReplaceAll(repo, "/", "-"), i)
}

func seedTagName(i int) string { return fmt.Sprintf("t%06d", i) }

// seedTagPushTime scrambles push times (a permutation of 0..n-1 seconds when
// n is not a multiple of 7919) so that push_time order is neither name nor
// id order; a few tags share a push time when n is.
func seedTagPushTime(i, n int) int64 {
	return seedBase + int64((i*7919)%n)*1000
}

// bulkRows is the batch size of the multi-row INSERTs.
const bulkRows = 500

// insertRows runs INSERT INTO head VALUES (...),(...) over rows in batches of
// bulkRows, each row being len(rows[i]) placeholders; with returning, it
// scans two returned columns (id, key) into out.
func insertRows(ctx context.Context, db *DB, tx *sql.Tx, head string, rows [][]any, returning string, out map[string]int64) error {
	for start := 0; start < len(rows); start += bulkRows {
		end := min(start+bulkRows, len(rows))
		var b strings.Builder
		b.WriteString(head)
		b.WriteString(" VALUES ")
		var args []any
		for i, r := range rows[start:end] {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('(')
			b.WriteString(placeholders(len(r)))
			b.WriteByte(')')
			args = append(args, r...)
		}
		if returning == "" {
			if _, err := tx.ExecContext(ctx, db.q(b.String()), args...); err != nil {
				return err
			}
			continue
		}
		b.WriteString(" RETURNING " + returning)
		res, err := tx.QueryContext(ctx, db.q(b.String()), args...)
		if err != nil {
			return err
		}
		for res.Next() {
			var id int64
			var key string
			if err := res.Scan(&id, &key); err != nil {
				res.Close()
				return err
			}
			out[key] = id
		}
		if err := res.Close(); err != nil {
			return err
		}
		if err := res.Err(); err != nil {
			return err
		}
	}
	return nil
}

// bulkSeed inserts a project and repos with their artifacts and tags
// directly, in a few large transactions of multi-row INSERTs: seeding 100,000
// tags through PutArtifact/PutTag one at a time would take minutes. It fills
// only what lists read (no blobs, references or storage accounting). On
// PostgreSQL it then runs VACUUM ANALYZE, as autovacuum would soon after such
// a load; SQLite is left as berth leaves it (no ANALYZE).
func bulkSeed(tb testing.TB, db *DB, project string, repos []seedRepo) seeded {
	tb.Helper()
	ctx := context.Background()
	s := seeded{repoIDs: map[string]int64{}}
	now := seedBase
	tx := func(fn func(tx *sql.Tx) error) error { return db.tx(ctx, fn) }
	err := tx(func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, db.q(`INSERT INTO projects (name, created_at, updated_at) VALUES (?, ?, ?) RETURNING id`),
			project, now, now).Scan(&s.projectID); err != nil {
			return fmt.Errorf("project: %w", err)
		}
		rows := make([][]any, 0, len(repos))
		for _, r := range repos {
			rows = append(rows, []any{s.projectID, r.name, now, now})
		}
		if err := insertRows(ctx, db, tx, `INSERT INTO repositories (project_id, name, created_at, updated_at)`, rows, "id, name", s.repoIDs); err != nil {
			return fmt.Errorf("repositories: %w", err)
		}
		if len(s.repoIDs) != len(repos) {
			return fmt.Errorf("repositories: %d ids for %d rows", len(s.repoIDs), len(repos))
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("bulk seed: %v", err)
	}

	// Artifacts, all in one transaction; their ids by digest for the tags.
	artIDs := map[string]int64{}
	err = tx(func(tx *sql.Tx) error {
		var rows [][]any
		for _, r := range repos {
			for i := range r.artifacts {
				rows = append(rows, []any{s.repoIDs[r.name], seedDigest(r.name, i), "application/vnd.oci.image.manifest.v1+json",
					int64(1000), int64(1000 + i), seedBase + int64(i)*1000})
			}
		}
		if err := insertRows(ctx, db, tx, `INSERT INTO artifacts (repository_id, digest, media_type, manifest_size, size, push_time)`,
			rows, "id, digest", artIDs); err != nil {
			return fmt.Errorf("artifacts: %w", err)
		}
		if len(artIDs) != len(rows) {
			return fmt.Errorf("artifacts: %d ids for %d rows", len(artIDs), len(rows))
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("bulk seed: %v", err)
	}

	// Tags, in transactions of up to 50,000 rows.
	const perTx = 50_000
	var rows [][]any
	flush := func() {
		if len(rows) == 0 {
			return
		}
		if err := tx(func(tx *sql.Tx) error {
			return insertRows(ctx, db, tx, `INSERT INTO tags (repository_id, artifact_id, name, push_time)`, rows, "", nil)
		}); err != nil {
			tb.Fatalf("bulk seed: tags: %v", err)
		}
		rows = rows[:0]
	}
	for _, r := range repos {
		if r.tags > 0 && r.artifacts == 0 {
			tb.Fatalf("bulk seed: %s has tags but no artifacts", r.name)
		}
		for i := range r.tags {
			rows = append(rows, []any{s.repoIDs[r.name], artIDs[seedDigest(r.name, i%r.artifacts)], seedTagName(i), seedTagPushTime(i, r.tags)})
			if len(rows) == perTx {
				flush()
			}
		}
	}
	flush()
	if err := db.Recount(ctx); err != nil {
		tb.Fatal(err)
	}

	if db.d.name == "postgres" {
		// VACUUM marks a page all-visible only once its rows are visible to
		// every transaction and their commits are known to be flushed; right
		// after the load that may not be so yet, so retry for a few seconds.
		for try := 0; ; try++ {
			if _, err := db.sql.ExecContext(ctx, `VACUUM ANALYZE`); err != nil {
				tb.Fatalf("bulk seed: vacuum: %v", err)
			}
			var missing int64
			if err := db.sql.QueryRowContext(ctx, `SELECT coalesce(sum(relpages - relallvisible), 0) FROM pg_class
				WHERE relname IN ('projects', 'repositories', 'artifacts', 'tags')`).Scan(&missing); err != nil {
				tb.Fatalf("bulk seed: %v", err)
			}
			if missing == 0 {
				if try > 0 {
					tb.Logf("bulk seed: all-visible after %d VACUUMs", try+1)
				}
				break
			}
			if try == 20 {
				tb.Logf("bulk seed: %d pages still not all-visible after VACUUM", missing)
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	return s
}

func TestBulkSeedMatchesAPI(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		const nTags, nArts, nRepos = 300, 7, 20
		repos := []seedRepo{{name: "p/big", artifacts: nArts, tags: nTags}}
		for i := range nRepos {
			repos = append(repos, seedRepo{name: fmt.Sprintf("p/r%03d", i), artifacts: 1, tags: 1})
		}
		repos = append(repos, seedRepo{name: "p/empty"}) // no artifacts: not in the catalog
		s := bulkSeed(t, db, "p", repos)
		repoID := s.repoIDs["p/big"]

		// Expected orders.
		byName := make([]int, nTags)
		for i := range byName {
			byName[i] = i
		}
		byPush := append([]int(nil), byName...)
		sort.SliceStable(byPush, func(a, b int) bool {
			pa, pb := seedTagPushTime(byPush[a], nTags), seedTagPushTime(byPush[b], nTags)
			if pa != pb {
				return pa > pb
			}
			return byPush[a] > byPush[b] // id DESC tiebreak; ids follow insertion order
		})
		check := func(what string, got []Tag, total int64, want []int) {
			t.Helper()
			if total != nTags {
				t.Errorf("%s: total %d, want %d", what, total, nTags)
			}
			if len(got) != len(want) {
				t.Fatalf("%s: %d tags, want %d", what, len(got), len(want))
			}
			for k, i := range want {
				g := got[k]
				if g.Name != seedTagName(i) || g.Digest != seedDigest("p/big", i%nArts) || g.RepositoryID != repoID ||
					g.PushTime.UnixMilli() != seedTagPushTime(i, nTags) || g.Immutable || len(g.Attrs) != 0 {
					t.Fatalf("%s: [%d] = %+v, want tag %s of %s", what, k, g, seedTagName(i), seedDigest("p/big", i%nArts))
				}
			}
		}
		got, total := must2[Tag](t)(db.ListTags(ctx, repoID, ListOptions{Limit: 50}))
		check("first page", got, total, byName[:50])
		got, total = must2[Tag](t)(db.ListTags(ctx, repoID, ListOptions{Offset: 150, Limit: 50}))
		check("middle page", got, total, byName[150:200])
		got, total = must2[Tag](t)(db.ListTags(ctx, repoID, ListOptions{Offset: 280, Limit: 50}))
		check("last page", got, total, byName[280:])
		got, total = must2[Tag](t)(db.ListTags(ctx, repoID, ListOptions{Sort: "push_time", Desc: true, Limit: 50}))
		check("by push time", got, total, byPush[:50])
		got, total = must2[Tag](t)(db.ListTags(ctx, repoID, ListOptions{Sort: "push_time", Desc: true, Offset: 100, Limit: 50}))
		check("by push time, middle", got, total, byPush[100:150])
		got, total = must2[Tag](t)(db.ListTags(ctx, repoID, ListOptions{Desc: true, Limit: 3}))
		check("by name desc", got, total, []int{299, 298, 297})

		names := func(idx []int) []string {
			var out []string
			for _, i := range idx {
				out = append(out, seedTagName(i))
			}
			return out
		}
		if page := must[[]string](t)(db.TagPage(ctx, repoID, "", 50)); !reflect.DeepEqual(page, names(byName[:50])) {
			t.Errorf("TagPage from start: %v", page)
		}
		if page := must[[]string](t)(db.TagPage(ctx, repoID, seedTagName(149), 50)); !reflect.DeepEqual(page, names(byName[150:200])) {
			t.Errorf("TagPage from middle: %v", page)
		}
		if page := must[[]string](t)(db.TagPage(ctx, repoID, seedTagName(289), 50)); !reflect.DeepEqual(page, names(byName[290:])) {
			t.Errorf("TagPage at the end: %v", page)
		}
		if tag := must[Tag](t)(db.GetTag(ctx, repoID, seedTagName(10))); tag.Digest != seedDigest("p/big", 10%nArts) {
			t.Errorf("GetTag: %+v", tag)
		}

		// The catalog: every repository holding an artifact, in byte order.
		var all []string
		for _, r := range repos {
			if r.artifacts > 0 {
				all = append(all, r.name)
			}
		}
		sort.Strings(all)
		if page := must[[]string](t)(db.CatalogPage(ctx, "", 100, nil)); !reflect.DeepEqual(page, all) {
			t.Errorf("catalog: %v, want %v", page, all)
		}
		if page := must[[]string](t)(db.CatalogPage(ctx, all[5], 10, nil)); !reflect.DeepEqual(page, all[6:16]) {
			t.Errorf("catalog from %s: %v, want %v", all[5], page, all[6:16])
		}
		if page := must[[]string](t)(db.CatalogPage(ctx, "", 100, []int64{s.projectID})); len(page) != len(all) {
			t.Errorf("catalog restricted to the project: %v", page)
		}
		list, total := must2[Repository](t)(db.ListRepositories(ctx, RepoFilter{}, ListOptions{Limit: 5, Offset: 1}))
		if total != int64(len(repos)) || len(list) != 5 || list[0].Name != "p/empty" || list[1].Name != "p/r000" ||
			list[1].ArtifactCount != 1 || list[1].TagCount != 1 || list[1].ProjectID != s.projectID {
			t.Errorf("ListRepositories: total %d, %+v", total, list)
		}
		big := must[Repository](t)(db.GetRepository(ctx, "p/big"))
		if big.ArtifactCount != nArts || big.TagCount != nTags {
			t.Errorf("p/big counts: %d artifacts, %d tags", big.ArtifactCount, big.TagCount)
		}
		if p := must[Project](t)(db.GetProject(ctx, "p")); p.RepoCount != int64(len(repos)) {
			t.Errorf("project repo count %d", p.RepoCount)
		}

		// The API still works on top of seeded rows (ids keep counting).
		pushImage(t, db, s.projectID, "p/big", "sha256:new", "latest")
		if _, total := must2[Tag](t)(db.ListTags(ctx, repoID, ListOptions{Limit: 1})); total != nTags+1 {
			t.Errorf("after a push: total %d", total)
		}
	})
}

// forEachBackend runs fn as sub-benchmarks "sqlite" and "postgres", each on
// a fresh database seeded once with seed (outside any timer).
func forEachBackend(b *testing.B, seed func(b *testing.B, db *DB), fn func(b *testing.B, db *DB)) {
	for _, name := range []string{"sqlite", "postgres"} {
		b.Run(name, func(b *testing.B) {
			db := openTestDB(b, name)
			start := time.Now()
			seed(b, db)
			b.Logf("%s: seeded in %v", name, time.Since(start).Round(time.Millisecond))
			fn(b, db)
		})
	}
}

func BenchmarkTagPage(b *testing.B) {
	const nTags, nArts = 100_000, 300
	ctx := context.Background()
	var repoID int64
	seed := func(b *testing.B, db *DB) {
		s := bulkSeed(b, db, "bench", []seedRepo{
			{name: "bench/small", artifacts: 5, tags: 100},
			{name: "bench/big", artifacts: nArts, tags: nTags},
			{name: "bench/other", artifacts: 5, tags: 1000},
		})
		repoID = s.repoIDs["bench/big"]
	}
	forEachBackend(b, seed, func(b *testing.B, db *DB) {
		list := func(name string, opt ListOptions, wantFirst string) {
			b.Run(name, func(b *testing.B) {
				for b.Loop() {
					tags, total, err := db.ListTags(ctx, repoID, opt)
					if err != nil || total != nTags || len(tags) != 50 || tags[0].Name != wantFirst {
						b.Fatalf("%d tags of %d, first %v: %v", len(tags), total, tags[:min(1, len(tags))], err)
					}
				}
			})
		}
		list("ListTags/first", ListOptions{Limit: 50}, seedTagName(0))
		list("ListTags/offset50000", ListOptions{Offset: 50_000, Limit: 50}, seedTagName(50_000))
		// push time (i*7919)%n is largest, n-1, for i = 82,321 when n = 100,000.
		list("ListTags/push_time_desc", ListOptions{Sort: "push_time", Desc: true, Limit: 50}, seedTagName(82_321))
		page := func(name, last, wantFirst string) {
			b.Run(name, func(b *testing.B) {
				for b.Loop() {
					names, err := db.TagPage(ctx, repoID, last, 50)
					if err != nil || len(names) != 50 || names[0] != wantFirst {
						b.Fatalf("%d names, first %v: %v", len(names), names[:min(1, len(names))], err)
					}
				}
			})
		}
		page("TagPage/first", "", seedTagName(0))
		page("TagPage/middle", seedTagName(49_999), seedTagName(50_000))
	})
}

func BenchmarkCatalogPage(b *testing.B) {
	const nRepos = 10_000
	ctx := context.Background()
	repoName := func(i int) string { return fmt.Sprintf("bench/repo-%05d", i) }
	seed := func(b *testing.B, db *DB) {
		repos := make([]seedRepo, nRepos)
		for i := range repos {
			repos[i] = seedRepo{name: repoName(i), artifacts: 1, tags: 1}
		}
		bulkSeed(b, db, "bench", repos)
	}
	forEachBackend(b, seed, func(b *testing.B, db *DB) {
		page := func(name, last, wantFirst string) {
			b.Run(name, func(b *testing.B) {
				for b.Loop() {
					names, err := db.CatalogPage(ctx, last, 100, nil)
					if err != nil || len(names) != 100 || names[0] != wantFirst {
						b.Fatalf("%d names, first %v: %v", len(names), names[:min(1, len(names))], err)
					}
				}
			})
		}
		page("CatalogPage/first", "", repoName(0))
		page("CatalogPage/middle", repoName(4_999), repoName(5_000))
		b.Run("ListRepositories/first", func(b *testing.B) {
			for b.Loop() {
				repos, total, err := db.ListRepositories(ctx, RepoFilter{}, ListOptions{Limit: 50})
				if err != nil || total != nRepos || len(repos) != 50 || repos[0].Name != repoName(0) || repos[0].TagCount != 1 {
					b.Fatalf("%d repos of %d: %v", len(repos), total, err)
				}
			}
		})
	})
}
