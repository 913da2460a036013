package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// A project's retention policy, with real clients: crane pushes and
// re-tags, oras attaches an SBOM and a signature, a multi-arch index, helm
// charts. A dry run lists exactly what a run then removes, each with the
// decision; tags an immutability rule protects stay, and nobody (admins
// included) can overwrite or delete them through any API until the rule
// goes; an index keeps its children, an artifact its referrers, and the
// referrers of a removed artifact go with it. A collector's pass after the
// run (no delay here) reclaims the removed images' blobs and leaves every
// kept image whole. On both databases: on PostgreSQL the run's removals
// commit asynchronously, and the collector flushes the log before it
// deletes data.
func TestRetentionAndImmutability(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			env := []string{"BERTH_GC_DELAY=0s", "BERTH_GC_ENABLED=false"}
			if db == "postgres" {
				env = append(env, "BERTH_DATABASE_URL="+berthtest.SharedPostgres(t).NewDatabase(t))
			}
			retentionAndImmutability(t, env)
		})
	}
}

func retentionAndImmutability(t *testing.T, env []string) {
	b := berthtest.Start(t, berthtest.Options{Env: env})
	mustAPI(t, b, http.MethodPost, "/api/berth/v1/projects", map[string]any{"name": "ret"}, http.StatusCreated)
	crane, oras := berthtest.Tool(t, "crane"), berthtest.Tool(t, "oras")
	dir := t.TempDir()
	digests := map[string]string{}
	for i := 1; i <= 6; i++ {
		layer := filepath.Join(dir, fmt.Sprintf("l%d.tar", i))
		writeTar(t, layer, map[string][]byte{"f": []byte(fmt.Sprintf("v%d", i))})
		digests[fmt.Sprintf("v%d", i)] = craneAppend(t, b.Addr+fmt.Sprintf("/ret/app:v%d", i), nil, layer)
		time.Sleep(10 * time.Millisecond) // distinct push times
	}
	berthtest.Run(t, crane, "tag", "--insecure", b.Addr+"/ret/app:v2", "release-1")
	sbom := filepath.Join(dir, "sbom.json")
	writeFile(t, sbom, []byte(`{"sbom":1}`))
	for _, tag := range []string{"v1", "v6"} {
		berthtest.RunIn(t, dir, nil, oras, "attach", "--plain-http", "--artifact-type", "application/spdx+json", b.Addr+"/ret/app:"+tag, "sbom.json")
	}
	arm := pushRawImage(t, b, "ret/app", "", "arm64", layerBytes(71))
	amd := pushRawImage(t, b, "ret/app", "", "amd64", layerBytes(72))
	multi := pushRawIndex(t, b, "ret/app", "multi", map[string]rawImage{"arm64": arm, "amd64": amd})
	h := newHelm(t)
	for _, v := range []string{"0.1.0", "0.2.0", "0.3.0"} {
		h.run("push", h.packageChart(v), "oci://"+b.Addr+"/ret", "--plain-http")
	}

	// Who may see and change the policy and rules: project admins and
	// system admins; a developer is refused, a stranger does not see the
	// private project at all. Bad policies are 400 and change nothing.
	pw := "Retention-pass-1"
	for _, u := range []string{"retdev", "stranger"} {
		mustAPI(t, b, http.MethodPost, "/api/berth/v1/users", map[string]any{"username": u, "password": pw}, http.StatusCreated)
	}
	mustAPI(t, b, http.MethodPut, "/api/berth/v1/projects/ret/members/retdev", map[string]string{"role": "developer"}, http.StatusOK)
	for _, c := range []struct {
		user, method, path string
		body               any
		want               int
	}{
		{"", http.MethodGet, "/api/berth/v1/projects/ret/retention", nil, http.StatusUnauthorized},
		{"stranger", http.MethodGet, "/api/berth/v1/projects/ret/retention", nil, http.StatusNotFound},
		{"stranger", http.MethodPost, "/api/berth/v1/projects/ret/immutability", map[string]any{"tags": "*"}, http.StatusNotFound},
		{"retdev", http.MethodPut, "/api/berth/v1/projects/ret/retention", map[string]any{"rules": []any{}}, http.StatusForbidden},
		{"retdev", http.MethodPost, "/api/berth/v1/projects/ret/retention/runs", nil, http.StatusForbidden},
		{"retdev", http.MethodPost, "/api/berth/v1/projects/ret/immutability", map[string]any{"tags": "*"}, http.StatusForbidden},
		{"admin", http.MethodPut, "/api/berth/v1/projects/ret/retention", map[string]any{"rules": []map[string]any{{"keep": "latestPushed", "count": -1}}}, http.StatusBadRequest},
		{"admin", http.MethodPut, "/api/berth/v1/projects/ret/retention", map[string]any{"rules": []map[string]any{{"keep": "everything"}}}, http.StatusBadRequest},
		{"admin", http.MethodPut, "/api/berth/v1/projects/ret/retention", map[string]any{"rules": []map[string]any{{"keep": "latestPushed", "count": 1}}, "schedule": "61 * * * *"}, http.StatusBadRequest},
		{"admin", http.MethodPost, "/api/berth/v1/projects/ret/immutability", map[string]any{"tags": "[unclosed"}, http.StatusBadRequest},
		{"admin", http.MethodGet, "/api/berth/v1/projects/ret/retention/runs/999999", nil, http.StatusNotFound},
	} {
		pass := pw
		if c.user == "admin" {
			pass = b.AdminPassword
		}
		if code, body := apiCall(t, b, c.method, c.path, c.user, pass, c.body); code != c.want {
			t.Errorf("%s %s as %q: %d %s, want %d", c.method, c.path, c.user, code, body, c.want)
		}
	}
	if code, body := apiCall(t, b, http.MethodGet, "/api/berth/v1/projects/ret/retention", "admin", b.AdminPassword, nil); code != http.StatusNotFound {
		t.Errorf("the policy after refused writes: %d %s, want none (404)", code, body)
	}

	// v4 cannot change while the rule stands.
	rule := mustAPI(t, b, http.MethodPost, "/api/berth/v1/projects/ret/immutability", map[string]any{"repositories": "app", "tags": "v4"}, http.StatusCreated)
	var ir struct{ ID int64 }
	_ = json.Unmarshal([]byte(rule), &ir)
	other := filepath.Join(dir, "other.tar")
	writeTar(t, other, map[string][]byte{"f": []byte("not v4")})
	if out, err := berthtest.RunErr(t, crane, "append", "--insecure", "-f", other, "-t", b.Addr+"/ret/app:v4"); err == nil || !strings.Contains(out, "DENIED") || !strings.Contains(out, "immutable") {
		t.Errorf("crane push over an immutable tag: %v\n%s", err, out)
	}
	for _, c := range []struct{ what, method, path, want string }{
		{"OCI delete by tag", http.MethodDelete, "/v2/ret/app/manifests/v4", "DENIED"},
		{"OCI delete by digest", http.MethodDelete, "/v2/ret/app/manifests/" + digests["v4"], "DENIED"},
		{"SWR tag delete", http.MethodDelete, "/v2/manage/namespaces/ret/repos/app/tags/v4", "SVCSTG.SWR.4030000"},
		{"CCR artifact delete", http.MethodDelete, "/api/ccr/v1.0/instances/ccr-manager/projects/ret/repositories/app/artifacts/v4", "CCR.RespPermissionDenied"},
		{"Harbor v1 tag delete", http.MethodDelete, "/api/repositories?repo_name=ret/app&tag=v4", `"code":403`},
		{"CCR repository delete", http.MethodDelete, "/api/ccr/v1.0/instances/ccr-manager/projects/ret/repositories/app", "immutable"},
	} {
		resp, body := httpDo(t, c.method, b.URL(c.path), nil)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), c.want) || !strings.Contains(string(body), "immutable") {
			t.Errorf("%s of an immutable tag: %d %s, want 403 %s naming the rule", c.what, resp.StatusCode, body, c.want)
		}
	}
	// The chart APIs and bk-repo's deletes obey the rules too.
	mustAPI(t, b, http.MethodPost, "/api/berth/v1/projects/ret/immutability", map[string]any{"repositories": "berthdemo", "tags": "0.3.0"}, http.StatusCreated)
	mustAPI(t, b, http.MethodPost, "/api/berth/v1/projects/ret/immutability", map[string]any{"repositories": "docker-local/**", "tags": "v1"}, http.StatusCreated)
	pushRawImage(t, b, "ret/docker-local/img", "v1", "amd64", layerBytes(73))
	for _, c := range []struct{ what, path, want string }{
		{"chart version delete", "/api/chartrepo/ret/charts/berthdemo/0.3.0", `"FORBIDDEN"`},
		{"chart delete", "/api/chartrepo/ret/charts/berthdemo", `"FORBIDDEN"`},
		{"CCR chart delete", "/api/ccr/v1.0/instances/ccr-manager/projects/ret/charts/berthdemo/delete", "CCR.RespPermissionDenied"},
		{"bk-repo version delete", "/docker/ext/version/delete/ret/docker-local?packageKey=docker://img&version=v1", `"code":250113`},
		{"bk-repo package delete", "/docker/ext/package/delete/ret/docker-local?packageKey=docker://img", `"code":250113`},
	} {
		resp, body := httpDo(t, http.MethodDelete, b.URL(c.path), nil)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), c.want) || !strings.Contains(string(body), "immutable") {
			t.Errorf("%s of an immutable tag: %d %s, want 403 %s naming the rule", c.what, resp.StatusCode, body, c.want)
		}
	}
	if resp, _ := getManifest(t, b, http.MethodHead, "ret/docker-local/img", "v1"); resp.StatusCode != http.StatusOK {
		t.Errorf("ret/docker-local/img:v1 after the refused deletes: %d", resp.StatusCode)
	}
	for _, v := range []string{"0.1.0", "0.2.0", "0.3.0"} {
		if resp, _ := getManifest(t, b, http.MethodHead, "ret/berthdemo", v); resp.StatusCode != http.StatusOK {
			t.Errorf("chart %s after the refused chart deletes: %d (a refused delete must change nothing)", v, resp.StatusCode)
		}
	}
	if resp, _ := getManifest(t, b, http.MethodHead, "ret/app", "v4"); resp.StatusCode != http.StatusOK || resp.Header.Get("Docker-Content-Digest") != digests["v4"] {
		t.Fatalf("v4 after the refused changes: %d %s", resp.StatusCode, resp.Header.Get("Docker-Content-Digest"))
	}

	policy := map[string]any{"rules": []map[string]any{
		{"keep": "latestPushed", "count": 3, "repositories": "app"},
		{"keep": "tagPattern", "pattern": "release-*"},
		{"keep": "latestPushed", "count": 1, "repositories": "berthdemo"},
	}, "schedule": "0 3 * * *"}
	mustAPI(t, b, http.MethodPut, "/api/berth/v1/projects/ret/retention", policy, http.StatusOK)
	// Newest push first: multi, release-1, v6 (kept: the 3 most recent),
	// v5 (gone), v4 (immutable), v3, v2, v1 (gone); charts: 0.3.0 stays.
	wantGone := []string{"ret/app:v5", "ret/app:v3", "ret/app:v2", "ret/app:v1", "ret/berthdemo:0.2.0", "ret/berthdemo:0.1.0"}
	var dry struct {
		ID                                      int64
		DryRun                                  bool
		TagsRemoved, ManifestsRemoved, TagsSeen int64
	}
	_ = json.Unmarshal([]byte(mustAPI(t, b, http.MethodPost, "/api/berth/v1/projects/ret/retention/runs?dryRun=true", nil, http.StatusOK)), &dry)
	if !dry.DryRun || dry.TagsRemoved != int64(len(wantGone)) {
		t.Fatalf("dry run: %+v, want %d tags", dry, len(wantGone))
	}
	listed := runItems(t, b, dry.ID)
	if strings.Join(listed, ",") != strings.Join(wantGone, ",") {
		t.Errorf("the dry run lists %v, want %v", listed, wantGone)
	}
	if resp, _ := getManifest(t, b, http.MethodHead, "ret/app", "v1"); resp.StatusCode != http.StatusOK {
		t.Fatal("a dry run removed something")
	}
	var run struct {
		ID                            int64
		TagsRemoved, ManifestsRemoved int64
		Kept                          map[string]int64
		Status                        string
	}
	used := func() int64 {
		var p struct{ StorageUsed int64 }
		_ = json.Unmarshal([]byte(mustAPI(t, b, http.MethodGet, "/api/berth/v1/projects/ret", nil, http.StatusOK)), &p)
		return p.StorageUsed
	}
	usedBefore := used()
	var goneLayers []string // v1's, v3's and v5's layers, only theirs
	for _, v := range []string{"v1", "v3", "v5"} {
		_, m := getManifest(t, b, http.MethodGet, "ret/app", v)
		goneLayers = append(goneLayers, parseManifestLayers(t, m)...)
	}
	_ = json.Unmarshal([]byte(mustAPI(t, b, http.MethodPost, "/api/berth/v1/projects/ret/retention/runs", nil, http.StatusOK)), &run)
	if run.Status != "done" || run.TagsRemoved != dry.TagsRemoved {
		t.Fatalf("run: %+v, want the dry run's %d tags", run, dry.TagsRemoved)
	}
	// The removed manifests' own blobs are off the project's storage used
	// when the run answers (its releases are folded before it ends).
	if after := used(); after <= 0 || after >= usedBefore {
		t.Errorf("storage used %d before the run, %d after it", usedBefore, after)
	}
	if got := runItems(t, b, run.ID); strings.Join(got[:len(wantGone)], ",") != strings.Join(wantGone, ",") {
		t.Errorf("the run removed %v, want %v first", got, wantGone)
	}
	if run.Kept["immutable (rule #"+fmt.Sprint(ir.ID)+")"] != 1 {
		t.Errorf("kept by reason: %v", run.Kept)
	}
	for _, ref := range wantGone {
		repo, tag, _ := strings.Cut(ref, ":")
		if resp, _ := getManifest(t, b, http.MethodHead, repo, tag); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s after the run: %d", ref, resp.StatusCode)
		}
	}
	for _, tag := range []string{"multi", "release-1", "v6", "v4"} {
		if resp, _ := getManifest(t, b, http.MethodHead, "ret/app", tag); resp.StatusCode != http.StatusOK {
			t.Errorf("ret/app:%s after the run: %d", tag, resp.StatusCode)
		}
	}
	for _, d := range []string{multi.Digest, arm.Digest, amd.Digest, digests["v2"]} { // the kept index and its children; the manifest release-1 holds
		if resp, _ := getManifest(t, b, http.MethodHead, "ret/app", d); resp.StatusCode != http.StatusOK {
			t.Errorf("%s after the run: %d", d, resp.StatusCode)
		}
	}
	for _, gone := range []string{digests["v1"], digests["v3"], digests["v5"]} {
		if resp, _ := getManifest(t, b, http.MethodHead, "ret/app", gone); resp.StatusCode != http.StatusNotFound {
			t.Errorf("untagged %s after the run: %d", gone, resp.StatusCode)
		}
	}
	if out := berthtest.Run(t, oras, "discover", "--plain-http", b.Addr+"/ret/app:v6", "--format", "json"); !strings.Contains(out, "application/spdx+json") {
		t.Errorf("the SBOM of the kept v6 is gone:\n%s", out)
	}
	resp, body := httpDo(t, http.MethodGet, b.URL("/v2/ret/app/referrers/"+digests["v1"]), nil)
	if resp.StatusCode != http.StatusOK || strings.Contains(string(body), "spdx") {
		t.Errorf("the SBOM of the removed v1 stays: %d %s", resp.StatusCode, body)
	}
	code, idx, _ := getAs(t, b, "/chartrepo/ret/index.yaml", "admin", b.AdminPassword)
	if code != http.StatusOK || !strings.Contains(string(idx), "0.3.0") || strings.Contains(string(idx), "0.1.0") || strings.Contains(string(idx), "0.2.0") {
		t.Errorf("chart index after the run: %d\n%s", code, idx)
	}

	// A pass (two: a link's review queues its blob's) reclaims what the
	// run removed; what it kept pulls whole, every blob digested.
	var deleted int64
	for range 2 {
		r := runGC(t, b, false)
		if r.Errors != 0 {
			t.Fatalf("gc pass after the run: %+v", r)
		}
		deleted += r.BlobsDeleted
	}
	if deleted < int64(len(goneLayers)) {
		t.Errorf("gc after the run deleted %d blobs, want at least the removed images' %d layers", deleted, len(goneLayers))
	}
	for _, l := range goneLayers {
		if resp, _ := httpDo(t, http.MethodGet, b.URL("/v2/ret/app/blobs/"+l), nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("layer %s of a removed image after gc: %d, want 404", l, resp.StatusCode)
		}
	}
	for _, tag := range []string{"release-1", "v6", "v4"} {
		berthtest.Run(t, crane, "validate", "--insecure", "--remote", b.Addr+"/ret/app:"+tag)
	}
	for _, child := range []rawImage{arm, amd} { // the index's children (their layers are no gzip for crane)
		m := parseManifest(t, child.Manifest)
		for _, d := range append([]descriptor{m.Config}, m.Layers...) {
			if resp, body := httpDo(t, http.MethodGet, b.URL("/v2/ret/app/blobs/"+d.Digest), nil); resp.StatusCode != http.StatusOK || digestOf(body) != d.Digest {
				t.Errorf("blob %s of the kept index's child %s after gc: %d", d.Digest, child.Digest, resp.StatusCode)
			}
		}
	}

	// The rule removed, v4 can go.
	mustAPI(t, b, http.MethodDelete, fmt.Sprintf("/api/berth/v1/projects/ret/immutability/%d", ir.ID), nil, http.StatusNoContent)
	if code := deleteManifest(t, b, "ret/app", "v4"); code != http.StatusAccepted {
		t.Errorf("delete v4 without the rule: %d", code)
	}
	var runs struct{ Runs []struct{ ID int64 } }
	_ = json.Unmarshal([]byte(mustAPI(t, b, http.MethodGet, "/api/berth/v1/projects/ret/retention/runs", nil, http.StatusOK)), &runs)
	if len(runs.Runs) != 2 || runs.Runs[0].ID != run.ID {
		t.Errorf("runs: %+v", runs.Runs)
	}
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	if code, out := berthTool(t, b, "check"); code != 0 {
		t.Fatalf("check after retention: exit %d\n%s", code, out)
	}
	code2, out := berthTool(t, b, "retention", "dry-run", "--project", "ret")
	if code2 != 0 || !strings.Contains(out, "would remove 0 of") {
		t.Errorf("berth retention dry-run after the run: exit %d\n%s", code2, out)
	}
}

// runItems lists what a run removed (or would), as repo:tag (repo@digest
// for a manifest removed untagged, which are left out here).
func runItems(t *testing.T, b *berthtest.Berth, id int64) []string {
	t.Helper()
	var out struct {
		Items []struct{ Repository, Tag, Decision string }
	}
	_ = json.Unmarshal([]byte(mustAPI(t, b, http.MethodGet, fmt.Sprintf("/api/berth/v1/projects/ret/retention/runs/%d?limit=1000", id), nil, http.StatusOK)), &out)
	var refs []string
	for _, it := range out.Items {
		if it.Tag == "" {
			continue
		}
		if !strings.HasPrefix(it.Decision, "no rule keeps it: #") {
			t.Errorf("%s:%s: decision %q does not name the rules", it.Repository, it.Tag, it.Decision)
		}
		refs = append(refs, it.Repository+":"+it.Tag)
	}
	return refs
}
