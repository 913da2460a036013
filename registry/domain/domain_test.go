package domain_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/registry/domain"
	"github.com/berth-registry/berth/registry/index"
	"github.com/berth-registry/berth/storage/metadata/metadatatest"
)

// newDomain is the domain over a real SQLite index and distribution's
// storage in memory, without distribution's app: no registry starts.
func newDomain(t *testing.T) *domain.Service {
	t.Helper()
	ctx := context.Background()
	db := metadatatest.Open(t, "")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ix, err := index.Standalone(ctx, db, log, inmemory.New(), false)
	if err != nil {
		t.Fatal(err)
	}
	dom := domain.New(ix, log)
	if err := dom.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	return dom
}

// pushed is what pushImage stored.
type pushed struct {
	digest, config, layer string
	manifest              []byte
}

// pushImage stores a one-layer image for arch in repo under tag, through
// the domain as a dialect (or the builder) would.
func pushImage(t *testing.T, dom *domain.Service, repo, tag, arch string) pushed {
	t.Helper()
	ctx := domain.WithPusher(context.Background(), "alice")
	layer := []byte("layer of " + repo + " " + arch)
	config, _ := json.Marshal(map[string]any{"architecture": arch, "os": "linux",
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{digest.FromBytes(layer).String()}}})
	blob := func(mt string, b []byte) v1.Descriptor {
		d := v1.Descriptor{MediaType: mt, Digest: digest.FromBytes(b), Size: int64(len(b))}
		if err := dom.PushBlob(ctx, repo, d, bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
		return d
	}
	cd, ld := blob(v1.MediaTypeImageConfig, config), blob(v1.MediaTypeImageLayer, layer)
	man, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": v1.MediaTypeImageManifest, "config": cd, "layers": []any{ld}})
	d, err := dom.PutManifest(ctx, repo, tag, v1.MediaTypeImageManifest, man)
	if err != nil {
		t.Fatal(err)
	}
	return pushed{digest: d, config: cd.Digest.String(), layer: ld.Digest.String(), manifest: man}
}

// pushIndex stores an index over images under tag.
func pushIndex(t *testing.T, dom *domain.Service, repo, tag string, images ...pushed) string {
	t.Helper()
	var ms []any
	for _, im := range images {
		ms = append(ms, map[string]any{"mediaType": v1.MediaTypeImageManifest, "digest": im.digest, "size": len(im.manifest),
			"platform": map[string]any{"architecture": "amd64", "os": "linux"}})
	}
	man, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": v1.MediaTypeImageIndex, "manifests": ms})
	d, err := dom.PutManifest(context.Background(), repo, tag, v1.MediaTypeImageIndex, man)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestProjects(t *testing.T) {
	dom := newDomain(t)
	ctx := context.Background()
	if p, err := dom.GetProject(ctx, domain.DefaultProject); err != nil || !p.Public {
		t.Fatalf("bootstrap: %+v %v", p, err)
	}
	p, err := dom.CreateProject(ctx, domain.ProjectSpec{Name: "team", Creator: "alice"})
	if err != nil || p.QuotaBytes != -1 || p.Creator != "alice" {
		t.Fatalf("create: %+v %v", p, err)
	}
	for _, c := range []struct {
		spec domain.ProjectSpec
		kind error
	}{
		{domain.ProjectSpec{Name: "team"}, domain.ErrAlreadyExists},
		{domain.ProjectSpec{Name: "Team"}, domain.ErrInvalid},
		{domain.ProjectSpec{Name: "ok", QuotaBytes: -7}, domain.ErrInvalid},
	} {
		if _, err := dom.CreateProject(ctx, c.spec); !errors.Is(err, c.kind) {
			t.Errorf("CreateProject(%+v) = %v, want %v", c.spec, err, c.kind)
		}
	}
	p.Public, p.QuotaBytes = true, 1<<20
	if err := dom.UpdateProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	pushImage(t, dom, "team/app", "v1", "amd64")
	list, total, err := dom.ListProjects(ctx, domain.ProjectFilter{Names: []string{"team"}}, domain.Query{})
	if err != nil || total != 1 || !list[0].Public || list[0].QuotaBytes != 1<<20 || list[0].RepoCount != 1 || list[0].StorageUsed == 0 {
		t.Fatalf("list: %+v %d %v", list, total, err)
	}
	if byID, err := dom.GetProjectByID(ctx, p.ID); err != nil || byID.Name != "team" {
		t.Errorf("by id: %+v %v", byID, err)
	}
	if err := dom.DeleteProject(ctx, "team", false); !errors.Is(err, domain.ErrNotEmpty) {
		t.Errorf("deleting a project holding a repository: %v", err)
	}
	if err := dom.DeleteProject(ctx, "team", true); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{second(dom.GetProject(ctx, "team")), second(dom.Repository(ctx, "team/app"))} {
		if !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("after a forced delete: %v", err)
		}
	}
}

