package harborv1

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/berth-registry/berth/ext/dialect"
	"github.com/berth-registry/berth/registry/domain"
)

func TestPageParams(t *testing.T) {
	cases := []struct {
		query        string
		number, size int
		offset       int
		bad          bool
	}{
		{"", 1, 10, 0, false},
		{"page=3&page_size=20", 3, 20, 40, false},
		{"page=2&pagesize=5", 2, 5, 5, false},
		{"page_size=1000", 1, 100, 0, false}, // capped like Harbor
		{"page=0", 0, 0, 0, true},
		{"page=-1", 0, 0, 0, true},
		{"page_size=0", 0, 0, 0, true},
		{"page_size=-5", 0, 0, 0, true},
		{"page=abc", 0, 0, 0, true},
		{"page=1.5", 0, 0, 0, true},
		{"page=99999999999999999999", 0, 0, 0, true},
		{"page_size=99999999999999999999", 0, 0, 0, true},
		{"page=9223372036854775807&page_size=100", 0, 0, 0, true},
	}
	for _, c := range cases {
		q, _ := url.ParseQuery(c.query)
		pg, err := pageParams(q)
		if c.bad {
			if err == nil || (!errors.Is(err, errBadParam) && !errors.Is(err, domain.ErrInvalid)) {
				t.Errorf("%q: want a bad parameter, got %+v %v", c.query, pg, err)
			}
			continue
		}
		if err != nil || pg.number != c.number || pg.size != c.size || pg.page.Offset != c.offset || pg.page.Limit != c.size {
			t.Errorf("%q: got %+v %v", c.query, pg, err)
		}
	}
}

func TestSetPagination(t *testing.T) {
	cases := []struct {
		query string
		total int64
		link  string
	}{
		{"page=1&page_size=2", 5, `</api/projects?page=2&page_size=2&project_name=x>; rel="next"`},
		{"page=2&page_size=2", 5, `</api/projects?page=1&page_size=2&project_name=x>; rel="prev", </api/projects?page=3&page_size=2&project_name=x>; rel="next"`},
		{"page=3&page_size=2", 5, `</api/projects?page=2&page_size=2&project_name=x>; rel="prev"`},
		{"page=9&page_size=2", 5, ""},
		{"page=1&page_size=10", 5, ""},
	}
	for _, c := range cases {
		r := httptest.NewRequest(http.MethodGet, "/api/projects?project_name=x&"+c.query, nil)
		pg, err := pageParams(r.URL.Query())
		if err != nil {
			t.Fatal(err)
		}
		w := httptest.NewRecorder()
		setPagination(w, r, c.total, pg)
		if got := w.Header().Get("Link"); got != c.link {
			t.Errorf("%s: Link %q, want %q", c.query, got, c.link)
		}
		if w.Header().Get("X-Total-Count") != "5" {
			t.Errorf("%s: X-Total-Count %q", c.query, w.Header().Get("X-Total-Count"))
		}
	}
}

func TestReadDeleteParams(t *testing.T) {
	cases := []struct {
		name, query, body string
		want              deleteParams
		bad               bool
	}{
		{"harbor query", "repo_name=lib/app&tag=v1", "", deleteParams{repo: "lib/app", tag: "v1"}, false},
		{"whole repository", "repo_name=lib%2Fapp", "", deleteParams{repo: "lib/app"}, false},
		{"seed JSON", "", `{"repoName":"1.1","projectName":"myweb"}`, deleteParams{repo: "myweb", tag: "1.1"}, false},
		{"seed curl mix", "", `method=DELETE&{"repoName":"1.1","projectName":"myweb"}`, deleteParams{repo: "myweb", tag: "1.1", method: "DELETE"}, false},
		{"number tag", "", `{"repoName":1.1,"projectName":"myweb"}`, deleteParams{repo: "myweb", tag: "1.1"}, false},
		{"form body", "", "repo_name=lib/app&tag=v2", deleteParams{repo: "lib/app", tag: "v2"}, false},
		{"query and body agree", "repo_name=lib/app", `{"repo_name":"lib/app","tag":"v1"}`, deleteParams{repo: "lib/app", tag: "v1"}, false},
		{"query and body differ", "repo_name=lib/app", `{"repo_name":"lib/other"}`, deleteParams{}, true},
		{"mixed names", "repo_name=lib/app", `{"projectName":"app","repoName":"v1"}`, deleteParams{}, true},
		{"seed without tag", "", `{"projectName":"myweb"}`, deleteParams{}, true},
		{"tag without image", "", `{"repoName":"1.1"}`, deleteParams{}, true},
		{"missing", "", "", deleteParams{}, true},
		{"unknown key", "", `{"repo_name":"lib/app","force":true}`, deleteParams{}, true},
		{"object value", "", `{"repo_name":{"a":1}}`, deleteParams{}, true},
		{"broken JSON", "", `{"repo_name":`, deleteParams{}, true},
		{"two JSON values", "", `{"repo_name":"lib/a"}{"tag":"x"}`, deleteParams{}, true},
		{"dot dot", "repo_name=lib/../etc", "", deleteParams{}, true},
		{"NUL", "repo_name=lib/a%00b", "", deleteParams{}, true},
		{"double encoded slash", "repo_name=lib%252Fa", "", deleteParams{}, true},
		{"bad tag", "repo_name=lib/a&tag=-x", "", deleteParams{}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodDelete, "/api/repositories?"+c.query, strings.NewReader(c.body))
			got, err := readDeleteParams(httptest.NewRecorder(), r)
			if c.bad {
				if err == nil || (!errors.Is(err, errBadParam) && !errors.Is(err, domain.ErrInvalid)) {
					t.Fatalf("want 400, got %+v %v", got, err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("got %+v %v, want %+v", got, err, c.want)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	if s, _ := classify(errors.New("boom")); s != http.StatusInternalServerError {
		t.Errorf("unknown error: %d", s)
	}
	if s, _ := classify(badParam("x")); s != http.StatusBadRequest {
		t.Errorf("bad param: %d", s)
	}
	if s, msg := classify(dialect.ErrMethod); s != http.StatusMethodNotAllowed || msg == "" {
		t.Errorf("method: %d %q", s, msg)
	}
}

// classify is the table's answer to err: status and message.
func classify(err error) (int, string) {
	f := errorTable.Classify("", err)
	return f.Status, f.Message
}
