package metadata

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestBuildDefinitions(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		plugins := []BuildPlugin{
			{Name: "base_image", Attrs: map[string][]string{"image": {"base/alpine:1"}}},
			{Name: "env", Attrs: map[string][]string{"name": {"A", "B"}, "value": {"1", "2"}}},
		}
		p := must[BuildProject](t)(db.CreateBuildProject(ctx, BuildProject{Name: "web", Cluster: "library", FileType: "tool", Creator: "root", Plugins: plugins}))
		if _, err := db.CreateBuildProject(ctx, BuildProject{Name: "web", Cluster: "library"}); !errors.Is(err, ErrExists) {
			t.Fatalf("duplicate: %v", err)
		}
		got := must[BuildProject](t)(db.GetBuildProject(ctx, "web"))
		if !reflect.DeepEqual(got.Plugins, plugins) || got.FileType != "tool" || got.ID != p.ID {
			t.Fatalf("got %+v", got)
		}
		got.Plugins, got.FileType = []BuildPlugin{{Name: "static_dockerfile", Attrs: map[string][]string{"dockerfile": {"FROM scratch"}}}}, "edit"
		if err := db.UpdateBuildProject(ctx, got); err != nil {
			t.Fatal(err)
		}
		got = must[BuildProject](t)(db.GetBuildProject(ctx, "web"))
		if len(got.Plugins) != 1 || got.Plugins[0].Attrs["dockerfile"][0] != "FROM scratch" {
			t.Fatalf("after update %+v", got)
		}
		list, total, err := db.ListBuildProjects(ctx, BuildProjectFilter{Clusters: []string{"other"}}, ListOptions{})
		if err != nil || total != 0 || len(list) != 0 {
			t.Fatalf("filtered list %v %d %v", list, total, err)
		}

		if err := db.PutBuildFile(ctx, p.ID, BuildFile{Name: "a.txt", Size: 2, Digest: "sha256:x"}, []byte("hi")); err != nil {
			t.Fatal(err)
		}
		if b, err := db.BuildFileContent(ctx, p.ID, "a.txt"); err != nil || string(b) != "hi" {
			t.Fatalf("content %q %v", b, err)
		}

		old := must[Build](t)(db.CreateBuild(ctx, Build{ProjectID: p.ID, Tag: "v1", HeartbeatAt: time.Now().Add(-time.Hour)}))
		fresh := must[Build](t)(db.CreateBuild(ctx, Build{ProjectID: p.ID, Tag: "v2", HeartbeatAt: time.Now()}))
		n, err := db.FailStaleBuilds(ctx, time.Now().Add(-time.Minute), "interrupted by restart")
		if err != nil || n != 1 {
			t.Fatalf("stale: %d %v", n, err)
		}
		builds, total, err := db.ListBuilds(ctx, p.ID, ListOptions{})
		if err != nil || total != 2 || builds[0].ID != fresh.ID || builds[1].ID != old.ID {
			t.Fatalf("builds %+v %d %v", builds, total, err)
		}
		if builds[1].State != BuildFailed || builds[1].Logs != "interrupted by restart\n" || builds[0].State != BuildRunning {
			t.Fatalf("states %+v", builds)
		}
		if err := db.DeleteBuildProject(ctx, "web"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.GetBuildProject(ctx, "web"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("after delete: %v", err)
		}
	})
}