func TestRepositoryHandle(t *testing.T) {
	dom := newDomain(t)
	ctx := context.Background()
	if _, err := dom.CreateProject(ctx, domain.ProjectSpec{Name: "team", Creator: "alice"}); err != nil {
		t.Fatal(err)
	}
	one := pushImage(t, dom, "team/app", "v1", "amd64")
	two := pushImage(t, dom, "team/app", "v2", "arm64")
	repo, err := dom.Repository(ctx, "team/app")
	if err != nil || repo.Name != "team/app" || repo.ID == 0 {
		t.Fatalf("resolve: %+v %v", repo, err)
	}

	byPush := domain.Query{Sort: domain.Sort{By: "push_time", Desc: true}, Page: domain.Page{Limit: 1}}
	tags, total, err := repo.Tags(ctx, byPush)
	if err != nil || total != 2 || len(tags) != 1 || tags[0].Name != "v2" || tags[0].Digest != two.digest {
		t.Fatalf("tags: %+v %d %v", tags, total, err)
	}
	arts, total, err := repo.Artifacts(ctx, domain.Query{})
	if err != nil || total != 2 || len(arts) != 2 {
		t.Fatalf("artifacts: %+v %d %v", arts, total, err)
	}
	a, err := repo.Artifact(ctx, "v1")
	if err != nil || a.Digest != one.digest || a.ConfigDigest != one.config || a.PushedBy != "alice" || a.Arch != "amd64" ||
		len(a.Tags) != 1 || len(a.Blobs) == 0 {
		t.Fatalf("artifact by tag: %+v %v", a, err)
	}
	m, err := repo.Manifest(ctx, one.digest)
	if err != nil || !bytes.Equal(m.Payload, one.manifest) || m.MediaType != v1.MediaTypeImageManifest {
		t.Fatalf("manifest: %+v %v", m, err)
	}
	if cfg, err := repo.Config(ctx, "v1"); err != nil || digest.FromBytes(cfg).String() != one.config {
		t.Fatalf("config: %v", err)
	}
	b, err := repo.OpenBlob(ctx, one.layer)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(b)
	b.Close()
	if digest.FromBytes(got).String() != one.layer || int64(len(got)) != b.Size {
		t.Fatalf("blob: %d bytes", len(got))
	}
	byDigest, err := repo.ArtifactsByDigest(ctx, []string{one.digest, two.digest, "sha256:" + digestHex0}, true)
	if err != nil || len(byDigest) != 2 || !bytes.Equal(byDigest[two.digest].Manifest, two.manifest) {
		t.Fatalf("by digest: %d %v", len(byDigest), err)
	}

	if err := repo.SetTagAttrs(ctx, "v1", map[string]string{"stage": "@release"}); err != nil {
		t.Fatal(err)
	}
	if a, _ := repo.Artifact(ctx, "v1"); a.Tags[0].Attrs["stage"] != "@release" {
		t.Errorf("tag attrs: %+v", a.Tags)
	}
	repo.Summary = "the app"
	if err := repo.Update(ctx); err != nil {
		t.Fatal(err)
	}
	if again, _ := dom.Repository(ctx, "team/app"); again.Summary != "the app" {
		t.Errorf("update: %+v", again)
	}

	if err := repo.DeleteTag(ctx, "v2"); err != nil {
		t.Fatal(err)
	}
	if _, total, _ := repo.Tags(ctx, domain.Query{}); total != 1 {
		t.Errorf("after DeleteTag: %d tags", total)
	}
	if _, err := repo.Artifact(ctx, two.digest); err != nil {
		t.Errorf("the untagged artifact went with its tag: %v", err)
	}

	for _, c := range []struct {
		name string
		err  error
		kind error
	}{
		{"bad name", second(dom.Repository(ctx, "Team/X")), domain.ErrInvalid},
		{"one component", second(dom.Repository(ctx, "app")), domain.ErrInvalid},
		{"missing repository", second(dom.Repository(ctx, "team/none")), domain.ErrNotFound},
		{"missing tag", second(repo.Artifact(ctx, "nope")), domain.ErrNotFound},
		{"bad tag", second(repo.Artifact(ctx, "-x")), domain.ErrInvalid},
		{"bad digest", second(repo.OpenBlob(ctx, "sha256:xyz")), domain.ErrInvalid},
		{"missing blob", second(repo.OpenBlob(ctx, "sha256:"+digestHex0)), domain.ErrNotFound},
		{"delete a bad tag", repo.DeleteTag(ctx, "bad tag"), domain.ErrInvalid},
		{"delete a missing tag", repo.DeleteTag(ctx, "nope"), domain.ErrNotFound},
	} {
		if !errors.Is(c.err, c.kind) {
			t.Errorf("%s: %v, want %v", c.name, c.err, c.kind)
		}
	}
}

