package metadata

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// Removals made with DeferBlobReleases leave the project's accounting as
// it was until FoldBlobReleases, which then leaves it exactly as removals
// made at once would have: what no artifact uses is gone from
// project_blobs and storage used, what one still uses (pushed again
// meanwhile, or shared) stays with the right count. A fold cut short goes
// on where it stopped and takes nothing off twice; so does one whose
// steps a Step ends after a chunk (a request began in each).
func TestBlobReleasesFold(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		for _, tc := range []struct{ cut, stepped bool }{{false, false}, {true, false}, {false, true}} {
			t.Run(fmt.Sprintf("cut short %v, stepped %v", tc.cut, tc.stepped), func(t *testing.T) {
				testBlobReleasesFold(t, db, tc.cut, tc.stepped)
			})
		}
	})
}

func testBlobReleasesFold(t *testing.T, db *DB, cut, stepped bool) {
	ctx := context.Background()
	name := fmt.Sprintf("fold%v%v", cut, stepped)
	p := must[Project](t)(db.CreateProject(ctx, Project{Name: name}))
	other := must[Project](t)(db.CreateProject(ctx, Project{Name: name + "-other"}))
	used := func(name string) int64 { return must[Project](t)(db.GetProject(ctx, name)).StorageUsed }
	refs := func(projectID int64, d string) int64 {
		var n int64
		if err := db.sql.QueryRowContext(ctx, db.q(`SELECT refs FROM project_blobs WHERE project_id = ? AND blob_id IN (SELECT id FROM blob_ids WHERE digest = ?)`), projectID, d).Scan(&n); err != nil {
			return 0
		}
		return n
	}
	// Ten builds, each its own manifest (100 bytes) and config, on a shared
	// base; the other project holds build 0's config too.
	repo := name + "/app"
	for i := range 10 {
		pushImage(t, db, p.ID, repo, fmt.Sprintf("sha256:%s-m%d", name, i), fmt.Sprintf("v%d", i),
			blob("sha256:"+name+"-base", 1000), blob(fmt.Sprintf("sha256:%s-c%d", name, i), 10))
	}
	pushImage(t, db, other.ID, name+"-other/app", "sha256:"+name+"-om", "v", blob("sha256:"+name+"-c0", 10))
	before, otherBefore := used(name), used(name+"-other")
	if before != 1000+10*110 {
		t.Fatalf("used %d before", before)
	}
	r := must[Repository](t)(db.GetRepository(ctx, repo))
	deferred := DeferBlobReleases(ctx)
	for i := range 8 {
		if err := db.DeleteArtifact(deferred, r.ID, fmt.Sprintf("sha256:%s-m%d", name, i)); err != nil {
			t.Fatal(err)
		}
	}
	if used(name) != before || refs(p.ID, "sha256:"+name+"-c1") != 1 || refs(p.ID, "sha256:"+name+"-base") != 10 {
		t.Fatalf("deferred removals changed the accounting: used %d, refs %d, %d", used(name), refs(p.ID, "sha256:"+name+"-c1"), refs(p.ID, "sha256:"+name+"-base"))
	}
	// The removed builds' blob users wait for the fold (SQLite's table;
	// PostgreSQL's view of artifact_blobs has them gone with their
	// artifacts), and count for nothing meanwhile: the collector sees
	// build 7's config unused.
	pending := 0
	if db.d.blobUsersTable {
		pending = 1
	}
	if n := blobUsers(t, db, "sha256:"+name+"-c7"); n != pending {
		t.Fatalf("build 7's config has %d blob users before the fold, want %d", n, pending)
	}
	for d, want := range map[string]bool{"c7": false, "m7": false, "c8": true, "base": true} {
		if used, err := usedByArtifactTest(t, db, "sha256:"+name+"-"+d); err != nil || used != want {
			t.Errorf("%s used %v (%v) before the fold, want %v", d, used, err, want)
		}
	}
	// Build 1 is pushed again before the fold: its blobs stay counted.
	pushImage(t, db, p.ID, repo, "sha256:"+name+"-m1", "v1", blob("sha256:"+name+"-base", 1000), blob("sha256:"+name+"-c1", 10))
	if cut {
		steps := 0
		foldFirst, afterFoldStep = 5, func() { // five keys in the first transaction, then cut
			if steps++; steps == 1 {
				panic("cut short")
			}
		}
		func() {
			defer func() { _ = recover() }()
			_, _ = db.FoldBlobReleases(ctx, "a")
		}()
		foldFirst, afterFoldStep = 1000, func() {}
		if err := db.ReleaseLease(ctx, releaseLease, "a"); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.sql.QueryRowContext(ctx, `SELECT count(*) FROM project_blob_fold`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("a fold cut short left %d fold rows, %v", n, err)
		}
		if used(name) == before || used(name) == 1000+3*110 {
			t.Fatalf("used %d after five of seventeen keys folded", used(name))
		}
	}
	fctx, steps := ctx, 0
	if stepped {
		looks := 0
		fctx = Step(ctx, time.Hour, time.Hour, func() bool { looks++; return looks%2 == 0 })
		foldChunk, afterFoldStep = 2, func() { steps++ }
		defer func() { foldChunk, afterFoldStep = defaultFoldChunk, func() {} }()
	}
	f, err := db.FoldBlobReleases(fctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	if f.Keys > 0 && (f.Spool <= 0 || f.Drop <= 0) {
		t.Errorf("fold of %d keys: spool %v, drop %v; want both timed", f.Keys, f.Spool, f.Drop)
	}
	var logKeys int64
	for _, l := range f.Logs { // each log's phases, adding up to the fold's
		logKeys += l.Keys
		if l.Keys > 0 && (l.Spool <= 0 || l.Steps <= 0 || l.Drop <= 0) {
			t.Errorf("%s: %d keys, spool %v, steps %v, drop %v; want each timed", l.Table, l.Keys, l.Spool, l.Steps, l.Drop)
		}
	}
	if logKeys != f.Keys || (f.Keys > 0 && f.Logs[0].Table != "project_blob_releases") {
		t.Errorf("the fold's logs %+v: %d keys, want %d, the blob releases first", f.Logs, logKeys, f.Keys)
	}
	if stepped && db.Steps() && steps < int(f.Keys)/2 {
		t.Errorf("%d keys folded in %d steps, want two a step", f.Keys, steps)
	}
	// The base, and each build's manifest and config; then the eight
	// builds' blob users (three each), where they are a table.
	if want := int64(1 + 2*8 + 3*8*pending); !cut && f.Keys != want {
		t.Errorf("folded %d keys, want %d", f.Keys, want)
	}
	// Left: the base, builds 1, 8 and 9.
	if want := int64(1000 + 3*110); used(name) != want {
		t.Errorf("used %d after the fold, want %d", used(name), want)
	}
	for d, want := range map[string]int64{"base": 3, "m0": 0, "c0": 0, "m1": 1, "c1": 1, "c7": 0, "c8": 1} {
		if got := refs(p.ID, "sha256:"+name+"-"+d); got != want {
			t.Errorf("refs of %s: %d, want %d", d, got, want)
		}
	}
	for d, want := range map[string]int{"base": 3, "m0": 0, "c7": 0, "m1": 1, "c0": 1} { // c0: the other project's
		if got := blobUsers(t, db, "sha256:"+name+"-"+d); got != want {
			t.Errorf("blob users of %s after the fold: %d, want %d", d, got, want)
		}
	}
	if used(name+"-other") != otherBefore || refs(other.ID, "sha256:"+name+"-c0") != 1 {
		t.Errorf("the other project's accounting moved: %d, refs %d", used(name+"-other"), refs(other.ID, "sha256:"+name+"-c0"))
	}
	var logged, folds int
	if err := db.sql.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM project_blob_releases) + (SELECT count(*) FROM blob_user_releases),
		(SELECT count(*) FROM project_blob_fold)`).Scan(&logged, &folds); err != nil || logged != 0 || folds != 0 {
		t.Errorf("after the fold: %d releases logged, %d folds (%v)", logged, folds, err)
	}
	// Nothing left: a fold does nothing, and takes no lease.
	if f, err := db.FoldBlobReleases(ctx, "c"); err != nil || f.Keys != 0 {
		t.Errorf("fold of nothing: %+v, %v", f, err)
	}
	// Another holder folding: busy.
	pushImage(t, db, p.ID, repo, "sha256:"+name+"-m20", "v20", blob("sha256:"+name+"-c20", 10))
	if err := db.DeleteArtifact(deferred, r.ID, "sha256:"+name+"-m20"); err != nil {
		t.Fatal(err)
	}
	if held, err := db.TryLease(ctx, releaseLease, "other", time.Minute); err != nil || !held {
		t.Fatal(held, err)
	}
	if _, err := db.FoldBlobReleases(ctx, "d"); !errors.Is(err, ErrFoldBusy) {
		t.Errorf("fold beside another: %v, want ErrFoldBusy", err)
	}
	if err := db.ReleaseLease(ctx, releaseLease, "other"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.FoldBlobReleases(ctx, "d"); err != nil || used(name) != 1000+3*110 {
		t.Errorf("last fold: %v, used %d", err, used(name))
	}
}

// A fold whose place another holder moved (its lease ran out while it was
// stopped, and the other went on) stops rather than apply keys twice.
func TestBlobReleasesFoldMovedByAnother(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		removeTwelve(t, db, "moved")
		before := must[Project](t)(db.GetProject(ctx, "moved")).StorageUsed
		foldFirst, afterFoldStep = 5, func() {
			afterFoldStep = func() {}
			if _, err := db.sql.ExecContext(ctx, db.q(`UPDATE project_blob_fold SET digest = ? WHERE id = 1`), "sha256:moved-m05"); err != nil {
				t.Error(err)
			}
		}
		defer func() { foldFirst, afterFoldStep = 1000, func() {} }()
		f, err := db.FoldBlobReleases(ctx, "a")
		if !errors.Is(err, errFoldMoved) || f.Keys != 5 {
			t.Fatalf("fold moved by another: %+v, %v; want 5 keys and errFoldMoved", f, err)
		}
		if used := must[Project](t)(db.GetProject(ctx, "moved")).StorageUsed; used != before-5*10 {
			t.Errorf("used %d, want %d (the first five configs released, nothing after)", used, before-50)
		}
	})
}

// One fold at a time, also within a process (a run's fold and the
// schedule check's, under the same owner): the second is told it is busy
// and changes nothing; the first ends well.
func TestBlobReleasesFoldOnceAtATime(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		removeTwelve(t, db, "once")
		var inner error
		foldFirst, afterFoldStep = 5, func() {
			afterFoldStep = func() {}
			_, inner = db.FoldBlobReleases(ctx, "same")
		}
		defer func() { foldFirst, afterFoldStep = 1000, func() {} }()
		want := int64(24) // 24 releases, and as many blob users where they are a table
		if db.d.blobUsersTable {
			want += 24
		}
		f, err := db.FoldBlobReleases(ctx, "same")
		if err != nil || f.Keys != want {
			t.Fatalf("the first fold: %+v, %v; want %d keys", f, err, want)
		}
		if !errors.Is(inner, ErrFoldBusy) {
			t.Errorf("a second fold of the same process beside it: %v, want ErrFoldBusy", inner)
		}
		if used := must[Project](t)(db.GetProject(ctx, "once")).StorageUsed; used != 0 {
			t.Errorf("used %d after everything was removed and folded", used)
		}
	})
}

// removeTwelve pushes twelve images (a manifest and a 10-byte config each)
// into project name's repository app and removes them all, their releases
// deferred.
func removeTwelve(t *testing.T, db *DB, name string) {
	t.Helper()
	ctx := context.Background()
	p := must[Project](t)(db.CreateProject(ctx, Project{Name: name}))
	for i := range 12 {
		pushImage(t, db, p.ID, name+"/app", fmt.Sprintf("sha256:%s-m%02d", name, i), "", blob(fmt.Sprintf("sha256:%s-c%02d", name, i), 10))
	}
	r := must[Repository](t)(db.GetRepository(ctx, name+"/app"))
	for i := range 12 {
		if err := db.DeleteArtifact(DeferBlobReleases(ctx), r.ID, fmt.Sprintf("sha256:%s-m%02d", name, i)); err != nil {
			t.Fatal(err)
		}
	}
}

// On PostgreSQL two transactions logging releases at once (a run's two
// lanes, two projects' runs) may commit out of id order. A fold deletes
// the log up to the highest id it saw, so it must see every entry below
// that id: here one logged first commits only after another logged later
// has, and, without the fold waiting for it, would commit in the middle of
// the fold (its first step) and be deleted unapplied. The fold waits a
// moment (lockWait) for writers still on the log, else is busy
// (ErrFoldBusy) and a later one goes on, as a run's own fold does.
func TestBlobReleasesFoldWaitsForLoggers(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t, "postgres")
	p := must[Project](t)(db.CreateProject(ctx, Project{Name: "late"}))
	used := func() int64 { return must[Project](t)(db.GetProject(ctx, "late")).StorageUsed }
	pushImage(t, db, p.ID, "late/app", "sha256:late-m0", "v0", blob("sha256:late-c0", 10))
	pushImage(t, db, p.ID, "late/app", "sha256:late-m1", "v1", blob("sha256:late-c1", 10))
	if used() != 220 {
		t.Fatalf("used %d before", used())
	}
	r := must[Repository](t)(db.GetRepository(ctx, "late/app"))
	// The late logger: m1's releases, logged first, not committed yet (its
	// artifact row goes in the same transaction, as a run's would).
	late, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer late.Rollback()
	if _, err := late.ExecContext(ctx, `INSERT INTO project_blob_releases (project_id, digest, n) VALUES ($1, 'sha256:late-m1', 1), ($1, 'sha256:late-c1', 1)`, p.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := late.ExecContext(ctx, `DELETE FROM artifacts WHERE id = $1`, must[Artifact](t)(db.GetArtifact(ctx, r.ID, "sha256:late-m1")).ID); err != nil {
		t.Fatal(err)
	}
	// m0's, logged after and committed.
	if err := db.DeleteArtifact(DeferBlobReleases(ctx), r.ID, "sha256:late-m0"); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	commit := func() {
		once.Do(func() {
			if err := late.Commit(); err != nil {
				t.Error(err)
			}
		})
	}
	afterFoldStep = commit
	defer func() { afterFoldStep = func() {} }()
	timer := time.AfterFunc(300*time.Millisecond, commit)
	defer timer.Stop()
	for busy := 0; ; busy++ {
		_, err := db.FoldBlobReleases(ctx, "a")
		if err == nil {
			break
		}
		if !errors.Is(err, ErrFoldBusy) || busy == 100 {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	commit()
	// Whatever the late entries missed, a second fold applies.
	if _, err := db.FoldBlobReleases(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	var logged int
	if err := db.sql.QueryRowContext(ctx, `SELECT count(*) FROM project_blob_releases`).Scan(&logged); err != nil || logged != 0 || used() != 0 {
		t.Errorf("after the folds: used %d, want 0; %d releases still logged (%v)", used(), logged, err)
	}
}

// A fold made with GiveWay waits as told before each of its write
// transactions, and one whose wait fails (the run's context ended) stops
// before writing: the next fold does all of it.
func TestBlobReleasesFoldGivesWay(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		p := must[Project](t)(db.CreateProject(ctx, Project{Name: "giveway"}))
		used := func() int64 { return must[Project](t)(db.GetProject(ctx, "giveway")).StorageUsed }
		for i := range 4 {
			pushImage(t, db, p.ID, "giveway/app", fmt.Sprintf("sha256:gw-m%d", i), fmt.Sprintf("v%d", i), blob(fmt.Sprintf("sha256:gw-c%d", i), 10))
		}
		r := must[Repository](t)(db.GetRepository(ctx, "giveway/app"))
		for i := range 3 {
			if err := db.DeleteArtifact(DeferBlobReleases(ctx), r.ID, fmt.Sprintf("sha256:gw-m%d", i)); err != nil {
				t.Fatal(err)
			}
		}
		before := used()
		stop := errors.New("the run's context ended")
		if _, err := db.FoldBlobReleases(GiveWay(ctx, func(context.Context) error { return stop }), "a"); !errors.Is(err, stop) {
			t.Fatalf("fold whose wait failed: %v, want %v", err, stop)
		}
		if used() != before {
			t.Fatalf("used %d after a fold that gave up before writing, want %d", used(), before)
		}
		waits := 0
		if _, err := db.FoldBlobReleases(GiveWay(ctx, func(context.Context) error { waits++; return nil }), "b"); err != nil {
			t.Fatal(err)
		}
		if want := int64(110); used() != want {
			t.Errorf("used %d after the fold, want %d", used(), want)
		}
		if waits == 0 {
			t.Error("the fold never gave way")
		}
	})
}

// Dropping a folded log takes every entry up to the fold's highest id, in
// ranges of ids, a transaction of several ranges at a time (fewer under a
// Step, on SQLite): none is left to be applied twice by the next fold.
func TestDropFoldedTakesAllTheLog(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		l := foldLogs[0]
		const logged = 2500 // more than one range of ids
		for i := range logged {
			if _, err := db.sql.ExecContext(ctx, db.q(`INSERT INTO `+l.table+` (project_id, digest, n) VALUES (?, ?, 1)`), 1, fmt.Sprintf("sha256:%05d", i)); err != nil {
				t.Fatal(err)
			}
		}
		var maxID int64
		if err := db.sql.QueryRowContext(ctx, `SELECT max(id) FROM `+l.table).Scan(&maxID); err != nil {
			t.Fatal(err)
		}
		// One logged after the fold began stays for the next.
		if _, err := db.sql.ExecContext(ctx, db.q(`INSERT INTO `+l.table+` (project_id, digest, n) VALUES (?, ?, 1)`), 1, "sha256:later"); err != nil {
			t.Fatal(err)
		}
		var f Fold
		if err := db.dropFolded(Step(ctx, time.Hour, time.Hour, nil), l, maxID, &f); err != nil {
			t.Fatal(err)
		}
		var left int
		var digest string
		if err := db.sql.QueryRowContext(ctx, `SELECT count(*), max(digest) FROM `+l.table).Scan(&left, &digest); err != nil || left != 1 || digest != "sha256:later" {
			t.Errorf("%d entries left (the last %q), %v; want only the one logged after the fold began", left, digest, err)
		}
	})
}
