package e2e

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// TestSWRNamespacesAndRepos drives the companion endpoints through a whole
// life: namespace, repository (multi-level, with '$'), images pushed by
// crane and as an index, tag records, updates and deletes.
func TestSWRNamespacesAndRepos(t *testing.T) {
	b := berthtest.Start(t, berthtest.Options{StrictProjects: true})
	tok := swrToken(t, b, "admin", b.AdminPassword)
	mustSWR(t, b, tok, http.MethodPost, "/v2/manage/namespaces", map[string]any{"namespace": "team"}, http.StatusCreated)
	code, _, out := swrCall(t, b, http.MethodPost, "/v2/manage/namespaces", tokenHeader(tok), map[string]any{"namespace": "team"})
	wantSWRError(t, "duplicate namespace", code, out, 409, "SVCSTG.SWR.4090000")

	// Namespaces: listed with Content-Range, fetched, with the caller's permission.
	h, out := mustSWR(t, b, tok, http.MethodGet, "/v2/manage/namespaces?namespace=tea", nil, http.StatusOK)
	var nsList struct {
		Namespaces []struct {
			ID          int64  `json:"id"`
			Name        string `json:"name"`
			CreatorName string `json:"creator_name"`
			Auth        int    `json:"auth"`
		} `json:"namespaces"`
	}
	if err := json.Unmarshal([]byte(out), &nsList); err != nil || len(nsList.Namespaces) != 1 || nsList.Namespaces[0].Name != "team" ||
		nsList.Namespaces[0].Auth != 7 || nsList.Namespaces[0].CreatorName != "admin" || h.Get("Content-Range") != "0-1/1" {
		t.Fatalf("namespaces: %s (Content-Range %q)", out, h.Get("Content-Range"))
	}
	if _, out = mustSWR(t, b, tok, http.MethodGet, "/v2/manage/namespaces/team", nil, http.StatusOK); !strings.Contains(out, `"name":"team"`) {
		t.Errorf("GET namespace: %s", out)
	}

	// A multi-level repository created by SWR, then pushed to with crane.
	mustSWR(t, b, tok, http.MethodPost, "/v2/manage/namespaces/team/repos",
		map[string]any{"repository": "tools/cli", "category": "linux", "description": "the CLI", "is_public": false}, http.StatusCreated)
	code, _, out = swrCall(t, b, http.MethodPost, "/v2/manage/namespaces/team/repos", tokenHeader(tok), map[string]any{"repository": "x", "category": "toys"})
	wantSWRError(t, "bad category", code, out, 400, "SVCSTG.SWR.4001025")
	dir := t.TempDir()
	writeTar(t, filepath.Join(dir, "a.tar"), map[string][]byte{"etc/hello": []byte("hi from crane\n")})
	pushed := craneAppend(t, b.Addr+"/team/tools/cli:v1", nil, filepath.Join(dir, "a.tar"))
	amd := pushRawImage(t, b, "team/tools/cli", "", "amd64", layerBytes(3))
	arm := pushRawImage(t, b, "team/tools/cli", "", "arm64", layerBytes(4))
	idx := pushRawIndex(t, b, "team/tools/cli", "multi", map[string]rawImage{"amd64": amd, "arm64": arm})

	for _, repoPath := range []string{"tools$cli", "tools%24cli", "tools%2Fcli"} {
		tags, cr, _ := swrTags(t, b, tok, "/v2/manage/namespaces/team/repos/"+repoPath+"/tags?order_column=tag&order_type=asc")
		if cr != "0-2/2" || len(tags) != 2 || tags[0].Tag != "multi" || tags[1].Tag != "v1" {
			t.Fatalf("%s: %q %v", repoPath, cr, swrNames(tags))
		}
		if tags[0].TagType != 1 || tags[0].Digest != idx.Digest || tags[0].Manifest != string(idx.Manifest) || tags[0].Path != b.Addr+"/team/tools/cli:multi" {
			t.Errorf("index record: %+v", tags[0])
		}
		if tags[1].TagType != 0 || tags[1].Digest != pushed || tags[1].Schema != 2 || len(tags[1].ImageID) != 64 || float64(tags[1].Size) != manifestContentSize(t, []byte(tags[1].Manifest)) {
			t.Errorf("crane image record: %+v", tags[1])
		}
	}

	// Repositories: get, update, list.
	type repoRec struct {
		ID          int64  `json:"id"`
		Namespace   string `json:"namespace"`
		Name        string `json:"name"`
		Category    string `json:"category"`
		Description string `json:"description"`
		IsPublic    bool   `json:"is_public"`
		NumImages   int64  `json:"num_images"`
		Path        string `json:"path"`
	}
	getRepo := func() repoRec {
		_, out := mustSWR(t, b, tok, http.MethodGet, "/v2/manage/namespaces/team/repos/tools$cli", nil, http.StatusOK)
		var r repoRec
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := getRepo(); r.Name != "tools/cli" || r.Namespace != "team" || r.Category != "linux" || r.Description != "the CLI" || r.IsPublic || r.NumImages != 2 || r.Path != b.Addr+"/team/tools/cli" {
		t.Errorf("repository: %+v", r)
	}
	mustSWR(t, b, tok, http.MethodPatch, "/v2/manage/namespaces/team/repos/tools$cli", map[string]any{"description": "new words", "is_public": true}, http.StatusCreated)
	if r := getRepo(); r.Description != "new words" || !r.IsPublic || r.Category != "linux" {
		t.Errorf("updated repository: %+v", r)
	}
	mustSWR(t, b, tok, http.MethodPost, "/v2/manage/namespaces/team/repos", map[string]any{"repository": "empty"}, http.StatusCreated)
	for _, path := range []string{"/v2/manage/namespaces/team/repos?order_column=name&order_type=desc", "/v2/manage/repos?filter=namespace::team|order_column::name|order_type::desc"} {
		h, out := mustSWR(t, b, tok, http.MethodGet, path, nil, http.StatusOK)
		var list []repoRec
		if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 2 || list[0].Name != "tools/cli" || list[1].Name != "empty" || h.Get("Content-Range") != "0-2/2" {
			t.Errorf("%s: %s (Content-Range %q)", path, out, h.Get("Content-Range"))
		}
	}

	// Deletes: a tag, then the namespace refuses while it holds repositories.
	mustSWR(t, b, tok, http.MethodDelete, "/v2/manage/namespaces/team/repos/tools$cli/tags/v1", nil, http.StatusNoContent)
	if tags, cr, _ := swrTags(t, b, tok, "/v2/manage/namespaces/team/repos/tools$cli/tags"); cr != "0-1/1" || tags[0].Tag != "multi" {
		t.Errorf("after deleting v1: %q %v", cr, swrNames(tags))
	}
	code, _, out = swrCall(t, b, http.MethodDelete, "/v2/manage/namespaces/team/repos/tools$cli/tags/v1", tokenHeader(tok), nil)
	wantSWRError(t, "deleted tag", code, out, 404, "SVCSTG.SWR.4040010")
	code, _, out = swrCall(t, b, http.MethodDelete, "/v2/manage/namespaces/team", tokenHeader(tok), nil)
	wantSWRError(t, "non-empty namespace", code, out, 409, "SVCSTG.SWR.4090001")
	for _, repo := range []string{"tools$cli", "empty"} {
		mustSWR(t, b, tok, http.MethodDelete, "/v2/manage/namespaces/team/repos/"+repo, nil, http.StatusNoContent)
	}
	if resp, _ := getManifest(t, b, "GET", "team/tools/cli", "multi"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("manifest of a deleted repository: %d", resp.StatusCode)
	}
	mustSWR(t, b, tok, http.MethodDelete, "/v2/manage/namespaces/team", nil, http.StatusNoContent)
	code, _, out = swrCall(t, b, http.MethodGet, "/v2/manage/namespaces/team", tokenHeader(tok), nil)
	wantSWRError(t, "deleted namespace", code, out, 404, "SVCSTG.SWR.4040010")
}

// TestSWRLeavesOCIAlone: repositories literally named manage/... push,
// pull, list and delete through /v2/ as before.
func TestSWRLeavesOCIAlone(t *testing.T) {
	b := berthtest.Start(t, berthtest.Options{})
	dir := t.TempDir()
	writeTar(t, filepath.Join(dir, "a.tar"), map[string][]byte{"f": []byte("manage me\n")})
	for _, repo := range []string{"manage/namespaces/x/repos/y", "manage/namespaces/x", "manage/repos"} {
		d := craneAppend(t, b.Addr+"/"+repo+":list", nil, filepath.Join(dir, "a.tar"))
		resp, body := httpDo(t, "GET", b.URL("/v2/"+repo+"/tags/list"), nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"list"`) {
			t.Errorf("OCI tags/list of %s: %d %s", repo, resp.StatusCode, body)
		}
		if resp, _ := getManifest(t, b, "GET", repo, "list"); resp.StatusCode != http.StatusOK || resp.Header.Get("Docker-Content-Digest") != d {
			t.Errorf("OCI manifest of %s: %d", repo, resp.StatusCode)
		}
		if got := craneDigest(t, b.Addr+"/"+repo+":list"); got != d {
			t.Errorf("crane digest %s = %s, want %s", repo, got, d)
		}
		if code := deleteManifest(t, b, repo, d); code != http.StatusAccepted {
			t.Errorf("OCI delete in %s: %d", repo, code)
		}
	}
}