// TestDeleteArtifact: a manifest a tagged index refers to is not deleted
// alone; deleting the index takes its children that nothing else holds.
func TestDeleteArtifact(t *testing.T) {
	dom := newDomain(t)
	ctx := context.Background()
	if _, err := dom.CreateProject(ctx, domain.ProjectSpec{Name: "team", Creator: "alice"}); err != nil {
		t.Fatal(err)
	}
	child := pushImage(t, dom, "team/multi", "child", "amd64")
	repo, err := dom.Repository(ctx, "team/multi")
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.DeleteTag(ctx, "child"); err != nil {
		t.Fatal(err)
	}
	idx := pushIndex(t, dom, "team/multi", "all", child)
	for _, err := range []error{repo.DeleteArtifact(ctx, child.digest), dom.CheckManifestDelete(ctx, "team/multi", child.digest)} {
		if !errors.Is(err, domain.ErrReferenced) {
			t.Errorf("deleting a child of a tagged index: %v", err)
		}
	}
	if err := repo.DeleteArtifact(ctx, "all"); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{idx, child.digest} {
		if _, err := repo.Artifact(ctx, d); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("%s after deleting the index: %v", d, err)
		}
	}
	if err := repo.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := dom.Repository(ctx, "team/multi"); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("deleted repository: %v", err)
	}
}

// TestPushRefusals: a push into a project that does not exist (projects
// are not created automatically here) and a manifest that is not one are
// refused in the domain's kinds.
func TestPushRefusals(t *testing.T) {
	dom := newDomain(t)
	ctx := context.Background()
	d := v1.Descriptor{MediaType: v1.MediaTypeImageLayer, Digest: digest.FromString("x"), Size: 1}
	if err := dom.PushBlob(ctx, "nosuch/app", d, bytes.NewReader([]byte("x"))); !errors.Is(err, domain.ErrDenied) {
		t.Errorf("blob into a missing project: %v", err)
	}
	if _, err := dom.PutManifest(ctx, "library/app", "v1", v1.MediaTypeImageManifest, []byte("{")); !errors.Is(err, domain.ErrInvalid) {
		t.Errorf("a manifest that is no JSON: %v", err)
	}
	if _, err := dom.PutManifest(ctx, "library/app", "bad tag", v1.MediaTypeImageManifest, []byte("{}")); !errors.Is(err, domain.ErrInvalid) {
		t.Errorf("a bad tag: %v", err)
	}
	bad := v1.Descriptor{MediaType: v1.MediaTypeImageLayer, Digest: digest.FromString("y"), Size: 1}
	if err := dom.PushBlob(ctx, "library/app", bad, bytes.NewReader([]byte("x"))); !errors.Is(err, domain.ErrInvalid) {
		t.Errorf("a blob whose digest lies: %v", err)
	}
}

const digestHex0 = "0000000000000000000000000000000000000000000000000000000000000000"

func second[T any](_ T, err error) error { return err }
