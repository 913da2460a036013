package swr_test

// The SWR API of a whole berth assembled in this process (apptest),
// driven over HTTP like any client: no binary, no process, in seconds.
// The tests that need a real client (crane) run against a berth process
// in cmd/berth/e2e.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/cmd/berth/app/apptest"
	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// TestMain makes plain HTTP requests act as the admin of the berth they
// address (berthtest.Main); anonymous ones use berthtest.AnonymousClient.
func TestMain(m *testing.M) { berthtest.Main(m) }

func reversed(s []string) []string {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}

// TestSWRErrors: bad input, missing or bad credentials and invisible
// namespaces get SWR errors, never a 500.
func TestSWRErrors(t *testing.T) {
	b := apptest.Start(t, berthtest.Options{StrictProjects: true})
	admin := berthtest.Token(t, b, "admin", b.AdminPassword)
	berthtest.MustAPI(t, b, http.MethodPost, "/api/berth/v1/users", map[string]any{"username": "alice", "password": "Alice-pass-1"}, http.StatusCreated)
	alice := berthtest.Token(t, b, "alice", "Alice-pass-1")
	for _, ns := range []map[string]any{{"namespace": "secret"}, {"namespace": "open", "is_public": true}} {
		berthtest.MustSWR(t, b, admin, http.MethodPost, "/v2/manage/namespaces", ns, http.StatusCreated)
	}
	for _, ns := range []string{"secret", "open"} {
		berthtest.PushRawImage(t, b, ns+"/app", "v1", "amd64", berthtest.LayerBytes(1))
	}
	basic := func(user, pw string) map[string]string {
		req, _ := http.NewRequest("GET", "/", nil)
		req.SetBasicAuth(user, pw)
		return map[string]string{"Authorization": req.Header.Get("Authorization")}
	}
	tags := "/v2/manage/namespaces/secret/repos/app/tags"
	tests := []struct {
		name, method, path string
		hdr                map[string]string
		body               any
		status             int
		code               string
	}{
		{"no credentials", "GET", tags, nil, nil, 401, "SVCSTG.SWR.4010000"},
		{"bad token", "GET", tags, berthtest.TokenHeader("not.a.token"), nil, 401, "SVCSTG.SWR.4010000"},
		{"tampered token", "GET", tags, berthtest.TokenHeader(admin[:len(admin)-4] + "AAAA"), nil, 401, "SVCSTG.SWR.4010000"},
		{"bad Basic", "GET", tags, basic("admin", "wrong"), nil, 401, "SVCSTG.SWR.4010000"},
		{"Basic works", "GET", tags, basic("admin", b.AdminPassword), nil, 200, ""},
		{"no credentials, namespaces", "GET", "/v2/manage/namespaces", nil, nil, 401, "SVCSTG.SWR.4010000"},
		{"filter without ::", "GET", tags + "?filter=offset:0|limit:10", berthtest.TokenHeader(admin), nil, 400, "SVCSTG.SWR.4000014"},
		{"unknown filter key", "GET", tags + "?filter=size::10", berthtest.TokenHeader(admin), nil, 400, "SVCSTG.SWR.4000014"},
		{"empty filter item", "GET", tags + "?filter=tag::v1||limit::3", berthtest.TokenHeader(admin), nil, 400, "SVCSTG.SWR.4000014"},
		{"offset without limit", "GET", tags + "?offset=0", berthtest.TokenHeader(admin), nil, 400, "SVCSTG.SWR.4000014"},
		{"limit without offset (filter)", "GET", tags + "?filter=limit::10", berthtest.TokenHeader(admin), nil, 400, "SVCSTG.SWR.4000014"},
		{"order_column without order_type", "GET", tags + "?order_column=tag", berthtest.TokenHeader(admin), nil, 400, "SVCSTG.SWR.4000014"},
		{"order_type without order_column", "GET", tags + "?filter=order_type::asc", berthtest.TokenHeader(admin), nil, 400, "SVCSTG.SWR.4000014"},
		{"unsupported column", "GET", tags + "?order_column=size&order_type=asc", berthtest.TokenHeader(admin), nil, 400, "SVCSTG.SWR.4000014"},
		{"limit over 1000", "GET", tags + "?offset=0&limit=1001", berthtest.TokenHeader(admin), nil, 400, "SVCSTG.SWR.4000014"},
		{"negative offset", "GET", tags + "?offset=-5&limit=10", berthtest.TokenHeader(admin), nil, 400, "SVCSTG.SWR.4000014"},
		{"huge offset", "GET", tags + "?offset=9223372036854775807&limit=10", berthtest.TokenHeader(admin), nil, 400, "SVCSTG.SWR.4000014"},
		{"overflowing offset", "GET", tags + "?offset=99999999999999999999999&limit=10", berthtest.TokenHeader(admin), nil, 400, "SVCSTG.SWR.4000014"},
		{"NUL in tag filter", "GET", tags + "?tag=a%00b", berthtest.TokenHeader(admin), nil, 400, "SVCSTG.SWR.4000014"},
		{"NUL in repository", "GET", "/v2/manage/namespaces/secret/repos/a%00b/tags", berthtest.TokenHeader(admin), nil, 400, "SVCSTG.SWR.4000014"},
		{"dot-dot in repository", "GET", "/v2/manage/namespaces/secret/repos/a$..$b/tags", berthtest.TokenHeader(admin), nil, 400, "SVCSTG.SWR.4000014"},
		{"dot-dot namespace", "GET", "/v2/manage/namespaces/a..b/repos/app/tags", berthtest.TokenHeader(admin), nil, 400, "SVCSTG.SWR.4000014"},
		{"unknown namespace", "GET", "/v2/manage/namespaces/nope/repos/app/tags", berthtest.TokenHeader(admin), nil, 404, "SVCSTG.SWR.4040010"},
		{"unknown repository", "GET", "/v2/manage/namespaces/secret/repos/nope/tags", berthtest.TokenHeader(admin), nil, 404, "SVCSTG.SWR.4040010"},
		{"private namespace to a non-member", "GET", tags, berthtest.TokenHeader(alice), nil, 404, "SVCSTG.SWR.4040010"},
		{"private namespace get to a non-member", "GET", "/v2/manage/namespaces/secret", berthtest.TokenHeader(alice), nil, 404, "SVCSTG.SWR.4040010"},
		{"public namespace to a non-member", "GET", "/v2/manage/namespaces/open/repos/app/tags", berthtest.TokenHeader(alice), nil, 200, ""},
		{"delete in a public namespace by a non-member", "DELETE", "/v2/manage/namespaces/open/repos/app/tags/v1", berthtest.TokenHeader(alice), nil, 403, "SVCSTG.SWR.4030000"},
		{"bad tag to delete", "DELETE", "/v2/manage/namespaces/open/repos/app/tags/-x", berthtest.TokenHeader(admin), nil, 400, "SVCSTG.SWR.4000014"},
		{"malformed body", "POST", "/v2/manage/namespaces", berthtest.TokenHeader(alice), "{", 400, "SVCSTG.SWR.4001025"},
		{"bad namespace name", "POST", "/v2/manage/namespaces", berthtest.TokenHeader(alice), map[string]any{"namespace": "Bad..Name"}, 400, "SVCSTG.SWR.4000014"},
		{"unknown body field", "PATCH", "/v2/manage/namespaces/open/repos/app", berthtest.TokenHeader(admin), map[string]any{"color": "red"}, 400, "SVCSTG.SWR.4001025"},
		{"method not allowed", "PUT", "/v2/manage/namespaces", berthtest.TokenHeader(admin), nil, 405, "SVCSTG.SWR.4050000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, h, out := berthtest.SWRCall(t, b, tt.method, tt.path, tt.hdr, tt.body)
			if tt.code == "" {
				if code != tt.status {
					t.Errorf("%d %s, want %d", code, out, tt.status)
				} else if tt.method == "GET" && h.Get("Content-Range") == "" {
					t.Errorf("no Content-Range on a list")
				}
				return
			}
			berthtest.WantSWRError(t, tt.name, code, out, tt.status, tt.code)
		})
	}
	// alice may create her own namespace and sees only what she may.
	berthtest.MustSWR(t, b, alice, http.MethodPost, "/v2/manage/namespaces", map[string]any{"namespace": "alices"}, http.StatusCreated)
	_, out := berthtest.MustSWR(t, b, alice, http.MethodGet, "/v2/manage/namespaces", nil, http.StatusOK)
	var list struct{ Namespaces []struct{ Name string } }
	_ = json.Unmarshal([]byte(out), &list)
	var names []string
	for _, n := range list.Namespaces {
		names = append(names, n.Name)
	}
	if !slices.Equal(names, []string{"alices", "library", "open"}) {
		t.Errorf("alice sees namespaces %v, want [alices library open]", names)
	}
	if _, out := berthtest.MustSWR(t, b, alice, http.MethodGet, "/v2/manage/repos", nil, http.StatusOK); strings.Contains(out, "secret") {
		t.Errorf("alice's repository list shows the private namespace: %s", out)
	}
}

