package bkrepo

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ext/dialect"
	"github.com/berth-registry/berth/registry/domain"
)

func TestBkRepoSplitRouteAndSegments(t *testing.T) {
	cases := []struct {
		rest, keyword string
		segs          []string
		wantErr       bool
	}{
		{"addr", "addr", nil, false},
		{"repo/p/r", "repo", []string{"p", "r"}, false},
		{"tag/p/r/library/nginx", "tag", []string{"p", "r", "library", "nginx"}, false},
		{"package/delete/p/r", "package/delete", []string{"p", "r"}, false},
		{"version/detail/p/r", "version/detail", []string{"p", "r"}, false},
		{"manifest/p/r/a%2Fb/v1", "manifest", nil, true},
		{"manifest/p/r/../v1", "manifest", nil, true},
		{"manifest/p/r/a%00/v1", "manifest", nil, true},
		{"manifest/p/r//v1", "manifest", nil, true},
		{"manifest/p/r/%zz/v1", "manifest", nil, true},
		{"repo/p/r/", "repo", nil, true},
	}
	for _, c := range cases {
		kw, segs, err := resolve(c.rest)
		if kw != c.keyword {
			t.Errorf("%s: keyword %q, want %q", c.rest, kw, c.keyword)
		}
		if (err != nil) != c.wantErr {
			t.Errorf("%s: err %v, want error %v", c.rest, err, c.wantErr)
		}
		if err == nil && fmt.Sprint(segs) != fmt.Sprint(c.segs) && c.segs != nil {
			t.Errorf("%s: segs %q, want %q", c.rest, segs, c.segs)
		}
		if err != nil && !errors.Is(err, errInvalid) {
			t.Errorf("%s: error kind %v", c.rest, err)
		}
	}
}

func TestBkRepoImageNames(t *testing.T) {
	cases := []struct {
		segs     []string
		full     string
		ref      string
		wantErr  bool
		restForm bool
	}{
		{[]string{"p", "r", "nginx", "v1"}, "p/r/nginx", "v1", false, false},
		{[]string{"p", "r", "library", "nginx", "sha256:abc"}, "p/r/library/nginx", "sha256:abc", false, false},
		{[]string{"P", "r", "nginx", "v1"}, "", "", true, false},
		{[]string{"p", "r", "Nginx", "v1"}, "", "", true, false},
		{[]string{"p", "r", "a", "b", "c"}, "p/r/a/b/c", "", false, true},
		{[]string{"p", "r", "a b"}, "", "", true, true},
	}
	for _, c := range cases {
		var im image
		var ref string
		var err error
		if c.restForm {
			im, err = imageRest(c.segs)
		} else {
			im, ref, err = imageRef(c.segs)
		}
		if (err != nil) != c.wantErr {
			t.Errorf("%q: err %v", c.segs, err)
			continue
		}
		if err == nil && (im.full() != c.full || ref != c.ref) {
			t.Errorf("%q: %q %q, want %q %q", c.segs, im.full(), ref, c.full, c.ref)
		}
		if err != nil && !errors.Is(err, domain.ErrInvalid) {
			t.Errorf("%q: error kind %v", c.segs, err)
		}
	}
}

func TestBkRepoPackageParams(t *testing.T) {
	cases := []struct {
		query   string
		version bool
		full    string
		kind    error
	}{
		{"packageKey=docker://nginx", false, "p/r/nginx", nil},
		{"packageKey=docker://library/nginx&version=v1", true, "p/r/library/nginx", nil},
		{"packageKey=nginx&version=v1", true, "p/r/nginx", nil},
		{"packageKey=DOCKER://nginx", false, "p/r/nginx", nil},
		{"", false, "", errMissing},
		{"packageKey=docker://nginx", true, "", errMissing},
		{"packageKey=maven://nginx", false, "", errInvalid},
		{"packageKey=docker://", false, "", errInvalid},
		{"packageKey=docker://a/../b", false, "", errInvalid},
		{"packageKey=docker://a%00b", false, "", errInvalid},
		{"packageKey=docker://nginx&version=-bad", true, "", domain.ErrInvalid},
		{"packageKey=docker://Nginx", false, "", domain.ErrInvalid},
	}
	for _, c := range cases {
		q, _ := url.ParseQuery(c.query)
		im, _, err := imagePackage("p", "r", q, c.version)
		if c.kind == nil {
			if err != nil || im.full() != c.full {
				t.Errorf("%s: %q %v, want %q", c.query, im.full(), err, c.full)
			}
			continue
		}
		if !errors.Is(err, c.kind) {
			t.Errorf("%s: err %v, want %v", c.query, err, c.kind)
		}
	}
}

