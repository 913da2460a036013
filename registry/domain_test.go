package registry_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/registry/domain"
	"github.com/berth-registry/berth/storage/metadata"
)

// startInProcess runs the core in this process over real storage and a real
// database, with its HTTP surface on a loopback server for clients.
func startInProcess(t *testing.T, dbURL string) (*registry.Server, string) {
	t.Helper()
	cfg := registry.Defaults()
	cfg.Database.URL = dbURL
	cfg.UseDataDir(t.TempDir())
	db, err := metadata.Open(context.Background(), cfg.Database.URL, cfg.Database.Timeout)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := registry.New(context.Background(), cfg, db, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		ts.Close()
		srv.Close()
		db.Close()
	})
	return srv, strings.TrimPrefix(ts.URL, "http://")
}

func cranePush(t *testing.T, ref, content string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f.txt"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	tarPath := filepath.Join(dir, "l.tar")
	berthtest.Run(t, "tar", "-C", dir, "-cf", tarPath, "f.txt")
	crane := berthtest.Tool(t, "crane")
	berthtest.Run(t, crane, "append", "--insecure", "-f", tarPath, "-t", ref)
	return strings.TrimSpace(berthtest.Run(t, crane, "digest", "--insecure", ref))
}

func TestDomainService(t *testing.T) {
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			dbURL := ""
			if name == "postgres" {
				dbURL = berthtest.SharedPostgres(t).NewDatabase(t)
			}
			srv, addr := startInProcess(t, dbURL)
			svc := srv.Domain()
			ctx := context.Background()
			crane := berthtest.Tool(t, "crane")

			if _, err := svc.CreateProject(ctx, domain.ProjectSpec{Name: "team", QuotaBytes: -1, Creator: "admin"}); err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				spec domain.ProjectSpec
				kind error
			}{
				{domain.ProjectSpec{Name: "team"}, domain.ErrAlreadyExists},
				{domain.ProjectSpec{Name: "Team"}, domain.ErrInvalid},
				{domain.ProjectSpec{Name: "ok", QuotaBytes: -7}, domain.ErrInvalid},
			} {
				if _, err := svc.CreateProject(ctx, c.spec); !errors.Is(err, c.kind) {
					t.Errorf("CreateProject(%+v) = %v, want %v", c.spec, err, c.kind)
				}
			}
			d1 := cranePush(t, addr+"/team/app:v1", "one")
			cranePush(t, addr+"/team/app:v2", "two")
			cranePush(t, addr+"/team/other:v1", "three")

			p, _ := svc.GetProject(ctx, "team")
			repos, total, err := svc.ListRepositories(ctx, metadataRepoFilter(p.ID), domain.Query{Page: mustPage(t, 1, 10)})
			if err != nil || total != 2 || repos[0].Name != "team/app" || repos[0].TagCount != 2 {
				t.Fatalf("repositories: %d %+v %v", total, repos, err)
			}
			app, err := svc.Repository(ctx, "team/app")
			if err != nil {
				t.Fatal(err)
			}
			sortDesc, _ := domain.SortBy("push_time", true, "name", "push_time")
			tags, total, err := app.Tags(ctx, domain.Query{Sort: sortDesc, Page: mustPage(t, 1, 1)})
			if err != nil || total != 2 || len(tags) != 1 || tags[0].Name != "v2" {
				t.Fatalf("tags by push time desc: %d %+v %v", total, tags, err)
			}
			a, err := app.Artifact(ctx, "v1")
			if err != nil || a.Digest != d1 {
				t.Fatalf("artifact by tag: %+v %v", a, err)
			}
			m, err := app.Manifest(ctx, d1)
			if err != nil || digestOf(m.Payload) != d1 {
				t.Fatalf("manifest: %v", err)
			}
			if cfg, err := app.Config(ctx, "v1"); err != nil || digestOf(cfg) != a.ConfigDigest {
				t.Fatalf("config: %v", err)
			}
			// Stream a layer and check its digest. An artifact's blobs
			// include its manifest and config and come in no set order.
			var layer domain.Descriptor
			for _, b := range a.Blobs {
				if b.Digest != a.Digest && b.Digest != a.ConfigDigest {
					layer = b
				}
			}
			if layer.Digest == "" {
				t.Fatalf("artifact %s lists no layer: %+v", a.Digest, a.Blobs)
			}
			blob, err := app.OpenBlob(ctx, layer.Digest)
			if err != nil {
				t.Fatal(err)
			}
			h := sha256.New()
			n, _ := io.Copy(h, blob)
			blob.Close()
			if "sha256:"+hex.EncodeToString(h.Sum(nil)) != layer.Digest || n != layer.Size {
				t.Fatalf("blob stream: %d bytes, digest mismatch", n)
			}

			if err := app.DeleteTag(ctx, "v2"); err != nil {
				t.Fatal(err)
			}
			if out := berthtest.Run(t, crane, "ls", "--insecure", addr+"/team/app"); strings.TrimSpace(out) != "v1" {
				t.Errorf("after DeleteTag, crane ls = %q", out)
			}
			if err := app.DeleteArtifact(ctx, "v1"); err != nil {
				t.Fatal(err)
			}
			resp, err := http.Get("http://" + addr + "/v2/team/app/manifests/" + d1)
			if err != nil || resp.StatusCode != http.StatusNotFound {
				t.Errorf("manifest after DeleteArtifact: %v %v", resp.Status, err)
			}
			if err := svc.DeleteProject(ctx, "team", false); !errors.Is(err, domain.ErrNotEmpty) {
				t.Errorf("deleting a non-empty project: %v", err)
			}
			if err := svc.DeleteProject(ctx, "team", true); err != nil {
				t.Fatal(err)
			}
			if _, err := svc.Repository(ctx, "team/other"); !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("repository survived a forced project delete: %v", err)
			}
			if out, err := berthtest.RunErr(t, crane, "ls", "--insecure", addr+"/team/other"); err == nil {
				t.Errorf("tags still listed after delete: %s", out)
			}
			for _, c := range []struct {
				err  error
				kind error
			}{
				{second(svc.Repository(ctx, "Team/X")), domain.ErrInvalid},
				{second(svc.Repository(ctx, "library/none")), domain.ErrNotFound},
				{second(app.Artifact(ctx, "v1")), domain.ErrNotFound}, // the repository is gone
				{app.DeleteTag(ctx, "bad tag"), domain.ErrInvalid},
			} {
				if !errors.Is(c.err, c.kind) {
					t.Errorf("got %v, want %v", c.err, c.kind)
				}
			}
		})
	}
}

func second[T any](_ T, err error) error { return err }

func mustPage(t *testing.T, n, size int) domain.Page {
	p, err := domain.PageFromNumber(n, size)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func metadataRepoFilter(projectID int64) domain.RepoFilter {
	return domain.RepoFilter{ProjectID: projectID}
}
