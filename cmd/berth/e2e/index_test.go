package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"math/rand"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
	"github.com/berth-registry/berth/storage/metadata"
	"github.com/berth-registry/berth/storage/metadata/metadatatest"
)

func openIndex(t *testing.T, b *berthtest.Berth) *metadata.DB {
	t.Helper()
	return metadatatest.Open(t, b.DatabaseURL())
}

func tagNames(ts []metadata.Tag) []string {
	out := []string{}
	for _, t := range ts {
		out = append(out, t.Name)
	}
	return out
}

// Pushes, pulls and deletes from real clients show up in the index at once:
// projects, repositories, artifacts with sizes and platforms, index
// children, tags, pull counts.
func TestIndexFollowsPushesAndDeletes(t *testing.T) {
	for _, dbe := range berthtest.Databases() {
		t.Run(dbe.Name, func(t *testing.T) {
			ctx := context.Background()
			b := berthtest.Start(t, berthtest.Options{Env: dbe.Env(t)})
			db := openIndex(t, b)

			lib, err := db.GetProject(ctx, "library")
			if err != nil || !lib.Public {
				t.Fatalf("default project: %+v %v", lib, err)
			}
			before := time.Now().Add(-time.Second)
			amd := pushRawImage(t, b, "library/app", "v1", "amd64", layerBytes(1))
			arm := pushRawImage(t, b, "library/app", "", "arm64", layerBytes(2))
			idx := pushRawIndex(t, b, "library/app", "multi", map[string]rawImage{"amd64": amd, "arm64": arm})
			craneRef := b.Addr + "/library/app:crane"
			craneDigestStr := pushSmallImage(t, craneRef)

			repo, err := db.GetRepository(ctx, "library/app")
			if err != nil {
				t.Fatal(err)
			}
			if repo.ProjectID != lib.ID || repo.ArtifactCount != 4 || repo.TagCount != 3 {
				t.Fatalf("repository: %+v", repo)
			}
			a, err := db.GetArtifact(ctx, repo.ID, amd.Digest)
			if err != nil {
				t.Fatal(err)
			}
			if a.Size != amd.Size || a.OS != "linux" || a.Arch != "amd64" || a.Extra["author"] != "e2e author" ||
				a.MediaType != "application/vnd.oci.image.manifest.v1+json" || a.PushTime.Before(before) || len(a.Blobs) != 3 {
				t.Errorf("artifact: %+v", a)
			}
			if !reflect.DeepEqual(tagNames(a.Tags), []string{"v1"}) {
				t.Errorf("artifact tags: %v", tagNames(a.Tags))
			}
			ia, err := db.GetArtifact(ctx, repo.ID, idx.Digest)
			if err != nil {
				t.Fatal(err)
			}
			if ia.Size != idx.Size || len(ia.References) != 2 {
				t.Fatalf("index artifact: size %d want %d, refs %+v", ia.Size, idx.Size, ia.References)
			}
			plat := map[string]string{}
			for _, r := range ia.References {
				if r.ChildID == 0 {
					t.Errorf("child %s not linked", r.ChildDigest)
				}
				plat[r.Arch] = r.ChildDigest
			}
			if plat["amd64"] != amd.Digest || plat["arm64"] != arm.Digest {
				t.Errorf("platforms: %v", plat)
			}
			if _, err := db.GetArtifact(ctx, repo.ID, craneDigestStr); err != nil {
				t.Errorf("crane push not indexed: %v", err)
			}

			// Pulls are counted (batched), HEADs are not.
			for range 3 {
				getManifest(t, b, http.MethodGet, "library/app", "v1")
			}
			getManifest(t, b, http.MethodHead, "library/app", "v1")
			waitFor(t, "pull count 3", func() bool {
				a, err := db.GetArtifact(ctx, repo.ID, amd.Digest)
				return err == nil && a.PullCount == 3 && !a.Tags[0].PullTime.IsZero()
			})

			// Delete by tag: the tag goes, the artifact stays.
			if code := deleteManifest(t, b, "library/app", "v1"); code != http.StatusAccepted {
				t.Fatalf("DELETE by tag: %d", code)
			}
			if _, err := db.GetTag(ctx, repo.ID, "v1"); !errors.Is(err, metadata.ErrNotFound) {
				t.Errorf("tag v1 still indexed: %v", err)
			}
			if _, err := db.GetArtifact(ctx, repo.ID, amd.Digest); err != nil {
				t.Errorf("artifact lost with its tag: %v", err)
			}
			// Delete by digest: the artifact and its tags go.
			if code := deleteManifest(t, b, "library/app", craneDigestStr); code != http.StatusAccepted {
				t.Fatalf("DELETE by digest: %d", code)
			}
			if _, err := db.GetArtifact(ctx, repo.ID, craneDigestStr); !errors.Is(err, metadata.ErrNotFound) {
				t.Errorf("deleted artifact still indexed: %v", err)
			}
			if _, err := db.GetTag(ctx, repo.ID, "crane"); !errors.Is(err, metadata.ErrNotFound) {
				t.Errorf("tag of deleted artifact still indexed: %v", err)
			}
			tags, total, err := db.ListTags(ctx, repo.ID, metadata.ListOptions{})
			if err != nil || total != 1 || tagNames(tags)[0] != "multi" {
				t.Errorf("remaining tags: %v %d %v", tagNames(tags), total, err)
			}
		})
	}
}

