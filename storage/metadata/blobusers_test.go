package metadata

import (
	"context"
	"fmt"
	"strconv"
	"testing"
)

// blobUsers counts the blob_users rows of digest (pending ones included).
func blobUsers(t *testing.T, db *DB, digest string) int {
	t.Helper()
	var n int
	if err := db.sql.QueryRowContext(context.Background(), db.q(`SELECT count(*) FROM blob_users WHERE blob_id IN (SELECT id FROM blob_ids WHERE digest = ?)`), digest).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// usedByArtifactTest is whether an artifact uses digest, as the collector
// asks (its repositories' links aside).
func usedByArtifactTest(t *testing.T, db *DB, digest string) (bool, error) {
	t.Helper()
	var used boolish
	err := db.sql.QueryRowContext(context.Background(), db.q(`SELECT `+usedByArtifact), digest).Scan(&used)
	return bool(used), err
}

// A push records its artifact's blob users; a removal made at once, a
// repository's delete and a project's forced delete take theirs out in the
// same transaction, and the collector's question follows.
func TestBlobUsers(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		a := must[Project](t)(db.CreateProject(ctx, Project{Name: "bua"}))
		b := must[Project](t)(db.CreateProject(ctx, Project{Name: "bub"}))
		pushImage(t, db, a.ID, "bua/one", "sha256:bu-m1", "v1", blob("sha256:bu-base", 10), blob("sha256:bu-c1", 1))
		pushImage(t, db, a.ID, "bua/one", "sha256:bu-m2", "v2", blob("sha256:bu-base", 10), blob("sha256:bu-c2", 1))
		pushImage(t, db, a.ID, "bua/two", "sha256:bu-m3", "v3", blob("sha256:bu-base", 10), blob("sha256:bu-c3", 1))
		pushImage(t, db, b.ID, "bub/app", "sha256:bu-m4", "v4", blob("sha256:bu-base", 10))
		check := func(step string, want map[string]int) {
			t.Helper()
			for d, n := range want {
				if got := blobUsers(t, db, "sha256:bu-"+d); got != n {
					t.Errorf("%s: %s has %d blob users, want %d", step, d, got, n)
				}
				if used, err := usedByArtifactTest(t, db, "sha256:bu-"+d); err != nil || used != (n > 0) {
					t.Errorf("%s: %s used %v (%v), want %v", step, d, used, err, n > 0)
				}
			}
		}
		check("pushed", map[string]int{"base": 4, "m1": 1, "c1": 1, "c2": 1, "c3": 1, "m4": 1})
		one := must[Repository](t)(db.GetRepository(ctx, "bua/one"))
		if err := db.DeleteArtifact(ctx, one.ID, "sha256:bu-m1"); err != nil {
			t.Fatal(err)
		}
		check("an artifact deleted", map[string]int{"base": 3, "m1": 0, "c1": 0, "c2": 1})
		if err := db.DeleteRepository(ctx, one.ID); err != nil {
			t.Fatal(err)
		}
		check("a repository deleted", map[string]int{"base": 2, "m2": 0, "c2": 0, "c3": 1})
		if err := db.DeleteProject(ctx, a.ID, true); err != nil {
			t.Fatal(err)
		}
		check("a project deleted", map[string]int{"base": 1, "m3": 0, "c3": 0, "m4": 1})
		var n int
		if err := db.sql.QueryRowContext(ctx, `SELECT count(*) FROM blob_user_releases`).Scan(&n); err != nil || n != 0 {
			t.Errorf("%d blob users logged by removals made at once (%v)", n, err)
		}
	})
}

// A fold cut short in the blob users' log goes on from its place there
// (project_blob_fold row 2): the releases are not applied again, and every
// pending pair goes.
func TestBlobUsersFoldCutShort(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		if !db.d.blobUsersTable {
			t.Skip("blob_users is a view of artifact_blobs here: removals log no pairs")
		}
		ctx := context.Background()
		removeTwelve(t, db, "bucut")
		used := func() int64 { return must[Project](t)(db.GetProject(ctx, "bucut")).StorageUsed }
		inUsers := func() bool {
			var n int
			if err := db.sql.QueryRowContext(ctx, `SELECT count(*) FROM project_blob_fold WHERE id = 2`).Scan(&n); err != nil {
				t.Error(err)
			}
			return n == 1
		}
		foldFirst, afterFoldStep = 5, func() {
			if inUsers() {
				panic("cut short")
			}
		}
		defer func() { foldFirst, afterFoldStep = 1000, func() {} }()
		func() {
			defer func() { _ = recover() }()
			_, _ = db.FoldBlobReleases(ctx, "a")
		}()
		afterFoldStep = func() {}
		if err := db.ReleaseLease(ctx, releaseLease, "a/fold/"+strconv.FormatInt(foldSeq.Load(), 10)); err != nil {
			t.Fatal(err)
		}
		pending := 0
		for i := range 12 {
			pending += blobUsers(t, db, fmt.Sprintf("sha256:bucut-c%02d", i)) + blobUsers(t, db, fmt.Sprintf("sha256:bucut-m%02d", i))
		}
		if !inUsers() || used() != 0 || pending == 0 || pending == 24 {
			t.Fatalf("cut short: in the blob users' log %v, used %d (want 0), %d of 24 pairs left (want some)", inUsers(), used(), pending)
		}
		f, err := db.FoldBlobReleases(ctx, "b")
		if err != nil || f.Keys != int64(pending) {
			t.Fatalf("the fold after: %+v, %v; want the %d pairs left", f, err, pending)
		}
		for i := range 12 {
			if n := blobUsers(t, db, fmt.Sprintf("sha256:bucut-c%02d", i)); n != 0 {
				t.Errorf("c%02d has %d blob users after the fold", i, n)
			}
		}
		if used() != 0 || inUsers() {
			t.Errorf("after the fold: used %d, place kept %v", used(), inUsers())
		}
	})
}
