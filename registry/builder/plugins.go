package builder

import (
	"context"
	"io"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/berth-registry/berth/registry/domain"
)

// Caller is who calls a plugin method: the projects they may see (nil:
// all) and the host images are named with.
type Caller struct {
	VisibleProjects []int64
	Host            string
}

// pluginMethod is one method of the plugin extension interface.
type pluginMethod struct {
	params []string // accepted parameters
	call   func(ctx context.Context, s *Service, c Caller, params url.Values) (any, error)
}

// pluginMethods is the registry of plugins and their methods.
var pluginMethods = map[string]map[string]pluginMethod{
	"base_image_choose_from_harbor": {
		"BaseImageList": {params: []string{"name", "limit"}, call: baseImageList},
	},
	pluginDownload: {
		"Preview": {params: []string{"url"}, call: previewDockerfile},
	},
}

// Plugins lists the plugins a definition may use and those with methods.
func Plugins() (definition []string, callable map[string][]string) {
	for p := range definitionPlugins {
		definition = append(definition, p)
	}
	sort.Strings(definition)
	callable = map[string][]string{}
	for p, ms := range pluginMethods {
		for m := range ms {
			callable[p] = append(callable[p], m)
		}
		sort.Strings(callable[p])
	}
	return definition, callable
}

// CallPlugin calls plugin.method with params.
func (s *Service) CallPlugin(ctx context.Context, plugin, method string, params url.Values, c Caller) (any, error) {
	methods, ok := pluginMethods[plugin]
	if !ok {
		return nil, errorf(ErrPluginMissing, "plugin %q does not exist", plugin)
	}
	m, ok := methods[method]
	if !ok {
		names := make([]string, 0, len(methods))
		for n := range methods {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, errorf(ErrPluginParam, "plugin %s has no method %q (methods: %s)", plugin, method, strings.Join(names, ", "))
	}
	for k := range params {
		if !contains(m.params, k) {
			return nil, errorf(ErrPluginParam, "%s.%s takes no parameter %q (parameters: %s)", plugin, method, k, strings.Join(m.params, ", "))
		}
	}
	out, err := m.call(ctx, s, c, params)
	if err != nil && !isKind(err) {
		err = errorf(ErrPluginCall, "%s.%s: %v", plugin, method, err)
	}
	return out, err
}

// baseImageList lists host/project/repo:tag for every tag of every
// repository in the projects whose name contains "base" that the caller
// may see; name filters repositories by substring; limit caps the list.
func baseImageList(ctx context.Context, s *Service, c Caller, params url.Values) (any, error) {
	limit := 1000
	if v := params.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return nil, errorf(ErrPluginParam, "limit must be between 1 and 1000, not %q", v)
		}
		limit = n
	}
	projects, _, err := s.dom.ListProjects(ctx, domain.ProjectFilter{IDs: c.VisibleProjects}, domain.Query{Filter: "base"})
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, p := range projects {
		repos, _, err := s.dom.ListRepositories(ctx, domain.RepoFilter{ProjectID: p.ID}, domain.Query{Filter: params.Get("name")})
		if err != nil {
			return nil, err
		}
		for _, r := range repos {
			tags, _, err := s.dom.Repo(r).Tags(ctx, domain.Query{})
			if err != nil {
				return nil, err
			}
			for _, t := range tags {
				if len(out) == limit {
					return out, nil
				}
				out = append(out, c.Host+"/"+r.Name+":"+t.Name)
			}
		}
	}
	return out, nil
}

// previewDockerfile downloads a Dockerfile as a download definition would.
func previewDockerfile(ctx context.Context, s *Service, _ Caller, params url.Values) (any, error) {
	u := params.Get("url")
	if err := checkURL(u); err != nil {
		return nil, err
	}
	body, err := s.fetch.get(ctx, u, maxDockerfileBytes)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	b, err := io.ReadAll(body)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}
