package berthtest

import (
	"encoding/json"
	"net/http"
	"testing"
)

// SWRTag is the part of an SWR tag record tests read.
type SWRTag struct {
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

// SWRError is SWR's error envelope.
type SWRError struct {
	Code string `json:"error_code"`
	Msg  string `json:"error_msg"`
}

// Token exchanges Basic credentials for a berth token.
func Token(t testing.TB, b *Berth, user, pw string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.URL("/service/token?service=berth"), nil)
	code, out := SendAs(t, req, user, pw)
	var tok struct{ Token string }
	if err := json.Unmarshal([]byte(out), &tok); code != http.StatusOK || err != nil || tok.Token == "" {
		t.Fatalf("token for %s: %d %s", user, code, out)
	}
	return tok.Token
}

// SWRCall sends an SWR request with exactly the given headers (no
// implicit credentials) and returns the status, headers and body.
func SWRCall(t testing.TB, b *Berth, method, path string, hdr map[string]string, body any) (int, http.Header, string) {
	t.Helper()
	req := JSONRequest(t, method, b.URL(path), body)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := AnonymousClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, ReadAll(t, resp)
}

// TokenHeader is SWR's X-Auth-Token header carrying tok.
func TokenHeader(tok string) map[string]string { return map[string]string{"X-Auth-Token": tok} }

// MustSWR is SWRCall with a token that fails unless the status is want.
func MustSWR(t testing.TB, b *Berth, tok, method, path string, body any, want int) (http.Header, string) {
	t.Helper()
	code, h, out := SWRCall(t, b, method, path, TokenHeader(tok), body)
	if code != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, code, out, want)
	}
	return h, out
}

// SWRTags lists tags: the records, the Content-Range and the raw body.
func SWRTags(t testing.TB, b *Berth, tok, path string) ([]SWRTag, string, string) {
	t.Helper()
	h, out := MustSWR(t, b, tok, http.MethodGet, path, nil, http.StatusOK)
	var tags []SWRTag
	if err := json.Unmarshal([]byte(out), &tags); err != nil || tags == nil {
		t.Fatalf("GET %s: not a JSON array (%v): %.300s", path, err, out)
	}
	return tags, h.Get("Content-Range"), out
}

// WantSWRError checks an SWR error answer.
func WantSWRError(t testing.TB, what string, code int, body string, wantStatus int, wantCode string) {
	t.Helper()
	var e SWRError
	if err := json.Unmarshal([]byte(body), &e); err != nil || code != wantStatus || e.Code != wantCode || e.Msg == "" {
		t.Errorf("%s: %d %s; want %d %s", what, code, body, wantStatus, wantCode)
	}
}

// SWRNames are the tags' names, in order.
func SWRNames(tags []SWRTag) []string {
	out := []string{}
	for _, tg := range tags {
		out = append(out, tg.Tag)
	}
	return out
}