func TestBkRepoPageParams(t *testing.T) {
	cases := []struct {
		query          string
		number, size   int
		offset, limit  int
		wantInvalidErr bool
	}{
		{"", 1, 20, 0, 20, false},
		{"pageNumber=0&pageSize=10", 1, 10, 0, 10, false},
		{"pageNumber=-3&pageSize=-1", 1, 20, 0, 20, false},
		{"pageNumber=3&pageSize=2", 3, 2, 4, 2, false},
		{"pageSize=5000", 1, domain.MaxPageSize, 0, domain.MaxPageSize, false},
		{"pageNumber=abc", 0, 0, 0, 0, true},
		{"pageNumber=99999999999999999999999", 0, 0, 0, 0, true},
		{"pageNumber=9223372036854775807&pageSize=1000", 0, 0, 0, 0, true},
	}
	for _, c := range cases {
		q, _ := url.ParseQuery(c.query)
		n, s, p, err := pageParams(q)
		if c.wantInvalidErr {
			if status, code := classify(err); status != 400 || code != CodeParamInvalid {
				t.Errorf("%s: %v → %d %d", c.query, err, status, code)
			}
			continue
		}
		if err != nil || n != c.number || s != c.size || p.Offset != c.offset || p.Limit != c.limit {
			t.Errorf("%s: %d %d %+v %v", c.query, n, s, p, err)
		}
	}
	if p := newPage(41, 1, 20, nil); p.TotalPages != 3 || p.ToatalRecords != 41 {
		t.Errorf("page: %+v", p)
	}
}

func TestBkRepoErrorTable(t *testing.T) {
	cases := []struct {
		err    error
		status int
		code   int
	}{
		{missing("packageKey"), http.StatusBadRequest, CodeParamMissing},
		{invalid("x"), http.StatusBadRequest, CodeParamInvalid},
		{&domain.Error{Kind: domain.ErrInvalid, Msg: "x"}, http.StatusBadRequest, CodeParamInvalid},
		{notFound("x"), http.StatusNotFound, CodeNotFound},
		{&domain.Error{Kind: domain.ErrNotFound, Msg: "x"}, http.StatusNotFound, CodeNotFound},
		{auth.ErrNotFound, http.StatusNotFound, CodeNotFound},
		{auth.ErrDenied, http.StatusForbidden, CodeDenied},
		{auth.ErrUnauthenticated, http.StatusUnauthorized, CodeUnauthenticated},
		{dialect.ErrMethod, http.StatusMethodNotAllowed, CodeParamInvalid},
		{errors.New("disk on fire"), http.StatusInternalServerError, CodeInternal},
	}
	for _, c := range cases {
		if s, code := classify(c.err); s != c.status || code != c.code {
			t.Errorf("%v: %d %d, want %d %d", c.err, s, code, c.status, c.code)
		}
	}
}

func TestBkRepoStages(t *testing.T) {
	cases := []struct {
		query    string
		stage    string
		explicit bool
		bad      bool
	}{
		{"", "", false, false},
		{"tag=@release", stageRelease, true, false},
		{"tag=prerelease", stagePrerelease, true, false},
		{"stage=@PRERELEASE", stagePrerelease, true, false},
		{"tag=", stageNone, true, false},
		{"tag=@gold", "", false, true},
	}
	for _, c := range cases {
		q, _ := url.ParseQuery(c.query)
		s, e, err := stageParam(q)
		if (err != nil) != c.bad || s != c.stage || e != c.explicit {
			t.Errorf("%s: %q %v %v", c.query, s, e, err)
		}
	}
	chain := []string{}
	for cur, err := "", error(nil); err == nil; cur, err = nextStage(cur) {
		chain = append(chain, cur)
	}
	if strings.Join(chain, ",") != ",@prerelease,@release" {
		t.Errorf("stage chain %q", chain)
	}
}

// classify is the table's answer to err: status and code.
func classify(err error) (int, int) {
	f := errorTable.Classify("", err)
	return f.Status, f.Code
}

// resolve routes /docker/ext/<rest> as the dialect does: the keyword of
// the route that serves it (its path before the variables) and the
// decoded segments after the keyword.
func resolve(rest string) (string, []string, error) {
	a := &api{}
	a.API = &dialect.API[int]{Name: "bkrepo", Prefix: Prefix, OwnPrefix: true, Routes: a.routes(), Segment: decodeSegment, NoRoute: badSegment}
	u, err := url.Parse(Prefix + rest)
	if err != nil {
		// net/http refuses such a request line before any handler; the
		// segment rule refuses the segment too.
		kw, _, _ := strings.Cut(rest, "/")
		for _, seg := range strings.Split(rest, "/") {
			if _, serr := decodeSegment(seg); serr != nil && strings.Contains(seg, "%") {
				return kw, nil, serr
			}
		}
		return kw, nil, err
	}
	rt, v, err := a.Resolve(&http.Request{Method: http.MethodGet, URL: u})
	if rt == nil {
		kw, _, _ := strings.Cut(rest, "/")
		return kw, nil, err
	}
	kw, _, _ := strings.Cut(rt.Path, "{")
	var segs []string
	for _, k := range []string{"project", "repo", "name", "ref"} {
		if v[k] != "" {
			segs = append(segs, strings.Split(v[k], "/")...)
		}
	}
	return strings.TrimSuffix(kw, "/"), segs, err
}

// imageRef reads {p}/{r}/{name...}/{ref} as the manifest and layer routes
// do.
func imageRef(segs []string) (image, string, error) {
	n := len(segs)
	im := image{project: segs[0], repo: segs[1], name: strings.Join(segs[2:n-1], "/")}
	return im, segs[n-1], im.validate()
}

// imageRest reads {p}/{r}/{name...} as the tag route does.
func imageRest(segs []string) (image, error) {
	im := image{project: segs[0], repo: segs[1], name: strings.Join(segs[2:], "/")}
	return im, im.validate()
}