// /v2/_catalog pages through the index with n/last and Link headers.
func TestCatalogFromIndex(t *testing.T) {
	b := berthtest.Start(t, berthtest.Options{})
	want := []string{"library/a", "library/b", "library/c", "team/x", "team/y"}
	for i, r := range want {
		pushRawImage(t, b, r, "v1", "amd64", layerBytes(i))
	}
	var got []string
	url := b.URL("/v2/_catalog?n=2")
	for pages := 0; url != ""; pages++ {
		if pages > 5 {
			t.Fatal("too many pages")
		}
		resp, body := httpDo(t, http.MethodGet, url, nil)
		var c struct{ Repositories []string }
		if err := json.Unmarshal(body, &c); err != nil || resp.StatusCode != 200 {
			t.Fatalf("catalog: %d %s", resp.StatusCode, body)
		}
		if len(c.Repositories) > 2 {
			t.Fatalf("page over n: %v", c.Repositories)
		}
		got = append(got, c.Repositories...)
		url = ""
		if link := resp.Header.Get("Link"); link != "" {
			url = b.URL(nextLink(t, b, link))
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("catalog walk = %v, want %v", got, want)
	}
	resp, body := httpDo(t, http.MethodGet, b.URL("/v2/_catalog?n=-1"), nil)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "PAGINATION_NUMBER_INVALID") {
		t.Errorf("n=-1: %d %s", resp.StatusCode, body)
	}
}

// Without autoCreateProjects a push into an unknown project is refused with
// DENIED; single-component names are refused; library takes pushes.
func TestPushNeedsAProject(t *testing.T) {
	b := berthtest.Start(t, berthtest.Options{StrictProjects: true})
	for _, repo := range []string{"nope/app", "single"} {
		resp, err := http.Post(b.URL("/v2/"+repo+"/blobs/uploads/"), "", nil)
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(t, resp)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, `"DENIED"`) {
			t.Errorf("push to %s: %d %s", repo, resp.StatusCode, body)
		}
	}
	_, body := httpDo(t, http.MethodPost, b.URL("/v2/nope/app/blobs/uploads/"), nil)
	if !strings.Contains(string(body), `project \"nope\" does not exist`) {
		t.Errorf("message does not name the project: %s", body)
	}
	layer := filepath.Join(t.TempDir(), "layer.tar")
	writeTar(t, layer, map[string][]byte{"f.txt": []byte("x")})
	out, err := berthtest.RunErr(t, berthtest.Tool(t, "crane"), "append", "--insecure", "-f", layer, "-t", b.Addr+"/nope/app:v1")
	if err == nil || !strings.Contains(out, "DENIED") || !strings.Contains(out, `project "nope" does not exist`) {
		t.Errorf("crane push into a missing project: err %v\n%s", err, out)
	}
	pushRawImage(t, b, "library/ok", "v1", "amd64", layerBytes(7))
}