// TestSWRTagList pages a repository of 250 tags through every ordering and
// filter, in both parameter forms, checking records and Content-Range
// against a model of what was pushed.
func TestSWRTagList(t *testing.T) {
	b := apptest.Start(t, berthtest.Options{StrictProjects: true})
	tok := berthtest.Token(t, b, "admin", b.AdminPassword)
	berthtest.MustSWR(t, b, tok, http.MethodPost, "/v2/manage/namespaces", map[string]any{"namespace": "group"}, http.StatusCreated)
	berthtest.MustSWR(t, b, tok, http.MethodPost, "/v2/manage/namespaces/group/repos", map[string]any{"repository": "busybox"}, http.StatusCreated)

	// 250 tags over 5 images, pushed in an order unlike name order.
	const n = 250
	var imgs []berthtest.RawImage
	for i := range 5 {
		imgs = append(imgs, berthtest.PushRawImage(t, b, "group/busybox", "", "amd64", berthtest.LayerBytes(i+1)))
	}
	var pushOrder []string
	digestOf := map[string]berthtest.RawImage{}
	for i := range n {
		name := fmt.Sprintf("v%03d", (i*7)%n)
		img := imgs[i%5]
		if code, out := berthtest.PutManifest(t, b, "group/busybox", name, "application/vnd.oci.image.manifest.v1+json", img.Manifest); code != http.StatusCreated {
			t.Fatalf("PUT %s: %d %s", name, code, out)
		}
		pushOrder = append(pushOrder, name)
		digestOf[name] = img
	}

	// Defaults: newest first, 100 per page; limit 1000 is the maximum.
	tags, cr, _ := berthtest.SWRTags(t, b, tok, "/v2/manage/namespaces/group/repos/busybox/tags")
	if cr != "0-100/250" || len(tags) != 100 || tags[0].Tag != pushOrder[n-1] {
		t.Fatalf("default page: Content-Range %q, %d tags, first %q; want 0-100/250, 100, %q", cr, len(tags), tags[0].Tag, pushOrder[n-1])
	}
	if tags, cr, _ = berthtest.SWRTags(t, b, tok, "/v2/manage/namespaces/group/repos/busybox/tags?offset=0&limit=1000"); cr != "0-250/250" || len(tags) != n {
		t.Fatalf("limit 1000: Content-Range %q, %d tags", cr, len(tags))
	}

	// Every record describes the image its tag names, with stable ids.
	ids := map[string]int64{}
	for _, tg := range tags {
		img := digestOf[tg.Tag]
		var m struct{ Config struct{ Digest string } }
		_ = json.Unmarshal(img.Manifest, &m)
		created, err1 := time.Parse(time.RFC3339, tg.Created)
		updated, err2 := time.Parse(time.RFC3339, tg.Updated)
		switch {
		case tg.Digest != img.Digest || tg.Manifest != string(img.Manifest) || tg.Size != img.Size-int64(len(img.Manifest)):
			t.Errorf("%s: digest %s size %d manifest %.60s; want %s %d (config + layers)", tg.Tag, tg.Digest, tg.Size, tg.Manifest, img.Digest, img.Size-int64(len(img.Manifest)))
		case tg.ImageID != strings.TrimPrefix(m.Config.Digest, "sha256:") || tg.Schema != 2 || tg.TagType != 0 || tg.IsTrusted || tg.Deleted != nil:
			t.Errorf("%s: image_id %q schema %d tag_type %d trusted %v deleted %v", tg.Tag, tg.ImageID, tg.Schema, tg.TagType, tg.IsTrusted, tg.Deleted)
		case tg.Path != b.Addr+"/group/busybox:"+tg.Tag || tg.InternalPath != b.Addr+"/group/busybox:"+tg.Tag:
			t.Errorf("%s: path %q internal_path %q", tg.Tag, tg.Path, tg.InternalPath)
		case err1 != nil || err2 != nil || !strings.HasSuffix(tg.Created, "Z") || updated.Before(created) || time.Since(created) > time.Hour:
			t.Errorf("%s: created %q updated %q not UTC RFC 3339 times of the push", tg.Tag, tg.Created, tg.Updated)
		case tg.ID == 0 || tg.RepoID == 0 || tg.RepoID != tags[0].RepoID || !swrDomainID.MatchString(tg.DomainID) || tg.DomainID != tags[0].DomainID:
			t.Errorf("%s: id %d repo_id %d domain_id %q", tg.Tag, tg.ID, tg.RepoID, tg.DomainID)
		}
		if ids[tg.Tag] != 0 {
			t.Errorf("tag %s listed twice", tg.Tag)
		}
		ids[tg.Tag] = tg.ID
	}

	byName := slices.Clone(pushOrder)
	slices.Sort(byName)
	orders := map[string][]string{"updated_at asc": pushOrder, "tag asc": byName,
		"updated_at desc": reversed(pushOrder), "tag desc": reversed(byName)}
	pages := [][2]int{{0, 100}, {100, 100}, {200, 100}, {300, 100}, {17, 33}, {249, 1}}
	for ord, all := range orders {
		col, typ, _ := strings.Cut(ord, " ")
		for _, filter := range []string{"", "v1", "9", "v249", "zzz"} {
			var want []string
			for _, name := range all {
				if strings.Contains(name, filter) {
					want = append(want, name)
				}
			}
			for _, pg := range pages {
				off, lim := pg[0], pg[1]
				end := min(off+lim, len(want))
				wantPage := []string{}
				if off < len(want) {
					wantPage = want[off:end]
				}
				wantCR := fmt.Sprintf("%d-%d/%d", off, len(wantPage), len(want))
				plain := url.Values{"offset": {fmt.Sprint(off)}, "limit": {fmt.Sprint(lim)}, "order_column": {col}, "order_type": {typ}}
				packed := fmt.Sprintf("offset::%d|limit::%d|order_column::%s|order_type::%s", off, lim, col, typ)
				if filter != "" {
					plain.Set("tag", filter)
					packed += "|tag::" + filter
				}
				base := "/v2/manage/namespaces/group/repos/busybox/tags?"
				got1, cr1, body1 := berthtest.SWRTags(t, b, tok, base+plain.Encode())
				got2, cr2, body2 := berthtest.SWRTags(t, b, tok, base+"filter="+url.QueryEscape(packed))
				if body1 != body2 || cr1 != cr2 {
					t.Errorf("%s tag~%q page %v: plain and filter forms differ (%s vs %s)", ord, filter, pg, cr1, cr2)
				}
				if names := berthtest.SWRNames(got1); cr1 != wantCR || !slices.Equal(names, wantPage) {
					t.Errorf("%s tag~%q page %v: Content-Range %q %v; want %q %v", ord, filter, pg, cr1, names, wantCR, wantPage)
				}
				for _, tg := range got2 {
					if ids[tg.Tag] != tg.ID {
						t.Errorf("%s: id %d, earlier %d", tg.Tag, tg.ID, ids[tg.Tag])
					}
				}
			}
		}
	}
}

