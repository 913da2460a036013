package imagebuild

import (
	"net/http"
	"net/url"
	"reflect"
	"testing"
)

func TestRelaxedObject(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want map[string]any
		ok   bool
	}{
		{"the seed's save example", "{\n  project:\"aa\"\n  Cluster:\"default\"\n  DefineDockerFileType:\"define\"\n  addOrUpdate:\"add\"\n  $$plugin:[{\n  }]\n}",
			map[string]any{"project": "aa", "Cluster": "default", "DefineDockerFileType": "define", "addOrUpdate": "add", "$$plugin": []any{map[string]any{}}}, true},
		{"after a shell", "{\n  project:aa\n  Cluster:default\n  1234plugin:[{\n  }]\n}",
			map[string]any{"project": "aa", "Cluster": "default", "1234plugin": []any{map[string]any{}}}, true},
		{"trailing comma", `{"repositoryName": "test01" ,}`, map[string]any{"repositoryName": "test01"}, true},
		{"nested relaxed object", `{a: {b: c}}`, map[string]any{"a": map[string]any{"b": "c"}}, true},
		{"escaped quote", `{a: "x\"y"}`, map[string]any{"a": `x"y`}, true},
		{"empty", `{}`, map[string]any{}, true},
		{"no braces", `project: aa`, nil, false},
		{"no colon", `{project aa}`, nil, false},
		{"unterminated string", `{a: "x}`, nil, false},
		{"unbalanced list", `{a: [1, 2}`, nil, false},
		{"trailing garbage", `{a: b} c`, nil, false},
	}
	for _, tc := range cases {
		got, ok := relaxedObject(tc.in)
		if ok != tc.ok || (ok && !reflect.DeepEqual(got, tc.want)) {
			t.Errorf("%s: %v %v, want %v %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

func TestLenientForm(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want url.Values
		ok   bool
	}{
		{"the seed's plugin call", "plugin=\"aa\"&method=\"download file\"&{  \n}", url.Values{"plugin": {"aa"}, "method": {"download file"}}, true},
		{"plain form", "project=aa&Cluster=default&$$plugin=a&$$plugin=b", url.Values{"project": {"aa"}, "Cluster": {"default"}, "$$plugin": {"a", "b"}}, true},
		{"escapes", "a=x%20y&b=1+2", url.Values{"a": {"x y"}, "b": {"1 2"}}, true},
		{"only JSON", "{ }", nil, false},
		{"a word", "hello", nil, false},
		{"bad escape", "a=%zz", nil, false},
		{"empty key", "=x", nil, false},
	}
	for _, tc := range cases {
		got, ok := lenientForm(tc.in)
		if ok != tc.ok || (ok && !reflect.DeepEqual(got, tc.want)) {
			t.Errorf("%s: %v %v, want %v %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

func TestWantsJSON(t *testing.T) {
	cases := []struct {
		name, accept, contentType string
		want                      bool
	}{
		{"browser", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8", "", false},
		{"curl without headers", "*/*", "", false},
		{"no headers", "", "", false},
		{"asks for JSON", "application/json", "", true},
		{"prefers JSON", "application/json, text/html;q=0.5", "", true},
		{"prefers HTML", "text/html, application/json;q=0.5", "", false},
		{"the seed's request", "", "application/json", true},
		{"the seed's request from curl", "*/*", "application/json; charset=utf-8", true},
		{"a browser posting JSON", "text/html", "application/json", false},
		{"any application type", "application/*", "", true},
		{"JSON refused", "application/json;q=0", "application/json", false},
	}
	for _, tc := range cases {
		r, _ := http.NewRequest(http.MethodGet, "/view/config/independent", nil)
		if tc.accept != "" {
			r.Header.Set("Accept", tc.accept)
		}
		if tc.contentType != "" {
			r.Header.Set("Content-Type", tc.contentType)
		}
		if got := wantsJSON(r); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
