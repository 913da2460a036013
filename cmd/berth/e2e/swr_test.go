package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// swrTag is the part of an SWR tag record the tests read.
type swrTag struct {
	ID           int64   `json:"id"`
	RepoID       int64   `json:"repo_id"`
	Tag          string  `json:"Tag"`
	ImageID      string  `json:"image_id"`
	Manifest     string  `json:"manifest"`
	Digest       string  `json:"digest"`
	Schema       int     `json:"schema"`
	Path         string  `json:"path"`
	InternalPath string  `json:"internal_path"`
	Size         int64   `json:"size"`
	IsTrusted    bool    `json:"is_trusted"`
	Created      string  `json:"created"`
	Updated      string  `json:"updated"`
	Deleted      *string `json:"deleted"`
	DomainID     string  `json:"domain_id"`
	TagType      int     `json:"tag_type"`
}

type swrError struct {
	Code string `json:"error_code"`
	Msg  string `json:"error_msg"`
}

// swrToken exchanges Basic credentials for a berth token.
func swrToken(t *testing.T, b *berthtest.Berth, user, pw string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.URL("/service/token?service=berth"), nil)
	code, out := sendAs(t, req, user, pw)
	var tok struct{ Token string }
	if err := json.Unmarshal([]byte(out), &tok); code != http.StatusOK || err != nil || tok.Token == "" {
		t.Fatalf("token for %s: %d %s", user, code, out)
	}
	return tok.Token
}

// swrCall sends an SWR request with exactly the given headers (no implicit
// credentials) and returns the status, headers and body.
func swrCall(t *testing.T, b *berthtest.Berth, method, path string, hdr map[string]string, body any) (int, http.Header, string) {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		js, _ := json.Marshal(body)
		rd = bytes.NewReader(js)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequest(method, b.URL(path), rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := berthtest.AnonymousClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, readAll(t, resp)
}

func tokenHeader(tok string) map[string]string { return map[string]string{"X-Auth-Token": tok} }

// mustSWR is swrCall that fails unless the status is want.
func mustSWR(t *testing.T, b *berthtest.Berth, tok, method, path string, body any, want int) (http.Header, string) {
	t.Helper()
	code, h, out := swrCall(t, b, method, path, tokenHeader(tok), body)
	if code != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, code, out, want)
	}
	return h, out
}

func swrTags(t *testing.T, b *berthtest.Berth, tok, path string) ([]swrTag, string, string) {
	t.Helper()
	h, out := mustSWR(t, b, tok, http.MethodGet, path, nil, http.StatusOK)
	var tags []swrTag
	if err := json.Unmarshal([]byte(out), &tags); err != nil || tags == nil {
		t.Fatalf("GET %s: not a JSON array (%v): %.300s", path, err, out)
	}
	return tags, h.Get("Content-Range"), out
}

// TestSWRTagList pages a repository of 250 tags through every ordering and
// filter, in both parameter forms, checking records and Content-Range
// against a model of what was pushed.
func TestSWRTagList(t *testing.T) {
	b := berthtest.Start(t, berthtest.Options{StrictProjects: true})
	tok := swrToken(t, b, "admin", b.AdminPassword)
	mustSWR(t, b, tok, http.MethodPost, "/v2/manage/namespaces", map[string]any{"namespace": "group"}, http.StatusCreated)
	mustSWR(t, b, tok, http.MethodPost, "/v2/manage/namespaces/group/repos", map[string]any{"repository": "busybox"}, http.StatusCreated)

	// 250 tags over 5 images, pushed in an order unlike name order.
	const n = 250
	var imgs []rawImage
	for i := range 5 {
		imgs = append(imgs, pushRawImage(t, b, "group/busybox", "", "amd64", layerBytes(i+1)))
	}
	var pushOrder []string
	digestOf := map[string]rawImage{}
	for i := range n {
		name := fmt.Sprintf("v%03d", (i*7)%n)
		img := imgs[i%5]
		if code, out := putManifest(t, b, "group/busybox", name, "application/vnd.oci.image.manifest.v1+json", img.Manifest); code != http.StatusCreated {
			t.Fatalf("PUT %s: %d %s", name, code, out)
		}
		pushOrder = append(pushOrder, name)
		digestOf[name] = img
	}

	// Defaults: newest first, 100 per page; limit 1000 is the maximum.
	tags, cr, _ := swrTags(t, b, tok, "/v2/manage/namespaces/group/repos/busybox/tags")
	if cr != "0-100/250" || len(tags) != 100 || tags[0].Tag != pushOrder[n-1] {
		t.Fatalf("default page: Content-Range %q, %d tags, first %q; want 0-100/250, 100, %q", cr, len(tags), tags[0].Tag, pushOrder[n-1])
	}
	if tags, cr, _ = swrTags(t, b, tok, "/v2/manage/namespaces/group/repos/busybox/tags?offset=0&limit=1000"); cr != "0-250/250" || len(tags) != n {
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
				got1, cr1, body1 := swrTags(t, b, tok, base+plain.Encode())
				got2, cr2, body2 := swrTags(t, b, tok, base+"filter="+url.QueryEscape(packed))
				if body1 != body2 || cr1 != cr2 {
					t.Errorf("%s tag~%q page %v: plain and filter forms differ (%s vs %s)", ord, filter, pg, cr1, cr2)
				}
				if names := swrNames(got1); cr1 != wantCR || !slices.Equal(names, wantPage) {
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

func swrNames(tags []swrTag) []string {
	out := []string{}
	for _, tg := range tags {
		out = append(out, tg.Tag)
	}
	return out
}

func reversed(s []string) []string {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}