// swrDomainID is the shape of the seed's domain_id, "0503dda878000fed0f75c0096d70a960".
var swrDomainID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// TestSWRSeedBusybox pushes an image with the sizes of seed 003's busybox
// example (config 1862, layers 1292800 and 10240) and wants its size,
// 1304902: config and layers, not the manifest. domain_id is a stable
// account id: the same for every tag and repository of one creator's
// namespaces, another for another creator's, never the user name.
func TestSWRSeedBusybox(t *testing.T) {
	b := apptest.Start(t, berthtest.Options{StrictProjects: true})
	tok := berthtest.Token(t, b, "admin", b.AdminPassword)
	berthtest.MustAPI(t, b, http.MethodPost, "/api/berth/v1/users", map[string]any{"username": "other", "password": "Swr-other-pass-1"}, http.StatusCreated)
	otherTok := berthtest.Token(t, b, "other", "Swr-other-pass-1")
	berthtest.MustSWR(t, b, tok, http.MethodPost, "/v2/manage/namespaces", map[string]any{"namespace": "group"}, http.StatusCreated)
	berthtest.MustSWR(t, b, tok, http.MethodPost, "/v2/manage/namespaces", map[string]any{"namespace": "group2"}, http.StatusCreated)
	berthtest.MustSWR(t, b, otherTok, http.MethodPost, "/v2/manage/namespaces", map[string]any{"namespace": "theirs"}, http.StatusCreated)

	repo := "group/busybox"
	l1 := berthtest.PushBlob(t, b, repo, bytes.Repeat([]byte{1}, 1292800))
	l2 := berthtest.PushBlob(t, b, repo, bytes.Repeat([]byte{2}, 10240))
	config, _ := json.Marshal(map[string]any{"architecture": "amd64", "os": "linux",
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{l1, l2}}})
	config = berthtest.Pad(t, config, 1862)
	cd := berthtest.PushBlob(t, b, repo, config)
	const mt = "application/vnd.docker.distribution.manifest.v2+json"
	man, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": mt,
		"config": map[string]any{"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1862, "digest": cd},
		"layers": []any{
			map[string]any{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 1292800, "digest": l1},
			map[string]any{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 10240, "digest": l2},
		}})
	if code, body := berthtest.PutManifest(t, b, repo, "latest", mt, man); code != http.StatusCreated {
		t.Fatalf("PUT: %d %s", code, body)
	}
	small := berthtest.PushRawImage(t, b, "group2/tools", "v1", "amd64", berthtest.LayerBytes(5))
	berthtest.PushRawImage(t, b, "theirs/app", "v1", "amd64", berthtest.LayerBytes(6))

	tags, cr, out := berthtest.SWRTags(t, b, tok, "/v2/manage/namespaces/group/repos/busybox/tags")
	var raw []any
	_ = json.Unmarshal([]byte(out), &raw)
	berthtest.AssertShape(t, "tags", raw, berthtest.SeedJSON(t, swrSeedTags))
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
		tags, _, _ := berthtest.SWRTags(t, b, tok, path)
		if len(tags) != 1 {
			t.Fatalf("%s: %+v", path, tags)
		}
		return tags[0].DomainID
	}
	if got := domainOf(tok, "/v2/manage/namespaces/group2/repos/tools/tags"); got != id {
		t.Errorf("group2 domain_id %q, group %q", got, id)
	}
	if tg, _, _ := berthtest.SWRTags(t, b, tok, "/v2/manage/namespaces/group2/repos/tools/tags"); tg[0].Size != small.Size-int64(len(small.Manifest)) {
		t.Errorf("size %d, want config + layer %d", tg[0].Size, small.Size-int64(len(small.Manifest)))
	}
	theirs := domainOf(otherTok, "/v2/manage/namespaces/theirs/repos/app/tags")
	if !swrDomainID.MatchString(theirs) || theirs == id {
		t.Errorf("another creator's domain_id %q (admin's %q)", theirs, id)
	}
	_, repos := berthtest.MustSWR(t, b, tok, http.MethodGet, "/v2/manage/namespaces/group/repos", nil, http.StatusOK)
	var list []map[string]any
	if err := json.Unmarshal([]byte(repos), &list); err != nil || len(list) != 1 || list[0]["domain_id"] != id {
		t.Errorf("repository domain_id: %s", repos)
	}
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	b = apptest.Start(t, berthtest.Options{StrictProjects: true, DataDir: b.DataDir})
	if got := domainOf(berthtest.Token(t, b, "admin", b.AdminPassword), "/v2/manage/namespaces/group/repos/busybox/tags"); got != id {
		t.Errorf("domain_id after a restart %q, before %q", got, id)
	}
}

// swrSeedTags is the seed's tag list example.
const swrSeedTags = `[{"id":0,"repo_id":0,"Tag":"latest","image_id":"741f24a7","manifest":"{}",
	"digest":"sha256:57b60584","schema":2,"path":"{Repository address}/group/busybox:latest",
	"internal_path":"10.125.0.198:20202/namespace/busybox:latest","size":1304902,"is_trusted":false,
	"created":"2018-07-06T06:18:55Z","updated":"2018-07-06T06:18:55Z","deleted":null,
	"domain_id":"0503dda878000fed0f75c0096d70a960","tag_type":0}]`
