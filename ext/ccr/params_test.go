package ccr

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/ext/dialect"
)

func TestParseList(t *testing.T) {
	cases := []struct {
		query            string
		offset, limit    int
		pageNo, pageSize int
		nameHas          string
		bad              bool
	}{
		{"", 0, 10, 1, 10, "", false},
		{"pageNo=2&pageSize=20", 20, 20, 2, 20, "", false},
		{"page=3&pageSize=5", 10, 5, 3, 5, "", false},
		{"pageNo=0&pageSize=10", 0, 10, 1, 10, "", false},
		{"pageNo=-4", 0, 10, 1, 10, "", false},
		{"pageSize=0", 0, 10, 1, 10, "", false},
		{"pageSize=100", 0, 100, 1, 100, "", false},
		{"nameHas=Te", 0, 10, 1, 10, "te", false},
		{"noPaging=true&pageNo=5&pageSize=7", 0, 0, 0, 0, "", false},
		{"noPaging=false&pageNo=2", 10, 10, 2, 10, "", false},
		{"pageNo=2&page=2", 10, 10, 2, 10, "", false},
		{"pageSize=101", 0, 0, 0, 0, "", true},
		{"pageSize=-1", 0, 0, 0, 0, "", true},
		{"pageSize=ten", 0, 0, 0, 0, "", true},
		{"pageNo=x", 0, 0, 0, 0, "", true},
		{"pageNo=1.5", 0, 0, 0, 0, "", true},
		{"pageNo=99999999999999999999999", 0, 0, 0, 0, "", true},
		{"pageNo=-99999999999999999999999", 0, 0, 0, 0, "", true},
		{"pageNo=1099511627777", 0, 0, 0, 0, "", true},
		{"pageSize=99999999999999999999", 0, 0, 0, 0, "", true},
		{"noPaging=maybe", 0, 0, 0, 0, "", true},
		{"pageNo=1&page=2", 0, 0, 0, 0, "", true},
		{"nameHas=" + strings.Repeat("a", 256), 0, 0, 0, 0, "", true},
		{"nameHas=a%00b", 0, 0, 0, 0, "", true},
		{"nameHas=%ff", 0, 0, 0, 0, "", true},
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) {
			q, err := url.ParseQuery(c.query)
			if err != nil {
				t.Fatal(err)
			}
			lp, err := parseList(q)
			if c.bad {
				if status, code, _ := classify(err); status != http.StatusBadRequest || code != CodeParam {
					t.Fatalf("got %+v, %v (%d %s); want a parameter error", lp, err, status, code)
				}
				return
			}
			if err != nil || lp.Page.Offset != c.offset || lp.Page.Limit != c.limit || lp.PageNo != c.pageNo ||
				lp.PageSize != c.pageSize || lp.NameHas != c.nameHas {
				t.Fatalf("got %+v, %v", lp, err)
			}
		})
	}
}

func TestValidateRepositoryName(t *testing.T) {
	cases := map[string]bool{
		"ab": true, "test01": true, "sub1/sub2/repo": true, "a.b_c-d": true, strings.Repeat("a", 64): true,
		"a": false, strings.Repeat("a", 65): false, "Test": false, "-ab": false, "ab-": false, "a//b": false,
		"a__b": false, "a.-b": false, "/ab": false, "ab/": false, "a b": false, "a:b": false, "": false, "中文": false,
	}
	for name, want := range cases {
		if err := validateRepositoryName(name); (err == nil) != want {
			t.Errorf("validateRepositoryName(%q) = %v, want ok=%v", name, err, want)
		}
	}
	if err := validateText("summary", strings.Repeat("概", 100), maxSummary); err != nil {
		t.Errorf("100 characters of summary: %v", err)
	}
	if err := validateText("summary", strings.Repeat("a", 101), maxSummary); err == nil {
		t.Error("101 characters of summary accepted")
	}
	if err := validateText("detail", strings.Repeat("a", 257), maxDetail); err == nil {
		t.Error("257 characters of detail accepted")
	}
}

func TestSplitChartFile(t *testing.T) {
	cases := []struct{ file, name, version string }{
		{"postgresql-12.2.7.tgz", "postgresql", "12.2.7"},
		{"my-app-1.2.3-rc.1.tgz", "my-app", "1.2.3-rc.1"},
		{"app-2fa-1.0.0.tgz", "app-2fa", "1.0.0"},
		{"nginx-v1.0.0+build.5.tgz", "nginx", "v1.0.0+build.5"},
		{"x-0.1.tgz", "x", "0.1"},
		{"nginx.tgz", "", ""},
		{"nginx-1.0.0.tar.gz", "", ""},
		{"-1.0.0.tgz", "", ""},
		{"nginx-latest.tgz", "", ""},
		{"Nginx-1.0.0.tgz", "", ""},
	}
	for _, c := range cases {
		name, version, err := splitChartFile(c.file)
		if c.name == "" {
			if err == nil {
				t.Errorf("%s: split as %s %s, want a parameter error", c.file, name, version)
			}
			continue
		}
		if err != nil || name != c.name || version != c.version {
			t.Errorf("%s: %q %q %v; want %q %q", c.file, name, version, err, c.name, c.version)
		}
	}
}

func TestDecodeBody(t *testing.T) {
	type body struct {
		Name  string `json:"name"`
		Quota *int64 `json:"quota"`
	}
	cases := []struct {
		in string
		ok bool
	}{
		{`{"name":"a","quota":5}`, true},
		{` {"name":"a"} `, true},
		{``, false},
		{`{`, false},
		{`[]`, false},
		{`{"name":"a"}{"name":"b"}`, false},
		{`{"name":"a"} x`, false},
		{`{"name":"a","extra":1}`, false},
		{`{"name":5}`, false},
		{`{"quota":1e30}`, false},
		{`{"quota":99999999999999999999}`, false},
		{`{"quota":1.5}`, false},
		{`{"name":"` + strings.Repeat("a", maxBody) + `"}`, false},
	}
	for _, c := range cases {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(c.in))
		req.Header.Set("Content-Type", "application/json")
		var b body
		err := decodeBody(rec, req, &b)
		if c.ok != (err == nil) {
			t.Errorf("%.40q: %v, want ok=%v", c.in, err, c.ok)
		}
		if err != nil && !errors.Is(err, dialect.ErrBadBody) {
			t.Errorf("%.40q: error kind %v", c.in, err)
		}
	}
}

func TestTimes(t *testing.T) {
	if got := formatTime(time.Time{}); got != zeroTime {
		t.Errorf("zero time: %q", got)
	}
	at := time.Date(2023, 9, 26, 11, 52, 35, 91e6, time.UTC)
	if got := formatISO(at); got != "2023-09-26T11:52:35.091Z" {
		t.Errorf("ISO: %q", got)
	}
	if got := formatTime(at); got != at.Local().Format("2006-01-02 15:04:05") {
		t.Errorf("local: %q", got)
	}
}

// classify is the table's answer to err: status, code, message.
func classify(err error) (int, string, string) {
	f := errorTable.Classify("", err)
	return f.Status, f.Code, f.Message
}

// decodeBody is the kit's JSON decoding as the dialect configures it.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	return (&dialect.API[string]{StrictJSON: true, MaxBody: maxBody}).DecodeJSON(w, r, v)
}
