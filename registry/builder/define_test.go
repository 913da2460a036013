package builder

import (
	"errors"
	"testing"
)

// TestDefineBuildsAsItsPlugins: a "define" definition (the seed's save
// example) builds as what its plugins make, and is checked as that.
func TestDefineBuildsAsItsPlugins(t *testing.T) {
	pl := func(name, attr, value string) Plugin {
		return Plugin{Name: name, Attrs: map[string][]string{attr: {value}}}
	}
	cases := []struct {
		name    string
		plugins []Plugin
		want    string
		check   error
	}{
		{"no plugin (the seed's example)", nil, "", nil},
		{"a Dockerfile", []Plugin{pl("static_dockerfile", "dockerfile", "FROM scratch")}, TypeEdit, nil},
		{"a Dockerfile URL", []Plugin{pl("download_dockerfile", "url", "https://example.com/Dockerfile")}, TypeDownload, nil},
		{"a bad Dockerfile URL", []Plugin{pl("download_dockerfile", "url", "ftp://x")}, TypeDownload, ErrPluginParam},
		{"a base image", []Plugin{pl("base_image", "image", "base/tiny:1"), pl("workdir", "dir", "/app")}, TypeTool, nil},
		{"only a workdir", []Plugin{pl("workdir", "dir", "/app")}, "", nil},
	}
	for _, tc := range cases {
		p := Project{FileType: TypeDefine, Plugins: tc.plugins}
		if got := buildType(p); got != tc.want {
			t.Errorf("%s: builds as %q, want %q", tc.name, got, tc.want)
		}
		if err := checkPlugins(TypeDefine, tc.plugins); !errors.Is(err, tc.check) && err != tc.check {
			t.Errorf("%s: check %v, want %v", tc.name, err, tc.check)
		}
	}
	for _, typ := range []string{TypeEdit, TypeTool, TypeDownload, ""} {
		if got := buildType(Project{FileType: typ}); got != typ {
			t.Errorf("%q builds as %q", typ, got)
		}
	}
}
