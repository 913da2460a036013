package domain

import (
	"errors"
	"strings"
	"testing"
)

func TestPagination(t *testing.T) {
	cases := []struct {
		name          string
		fromNumber    bool
		a, b          int
		offset, limit int
		wantInvalid   bool
	}{
		{"offset ok", false, 0, 50, 0, 50, false},
		{"offset deep", false, 100000, 1000, 100000, 1000, false},
		{"negative offset", false, -1, 10, 0, 0, true},
		{"zero limit", false, 0, 0, 0, 0, true},
		{"huge limit", false, 0, 1001, 0, 0, true},
		{"huge offset", false, 1 << 50, 10, 0, 0, true},
		{"page 1", true, 1, 20, 0, 20, false},
		{"page 3", true, 3, 20, 40, 20, false},
		{"page 0", true, 0, 20, 0, 0, true},
		{"negative page", true, -5, 20, 0, 0, true},
		{"negative size", true, 1, -1, 0, 0, true},
		{"overflowing page", true, 1 << 40, 1000, 0, 0, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var p Page
			var err error
			if c.fromNumber {
				p, err = PageFromNumber(c.a, c.b)
			} else {
				p, err = PageFromOffset(c.a, c.b)
			}
			if c.wantInvalid {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("want ErrInvalid, got %v (%+v)", err, p)
				}
				return
			}
			if err != nil || p.Offset != c.offset || p.Limit != c.limit {
				t.Fatalf("got %+v, %v; want offset %d limit %d", p, err, c.offset, c.limit)
			}
		})
	}
}

func TestSortBy(t *testing.T) {
	if s, err := SortBy("", true, "name", "push_time"); err != nil || s.By != "name" || !s.Desc {
		t.Errorf("default: %+v %v", s, err)
	}
	if s, err := SortBy("push_time", false, "name", "push_time"); err != nil || s.By != "push_time" {
		t.Errorf("push_time: %+v %v", s, err)
	}
	if _, err := SortBy("size; DROP TABLE tags", false, "name", "push_time"); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown column accepted: %v", err)
	}
}

func TestNames(t *testing.T) {
	long := "p/" + strings.Repeat("a", 254)
	cases := []struct {
		name, repo string
		ok         bool
	}{
		{"simple", "library/nginx", true},
		{"deep", "team/a/b/c", true},
		{"separators", "team/a.b_c-d__e", true},
		{"single component", "nginx", false},
		{"dot dot", "library/../etc", false},
		{"nul", "library/a\x00b", false},
		{"uppercase", "Library/nginx", false},
		{"too long", long, false},
		{"empty", "", false},
		{"trailing slash", "library/", false},
		{"double slash", "library//x", false},
		{"encoded slash", "library%2Fx", false},
		{"space", "library/a b", false},
	}
	for _, c := range cases {
		err := ValidateRepositoryName(c.repo)
		if c.ok != (err == nil) {
			t.Errorf("%s: ValidateRepositoryName(%q) = %v", c.name, c.repo, err)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: error kind %v", c.name, err)
		}
	}
	for name, ok := range map[string]bool{"library": true, "team-a": true, "a.b": true, "A": false, "a/b": false, "-a": false, "a..b": false, "": false} {
		if err := ValidateProjectName(name); ok != (err == nil) {
			t.Errorf("ValidateProjectName(%q) = %v", name, err)
		}
	}
	for tag, ok := range map[string]bool{"v1.0": true, "latest": true, "_x": true, ".x": false, "-x": false, strings.Repeat("a", 129): false, "a/b": false} {
		if err := ValidateTag(tag); ok != (err == nil) {
			t.Errorf("ValidateTag(%q) = %v", tag, err)
		}
	}
	if _, err := ParseDigest("sha256:abc"); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad digest accepted: %v", err)
	}
}
