package imagebuild

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/berth-registry/berth/registry/builder"
	"github.com/berth-registry/berth/registry/domain"
)

// maxBody bounds a request body other than a file upload.
const maxBody = 4 << 20

// pluginKey names the plugin list among the parameters.
const pluginKey = "$$plugin"

// params are a request's parameters from the query string, a form body
// (urlencoded or multipart) or a JSON body, merged; JSON $$plugin objects
// ({"name": "env", "attrs": {"key": ["A"]}}) are kept as plugins.
type params struct {
	v       url.Values
	plugins []builder.Plugin
}

func (p params) get(keys ...string) string {
	for _, k := range keys {
		if s := strings.TrimSpace(p.v.Get(k)); s != "" {
			return s
		}
	}
	return ""
}

// parseParams reads every parameter of r.
func parseParams(w http.ResponseWriter, r *http.Request) (params, error) {
	p := params{v: url.Values{}}
	for k, vs := range r.URL.Query() {
		p.v[k] = append(p.v[k], vs...)
	}
	if r.Body == nil || r.Method == http.MethodGet || r.Method == http.MethodHead {
		return p, nil
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "multipart/form-data":
		return p, nil // uploads read their own parts
	case "application/x-www-form-urlencoded":
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		if err := r.ParseForm(); err != nil {
			return p, invalid("malformed form body: %v", err)
		}
		for k, vs := range r.PostForm {
			p.v[k] = append(p.v[k], vs...)
		}
		return p, nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		return p, invalid("request body: %v", err)
	}
	if strings.TrimSpace(string(body)) == "" {
		return p, nil
	}
	var obj map[string]any
	if err := json.Unmarshal(body, &obj); err != nil {
		// The seed's own examples (see lenient.go).
		if relaxed, ok := relaxedObject(string(body)); ok {
			obj = relaxed
		} else if form, ok := lenientForm(string(body)); ok {
			for k, vs := range form {
				p.v[k] = append(p.v[k], vs...)
			}
			return p, nil
		} else {
			return p, invalid("the body is neither a JSON object nor a form: %v", err)
		}
	}
	for k, v := range obj {
		if err := p.addJSON(k, v); err != nil {
			return p, err
		}
	}
	return p, nil
}

func (p *params) addJSON(k string, v any) error {
	switch x := v.(type) {
	case nil:
	case []any:
		for _, e := range x {
			if m, ok := e.(map[string]any); ok && k == pluginKey {
				pl, err := pluginObject(m)
				if err != nil {
					return err
				}
				if pl.Name != "" {
					p.plugins = append(p.plugins, pl)
				}
				continue
			}
			if err := p.addJSON(k, e); err != nil {
				return err
			}
		}
	case map[string]any:
		if len(x) == 0 {
			return nil // {} sets nothing (the seed's "$$plugin":[{}])
		}
		if k != pluginKey {
			return invalid("%s must be a string or a list, not an object", k)
		}
		return p.addJSON(k, []any{x})
	default:
		p.v.Add(k, scalar(x))
	}
	return nil
}

func scalar(v any) string {
	if f, ok := v.(float64); ok {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// pluginObject reads {"name": ..., "attrs": {attr: value | [values]}}.
func pluginObject(m map[string]any) (builder.Plugin, error) {
	name, _ := m["name"].(string)
	if name == "" {
		name, _ = m["plugin"].(string)
	}
	if name == "" && len(m) == 0 {
		return builder.Plugin{}, nil // the seed's "$$plugin":[{}]: no plugin
	}
	if name == "" {
		return builder.Plugin{}, invalid("every %s object needs a name", pluginKey)
	}
	pl := builder.Plugin{Name: name, Attrs: map[string][]string{}}
	for _, key := range []string{"attrs", "attributes", "params"} {
		attrs, _ := m[key].(map[string]any)
		for a, v := range attrs {
			switch x := v.(type) {
			case []any:
				for _, e := range x {
					pl.Attrs[a] = append(pl.Attrs[a], scalar(e))
				}
			case nil:
			default:
				pl.Attrs[a] = append(pl.Attrs[a], scalar(x))
			}
		}
	}
	return pl, nil
}

// definitionPlugins assembles the plugins of a save: $$plugin lists them
// (repeated, comma-separated, or JSON objects) and <plugin>.<attr> fields
// carry their settings, a repeated field becoming a list.
func (p params) definitionPlugins() ([]builder.Plugin, error) {
	out := append([]builder.Plugin{}, p.plugins...)
	index := map[string]int{}
	for i, pl := range out {
		index[pl.Name] = i
	}
	for _, key := range []string{pluginKey, pluginKey + "[]"} {
		for _, v := range p.v[key] {
			for _, name := range strings.Split(v, ",") {
				if name = strings.TrimSpace(name); name == "" {
					continue
				}
				if _, ok := index[name]; !ok {
					index[name] = len(out)
					out = append(out, builder.Plugin{Name: name, Attrs: map[string][]string{}})
				}
			}
		}
	}
	keys := make([]string, 0, len(p.v))
	for k := range p.v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		plugin, a, ok := strings.Cut(strings.TrimSuffix(k, "[]"), ".")
		if !ok || strings.HasPrefix(k, "$$") {
			continue
		}
		i, listed := index[plugin]
		if !listed {
			return nil, invalid("%s sets plugin %q, which %s does not list", k, plugin, pluginKey)
		}
		out[i].Attrs[a] = append(out[i].Attrs[a], p.v[k]...)
	}
	return out, nil
}

// defaultPageSize is list's page_size when none is given ("默认为10").
const defaultPageSize = 10

// page reads page and page_size: page from 1 (<= 0 means 1), size
// default 10.
func (p params) page() (int, int, domain.Page, error) {
	num, size := 1, defaultPageSize
	if s := p.get("page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return 0, 0, domain.Page{}, invalid("page must be a number, not %q", s)
		}
		num = max(n, 1)
	}
	if s := p.get("page_size", "pageSize"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return 0, 0, domain.Page{}, invalid("page_size must be a number, not %q", s)
		}
		if n > 0 {
			size = n
		}
	}
	pg, err := domain.PageFromNumber(num, size)
	return num, size, pg, err
}