// After a mixed workload of 200 pushes and deletes, `berth check` finds no
// drift; it reports drift made behind berth's back, and `berth reindex`
// repairs what the index can repair.
func TestCheckAndReindex(t *testing.T) {
	for _, dbe := range berthtest.Databases() {
		t.Run(dbe.Name, func(t *testing.T) {
			b := berthtest.Start(t, berthtest.Options{Env: dbe.Env(t)})
			rng := rand.New(rand.NewSource(42))
			type entry struct{ repo, tag, digest string }
			var live []entry
			for op := range 200 {
				repo := []string{"work/a", "work/b", "work/c/deep", "library/d"}[rng.Intn(4)]
				switch k := rng.Intn(10); {
				case k < 6 || len(live) == 0: // push (sometimes moving an existing tag)
					tag := []string{"v1", "v2", "v3", "latest", "t" + string(rune('a'+op%26))}[rng.Intn(5)]
					img := pushRawImage(t, b, repo, tag, []string{"amd64", "arm64"}[rng.Intn(2)], layerBytes(op))
					live = append(live, entry{repo, tag, img.Digest})
				case k < 8: // delete a manifest by digest
					e := live[rng.Intn(len(live))]
					deleteManifest(t, b, e.repo, e.digest)
				default: // delete a tag
					e := live[rng.Intn(len(live))]
					deleteManifest(t, b, e.repo, e.tag)
				}
			}
			if err := b.Stop(); err != nil {
				t.Fatalf("stop: %v", err)
			}
			runBerth := func(args ...string) (int, string) {
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
			if code, out := runBerth("check"); code != 0 || !strings.Contains(out, "the index matches storage") {
				t.Fatalf("check after the workload: exit %d\n%s", code, out)
			}

			// A tag removed from storage behind berth's back.
			tagsDir := filepath.Join(b.DataDir, "registry/docker/registry/v2/repositories/library/d/_manifests/tags")
			entries, err := os.ReadDir(tagsDir)
			if err != nil || len(entries) == 0 {
				t.Fatalf("no tags to tamper with: %v", err)
			}
			// A tag's storage copy is its current link alone, which is what
			// distribution reads of a tag (and check just compared).
			for _, e := range entries {
				inside, err := os.ReadDir(filepath.Join(tagsDir, e.Name()))
				if err != nil || len(inside) != 1 || inside[0].Name() != "current" {
					t.Fatalf("tag %s holds %v in storage (%v), want only current/", e.Name(), inside, err)
				}
			}
			victim := entries[0].Name()
			if err := os.RemoveAll(filepath.Join(tagsDir, victim)); err != nil {
				t.Fatal(err)
			}
			code, out := runBerth("check")
			if code != 1 || !strings.Contains(out, "extra    tag        library/d:"+victim) {
				t.Fatalf("check did not report the removed tag: exit %d\n%s", code, out)
			}
			if code, out := runBerth("reindex"); code != 0 || !strings.Contains(out, "removed 1 stale entries") {
				t.Fatalf("reindex: exit %d\n%s", code, out)
			}
			if code, out := runBerth("check"); code != 0 {
				t.Fatalf("check after reindex: exit %d\n%s", code, out)
			}

			// A layer deleted from storage: the damage is reported, not hidden.
			blobs, _ := filepath.Glob(filepath.Join(b.DataDir, "registry/docker/registry/v2/blobs/sha256/*/*/data"))
			sort.Strings(blobs)
			var removed string
			for _, p := range blobs {
				data, _ := os.ReadFile(p)
				if strings.HasPrefix(string(data), "layer content") {
					removed = p
					break
				}
			}
			if removed == "" {
				t.Fatal("no layer blob found")
			}
			// First the repositories' links of it: check says which is gone.
			hex := filepath.Base(filepath.Dir(removed))
			var links int
			_ = filepath.WalkDir(filepath.Join(b.DataDir, "registry/docker/registry/v2/repositories"), func(p string, _ fs.DirEntry, err error) error {
				if err == nil && strings.HasSuffix(p, "/_layers/sha256/"+hex+"/link") {
					links++
					return os.Remove(p)
				}
				return err
			})
			if links == 0 {
				t.Fatal("no repository links the layer in storage")
			}
			code, out = runBerth("check")
			if code != 1 || !strings.Contains(out, "broken") || !strings.Contains(out, "the repository's link not in storage") {
				t.Fatalf("check did not report the missing links: exit %d\n%s", code, out)
			}
			if err := os.Remove(removed); err != nil {
				t.Fatal(err)
			}
			code, out = runBerth("check")
			if code != 1 || !strings.Contains(out, "broken") || !strings.Contains(out, "its data not in storage") {
				t.Fatalf("check did not report the missing layer: exit %d\n%s", code, out)
			}
		})
	}
}
