package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"regexp"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// swrDomainID is the shape of the seed's domain_id, "0503dda878000fed0f75c0096d70a960".
var swrDomainID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// TestSWRSeedBusybox pushes an image with the sizes of seed 003's busybox
// example (config 1862, layers 1292800 and 10240) and wants its size,
// 1304902: config and layers, not the manifest. domain_id is a stable
// account id: the same for every tag and repository of one creator's
// namespaces, another for another creator's, never the user name.
func TestSWRSeedBusybox(t *testing.T) {
	b := berthtest.Start(t, berthtest.Options{StrictProjects: true})
	tok := swrToken(t, b, "admin", b.AdminPassword)
	mustAPI(t, b, http.MethodPost, "/api/berth/v1/users", map[string]any{"username": "other", "password": "Swr-other-pass-1"}, http.StatusCreated)
	otherTok := swrToken(t, b, "other", "Swr-other-pass-1")
	mustSWR(t, b, tok, http.MethodPost, "/v2/manage/namespaces", map[string]any{"namespace": "group"}, http.StatusCreated)
	mustSWR(t, b, tok, http.MethodPost, "/v2/manage/namespaces", map[string]any{"namespace": "group2"}, http.StatusCreated)
	mustSWR(t, b, otherTok, http.MethodPost, "/v2/manage/namespaces", map[string]any{"namespace": "theirs"}, http.StatusCreated)

	repo := "group/busybox"
	l1 := pushBlob(t, b, repo, bytes.Repeat([]byte{1}, 1292800))
	l2 := pushBlob(t, b, repo, bytes.Repeat([]byte{2}, 10240))
	config, _ := json.Marshal(map[string]any{"architecture": "amd64", "os": "linux",
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{l1, l2}}})
	config = pad(t, config, 1862)
	cd := pushBlob(t, b, repo, config)
	const mt = "application/vnd.docker.distribution.manifest.v2+json"
	man, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": mt,
		"config": map[string]any{"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1862, "digest": cd},
		"layers": []any{
			map[string]any{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 1292800, "digest": l1},
			map[string]any{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 10240, "digest": l2},
		}})
	if code, body := putManifest(t, b, repo, "latest", mt, man); code != http.StatusCreated {
		t.Fatalf("PUT: %d %s", code, body)
	}
	small := pushRawImage(t, b, "group2/tools", "v1", "amd64", layerBytes(5))
	pushRawImage(t, b, "theirs/app", "v1", "amd64", layerBytes(6))

	tags, cr, out := swrTags(t, b, tok, "/v2/manage/namespaces/group/repos/busybox/tags")
	var raw []any
	_ = json.Unmarshal([]byte(out), &raw)
	assertShape(t, "tags", raw, seedJSON(t, swrSeedTags))
	if cr != "0-1/1" || len(tags) != 1 || tags[0].Size != 1304902 || tags[0].Manifest != string(man) || tags[0].ImageID != cd[len("sha256:"):] {
		t.Fatalf("busybox: %q %+v; the seed has size 1304902", cr, tags)
	}
	id := tags[0].DomainID
	if !swrDomainID.MatchString(id) || id == "admin" {
		t.Errorf("domain_id %q: want 32 hex digits like the seed's", id)
	}

	// The same account everywhere, stable across restarts; another for another creator.
	domainOf := func(tok, path string) string {
		t.Helper()
		tags, _, _ := swrTags(t, b, tok, path)
		if len(tags) != 1 {
			t.Fatalf("%s: %+v", path, tags)
		}
		return tags[0].DomainID
	}
	if got := domainOf(tok, "/v2/manage/namespaces/group2/repos/tools/tags"); got != id {
		t.Errorf("group2 domain_id %q, group %q", got, id)
	}
	if tg, _, _ := swrTags(t, b, tok, "/v2/manage/namespaces/group2/repos/tools/tags"); tg[0].Size != small.Size-int64(len(small.Manifest)) {
		t.Errorf("size %d, want config + layer %d", tg[0].Size, small.Size-int64(len(small.Manifest)))
	}
	theirs := domainOf(otherTok, "/v2/manage/namespaces/theirs/repos/app/tags")
	if !swrDomainID.MatchString(theirs) || theirs == id {
		t.Errorf("another creator's domain_id %q (admin's %q)", theirs, id)
	}
	_, repos := mustSWR(t, b, tok, http.MethodGet, "/v2/manage/namespaces/group/repos", nil, http.StatusOK)
	var list []map[string]any
	if err := json.Unmarshal([]byte(repos), &list); err != nil || len(list) != 1 || list[0]["domain_id"] != id {
		t.Errorf("repository domain_id: %s", repos)
	}
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	b = berthtest.Start(t, berthtest.Options{StrictProjects: true, DataDir: b.DataDir})
	if got := domainOf(swrToken(t, b, "admin", b.AdminPassword), "/v2/manage/namespaces/group/repos/busybox/tags"); got != id {
		t.Errorf("domain_id after a restart %q, before %q", got, id)
	}
}

// swrSeedTags is the seed's tag list example.
const swrSeedTags = `[{"id":0,"repo_id":0,"Tag":"latest","image_id":"741f24a7","manifest":"{}",
	"digest":"sha256:57b60584","schema":2,"path":"{Repository address}/group/busybox:latest",
	"internal_path":"10.125.0.198:20202/namespace/busybox:latest","size":1304902,"is_trusted":false,
	"created":"2018-07-06T06:18:55Z","updated":"2018-07-06T06:18:55Z","deleted":null,
	"domain_id":"0503dda878000fed0f75c0096d70a960","tag_type":0}]`
