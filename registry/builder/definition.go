package builder

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"
)

// Plugins a definition may list, with the attributes each understands.
// The instruction plugins of a "tool" definition render, in $$plugin order
// after the base image, one Dockerfile instruction each.
var definitionPlugins = map[string][]string{
	"base_image":                    {"image"},
	"base_image_choose_from_harbor": {"image"},
	"maintainer":                    {"name"},
	"env":                           {"key", "value", "env"},
	"expose":                        {"port"},
	"copy":                          {"src", "dest", "chown", "chmod"},
	"run":                           {"command"},
	"workdir":                       {"dir"},
	"entrypoint":                    {"command", "shell"},
	"cmd":                           {"command", "shell"},
	"static_dockerfile":             {"dockerfile"},
	"download_dockerfile":           {"url"},
	"source_archive":                {"url"},
}

// Plugin names with a role of their own.
const (
	pluginStatic   = "static_dockerfile"
	pluginDownload = "download_dockerfile"
	pluginArchive  = "source_archive"
)

// maxDockerfileBytes bounds a Dockerfile, hand-written or downloaded.
const maxDockerfileBytes = 1 << 20

func attr(p Plugin, name string) string {
	if v := p.Attrs[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// checkPlugins validates the plugins of a definition of type typ.
func checkPlugins(typ string, plugins []Plugin) error {
	seen := map[string]Plugin{}
	for _, p := range plugins {
		known, ok := definitionPlugins[p.Name]
		if !ok {
			return errorf(ErrPluginMissing, "plugin %q does not exist", p.Name)
		}
		if _, dup := seen[p.Name]; dup {
			return errorf(ErrInvalid, "plugin %q is listed twice", p.Name)
		}
		seen[p.Name] = p
		for a, vals := range p.Attrs {
			if !contains(known, a) {
				return errorf(ErrPluginParam, "plugin %s has no attribute %q (known: %s)", p.Name, a, strings.Join(known, ", "))
			}
			for _, v := range vals {
				if a != "dockerfile" && strings.ContainsAny(v, "\r\n") {
					return errorf(ErrPluginParam, "%s.%s must be one line", p.Name, a)
				}
			}
		}
	}
	if typ == TypeDefine { // checked as what it builds as
		typ = buildType(Project{FileType: typ, Plugins: plugins})
	}
	need := func(plugin, a string) error {
		if attr(seen[plugin], a) == "" {
			return errorf(ErrPluginParam, "a %s definition needs %s.%s", typ, plugin, a)
		}
		return nil
	}
	switch typ {
	case TypeEdit:
		if err := need(pluginStatic, "dockerfile"); err != nil {
			return err
		}
		if len(attr(seen[pluginStatic], "dockerfile")) > maxDockerfileBytes {
			return errorf(ErrPluginParam, "%s.dockerfile is over %d bytes", pluginStatic, maxDockerfileBytes)
		}
	case TypeDownload:
		if err := need(pluginDownload, "url"); err != nil {
			return err
		}
		if err := checkURL(attr(seen[pluginDownload], "url")); err != nil {
			return err
		}
	case TypeTool:
		if attr(seen["base_image"], "image") == "" && attr(seen["base_image_choose_from_harbor"], "image") == "" {
			return errorf(ErrPluginParam, "a tool definition needs a base image: base_image.image")
		}
	}
	if u := attr(seen[pluginArchive], "url"); u != "" {
		return checkURL(u)
	}
	return nil
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errorf(ErrPluginParam, "%q is not an http(s) URL", s)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// buildType is the file type a definition builds as: its own, or for a
// "define" definition the one its plugins make (a Dockerfile, a Dockerfile
// URL, else instruction plugins with a base image); "" when there is
// nothing to build yet.
func buildType(p Project) string {
	if p.FileType != TypeDefine {
		return p.FileType
	}
	byName := map[string]Plugin{}
	for _, pl := range p.Plugins {
		byName[pl.Name] = pl
	}
	switch {
	case attr(byName[pluginStatic], "dockerfile") != "":
		return TypeEdit
	case attr(byName[pluginDownload], "url") != "":
		return TypeDownload
	case attr(byName["base_image"], "image") != "" || attr(byName["base_image_choose_from_harbor"], "image") != "":
		return TypeTool
	}
	return ""
}

// dockerfile returns the Dockerfile of a definition: the hand-written one,
// the downloaded one, or one rendered from the instruction plugins.
func (s *Service) dockerfile(ctx context.Context, p Project) (string, error) {
	byName := map[string]Plugin{}
	for _, pl := range p.Plugins {
		byName[pl.Name] = pl
	}
	switch buildType(p) {
	case TypeEdit:
		return attr(byName[pluginStatic], "dockerfile"), nil
	case TypeDownload:
		body, err := s.fetch.get(ctx, attr(byName[pluginDownload], "url"), maxDockerfileBytes)
		if err != nil {
			return "", err
		}
		defer body.Close()
		b, err := io.ReadAll(body)
		return string(b), err
	case TypeTool:
		return renderTool(p.Plugins)
	}
	return "", errorf(ErrInvalid, "project %s has no build definition yet: save one first", p.Name)
}

// renderTool renders the instruction plugins as a Dockerfile.
func renderTool(plugins []Plugin) (string, error) {
	var b strings.Builder
	for _, name := range []string{"base_image", "base_image_choose_from_harbor"} {
		for _, p := range plugins {
			if p.Name == name && attr(p, "image") != "" && b.Len() == 0 {
				fmt.Fprintf(&b, "FROM %s\n", attr(p, "image"))
			}
		}
	}
	for _, p := range plugins {
		switch p.Name {
		case "maintainer":
			fmt.Fprintf(&b, "MAINTAINER %s\n", attr(p, "name"))
		case "env":
			keys, vals := p.Attrs["key"], p.Attrs["value"]
			if len(keys) != len(vals) {
				return "", errorf(ErrPluginParam, "env.key and env.value must pair up (%d keys, %d values)", len(keys), len(vals))
			}
			for _, kv := range p.Attrs["env"] {
				k, v, _ := strings.Cut(kv, "=")
				keys, vals = append(keys, k), append(vals, v)
			}
			for i, k := range keys {
				fmt.Fprintf(&b, "ENV %s=%s\n", k, quote(vals[i]))
			}
		case "expose":
			for _, port := range p.Attrs["port"] {
				fmt.Fprintf(&b, "EXPOSE %s\n", port)
			}
		case "copy":
			srcs, dests := p.Attrs["src"], p.Attrs["dest"]
			if len(dests) == 1 && len(srcs) > 1 {
				dests = append([]string{}, srcs...)
				for i := range dests {
					dests[i] = p.Attrs["dest"][0]
				}
			}
			if len(srcs) == 0 || len(srcs) != len(dests) {
				return "", errorf(ErrPluginParam, "copy.src and copy.dest must pair up (%d sources, %d destinations)", len(srcs), len(dests))
			}
			flags := ""
			if c := attr(p, "chown"); c != "" {
				flags += "--chown=" + c + " "
			}
			if c := attr(p, "chmod"); c != "" {
				flags += "--chmod=" + c + " "
			}
			for i := range srcs {
				fmt.Fprintf(&b, "COPY %s%s\n", flags, jsonArray(srcs[i], dests[i]))
			}
		case "run":
			for _, c := range p.Attrs["command"] {
				fmt.Fprintf(&b, "RUN %s\n", c)
			}
		case "workdir":
			fmt.Fprintf(&b, "WORKDIR %s\n", attr(p, "dir"))
		case "entrypoint", "cmd":
			instr := strings.ToUpper(p.Name)
			if sh := attr(p, "shell"); sh != "" {
				fmt.Fprintf(&b, "%s %s\n", instr, sh)
			} else if len(p.Attrs["command"]) > 0 {
				fmt.Fprintf(&b, "%s %s\n", instr, jsonArray(p.Attrs["command"]...))
			}
		}
	}
	return b.String(), nil
}

// quote renders an ENV value in double quotes, escaping what the
// Dockerfile lexer would otherwise interpret.
func quote(v string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `$`, `\$`)
	return `"` + r.Replace(v) + `"`
}

func jsonArray(items ...string) string {
	b, _ := json.Marshal(items)
	return string(b)
}
