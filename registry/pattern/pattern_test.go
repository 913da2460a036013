package pattern

import "testing"

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		glob, name string
		want       bool
	}{
		{"**", "a/b/c", true},
		{"", "anything", true},
		{"*", "app", true},
		{"*", "app/web", false},
		{"app/**", "app/web/x", true},
		{"app/*", "app/web", true},
		{"app/*", "other/web", false},
		{"v?", "v1", true},
		{"v?", "v10", false},
		{"release-*", "release-1.2", true},
		{"release-*", "rc-1", false},
		{"{latest,stable}", "stable", true},
		{"{latest,stable}", "dev", false},
		{"v1.{0,1}.*", "v1.1.3", true},
		{"a.b", "axb", false}, // dots are literal
	} {
		p, err := Compile(tc.glob)
		if err != nil {
			t.Fatalf("%q: %v", tc.glob, err)
		}
		if got := p.Match(tc.name); got != tc.want {
			t.Errorf("%q matching %q = %v, want %v", tc.glob, tc.name, got, tc.want)
		}
	}
	for _, bad := range []string{"{a,b", "a}", "[unclosed", "v[0-9]", "a b", "^v1$", "v1\x00", "é"} {
		if _, err := Compile(bad); err == nil {
			t.Errorf("%q compiled", bad)
		}
	}
}
