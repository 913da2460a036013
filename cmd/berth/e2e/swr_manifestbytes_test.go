package e2e

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
	_ "github.com/berth-registry/berth/storage/metadata" // database drivers
)

// TestSWRManifestBytesFromIndex: SWR's tag list reads manifest bytes from
// the index. An index that lacks them (made before it kept them) answers
// the same, from storage, and fills them in; check compares them with
// storage and reindex repairs damaged ones.
func TestSWRManifestBytesFromIndex(t *testing.T) {
	for _, dbe := range berthtest.Databases() {
		t.Run(dbe.Name, func(t *testing.T) {
			ctx := context.Background()
			b := berthtest.Start(t, berthtest.Options{Env: dbe.Env(t), StrictProjects: true})
			tok := swrToken(t, b, "admin", b.AdminPassword)
			mustSWR(t, b, tok, http.MethodPost, "/v2/manage/namespaces", map[string]any{"namespace": "bytes"}, http.StatusCreated)
			mustSWR(t, b, tok, http.MethodPost, "/v2/manage/namespaces/bytes/repos", map[string]any{"repository": "app"}, http.StatusCreated)
			imgs := map[string]rawImage{}
			for i := range 3 {
				tag := fmt.Sprintf("v%d", i)
				imgs[tag] = pushRawImage(t, b, "bytes/app", tag, "amd64", layerBytes(100+i))
			}
			const path = "/v2/manage/namespaces/bytes/repos/app/tags?offset=0&limit=10"
			tags, _, want := swrTags(t, b, tok, path)
			for _, tg := range tags {
				if tg.Manifest != string(imgs[tg.Tag].Manifest) {
					t.Fatalf("%s: manifest %.100q, want what was pushed", tg.Tag, tg.Manifest)
				}
			}

			db := openIndexSQL(t, b.DatabaseURL())
			run := func(q string) {
				t.Helper()
				if _, err := db.ExecContext(ctx, q); err != nil {
					t.Fatal(err)
				}
			}
			rows := func() int {
				t.Helper()
				var n int
				if err := db.QueryRowContext(ctx, `SELECT count(*) FROM artifact_manifests`).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			// An index from before migration 006: same answer, bytes filled in.
			run(`DELETE FROM artifact_manifests`)
			if _, _, got := swrTags(t, b, tok, path); got != want {
				t.Fatalf("without bytes in the index:\n%s\nwant\n%s", got, want)
			}
			if n := rows(); n != 3 {
				t.Fatalf("%d manifests filled in, want 3", n)
			}
			if _, _, got := swrTags(t, b, tok, path); got != want {
				t.Fatalf("after the fill:\n%s\nwant\n%s", got, want)
			}
			if err := b.Stop(); err != nil {
				t.Fatal(err)
			}
			if code, out := berthCommand(t, b, "check"); code != 0 {
				t.Fatalf("check: exit %d\n%s", code, out)
			}
			// Damaged bytes are drift, and reindex repairs them.
			run(`UPDATE artifact_manifests SET payload = payload || payload`)
			if code, out := berthCommand(t, b, "check"); code != 1 || strings.Count(out, "mismatch manifest") != 3 {
				t.Fatalf("check with damaged bytes: exit %d\n%s", code, out)
			}
			run(`DELETE FROM artifact_manifests WHERE artifact_id IN (SELECT min(artifact_id) FROM artifact_manifests)`)
			if code, out := berthCommand(t, b, "reindex"); code != 0 {
				t.Fatalf("reindex: exit %d\n%s", code, out)
			}
			if code, out := berthCommand(t, b, "check"); code != 0 {
				t.Fatalf("check after reindex: exit %d\n%s", code, out)
			}
			if n := rows(); n != 3 {
				t.Fatalf("%d manifests after reindex, want 3", n)
			}
		})
	}
}

// openIndexSQL opens berth's metadata database directly (the drivers are
// those package metadata registers), to change the index behind its back.
func openIndexSQL(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	driver := "sqlite"
	if strings.HasPrefix(dsn, "postgres") {
		driver = "pgx"
	} else {
		dsn = "file:" + dsn + "?_pragma=busy_timeout(10000)"
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// berthCommand runs a berth subcommand on b's data directory and database.
func berthCommand(t *testing.T, b *berthtest.Berth, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(berthtest.Binary(t), append(args, "--data-dir", b.DataDir)...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, b.Env()...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), string(out)
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}
