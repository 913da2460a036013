package builder

import (
	"errors"
	"testing"

	"github.com/berth-registry/berth/storage/metadata"
)

// TestDefineBuildsAsItsPlugins: a "define" definition (the seed's save
// example) builds as what its plugins make, and is checked as that.
func TestDefineBuildsAsItsPlugins(t *testing.T) {
	pl := func(name, attr, value string) metadata.BuildPlugin {
		return metadata.BuildPlugin{Name: name, Attrs: map[string][]string{attr: {value}}}
	}
	cases := []struct {
		name    string
		plugins []metadata.BuildPlugin
		want    string
		check   error
	}{
		{"no plugin (the seed's example)", nil, "", nil},
		{"a Dockerfile", []metadata.BuildPlugin{pl("static_dockerfile", "dockerfile", "FROM scratch")}, TypeEdit, nil},
		{"a Dockerfile URL", []metadata.BuildPlugin{pl("download_dockerfile", "url", "https://example.com/Dockerfile")}, TypeDownload, nil},
		{"a bad Dockerfile URL", []metadata.BuildPlugin{pl("download_dockerfile", "url", "ftp://x")}, TypeDownload, ErrPluginParam},
		{"a base image", []metadata.BuildPlugin{pl("base_image", "image", "base/tiny:1"), pl("workdir", "dir", "/app")}, TypeTool, nil},
		{"only a workdir", []metadata.BuildPlugin{pl("workdir", "dir", "/app")}, "", nil},
	}
	for _, tc := range cases {
		p := metadata.BuildProject{FileType: TypeDefine, Plugins: tc.plugins}
		if got := buildType(p); got != tc.want {
			t.Errorf("%s: builds as %q, want %q", tc.name, got, tc.want)
		}
		if err := checkPlugins(TypeDefine, tc.plugins); !errors.Is(err, tc.check) && err != tc.check {
			t.Errorf("%s: check %v, want %v", tc.name, err, tc.check)
		}
	}
	for _, typ := range []string{TypeEdit, TypeTool, TypeDownload, ""} {
		if got := buildType(metadata.BuildProject{FileType: typ}); got != typ {
			t.Errorf("%q builds as %q", typ, got)
		}
	}
}
