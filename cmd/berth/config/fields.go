package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"gopkg.in/yaml.v3"
)

// field is one settable leaf of the configuration.
type field struct {
	key string // dotted YAML path, e.g. storage.s3.accessKey
	env string // BERTH_STORAGE_S3_ACCESS_KEY
	val reflect.Value
}

// fields lists every leaf setting of v (a pointer to a struct).
func fields(v any) []field {
	var out []field
	var walk func(rv reflect.Value, prefix string)
	walk = func(rv reflect.Value, prefix string) {
		rt := rv.Type()
		for i := range rt.NumField() {
			sf := rt.Field(i)
			name, opts, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
			if name == "-" || !sf.IsExported() {
				continue
			}
			fv := rv.Field(i)
			if opts == "inline" {
				walk(fv, prefix)
				continue
			}
			key := name
			if prefix != "" {
				key = prefix + "." + name
			}
			if fv.Kind() == reflect.Struct && fv.Type() != reflect.TypeFor[time.Duration]() {
				walk(fv, key)
				continue
			}
			out = append(out, field{key: key, env: envName(key), val: fv})
		}
	}
	walk(reflect.ValueOf(v).Elem(), "")
	return out
}

// envName turns storage.s3.accessKey into BERTH_STORAGE_S3_ACCESS_KEY.
func envName(key string) string {
	var b strings.Builder
	b.WriteString(EnvPrefix)
	for i, part := range strings.Split(key, ".") {
		if i > 0 {
			b.WriteByte('_')
		}
		for j, r := range part {
			if j > 0 && unicode.IsUpper(r) {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToUpper(r))
		}
	}
	return b.String()
}

// set parses s into the field's type.
func (f field) set(s string) error {
	switch f.val.Interface().(type) {
	case string:
		f.val.SetString(s)
	case bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%q is not a boolean (true or false)", s)
		}
		f.val.SetBool(b)
	case time.Duration:
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%q is not a duration (like 30s or 5m)", s)
		}
		f.val.SetInt(int64(d))
	case int, int64:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil || f.val.OverflowInt(n) {
			return fmt.Errorf("%q is not an integer", s)
		}
		f.val.SetInt(n)
	default:
		return fmt.Errorf("unsupported setting type %s", f.val.Type())
	}
	return nil
}

func applyEnv(env map[string]string, cfg *Config) error {
	byEnv := map[string]field{}
	for _, f := range fields(cfg) {
		byEnv[f.env] = f
	}
	names := make([]string, 0, len(env))
	for k := range env {
		names = append(names, k)
	}
	sort.Strings(names)
	var errs []error
	for _, name := range names {
		f, ok := byEnv[name]
		if !ok {
			errs = append(errs, fmt.Errorf("environment: unknown setting %s", name))
			continue
		}
		if err := f.set(env[name]); err != nil {
			errs = append(errs, fmt.Errorf("environment %s (%s): %w", name, f.key, err))
		}
	}
	return errors.Join(errs...)
}

// decodeYAML walks the document itself rather than trusting yaml's decoder,
// so every unknown key and bad value is reported with its full key path.
func decodeYAML(data []byte, cfg *Config) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return err
	}
	if len(doc.Content) == 0 {
		return nil // empty file: defaults
	}
	byKey := map[string]field{}
	for _, f := range fields(cfg) {
		byKey[f.key] = f
	}
	var errs []error
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
		}
		if n.Kind != yaml.MappingNode {
			where := prefix
			if where == "" {
				where = "top level"
			}
			errs = append(errs, fmt.Errorf("line %d: %s: expected a mapping of keys", n.Line, where))
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			key := k.Value
			if prefix != "" {
				key = prefix + "." + k.Value
			}
			if f, ok := byKey[key]; ok {
				if v.Kind != yaml.ScalarNode {
					errs = append(errs, fmt.Errorf("line %d: %s: expected a single value", v.Line, key))
				} else if v.Tag != "!!null" {
					if err := f.set(v.Value); err != nil {
						errs = append(errs, fmt.Errorf("line %d: %s: %w", v.Line, key, err))
					}
				}
				continue
			}
			if hasPrefix(byKey, key+".") {
				walk(v, key)
				continue
			}
			errs = append(errs, fmt.Errorf("line %d: unknown key %q", k.Line, key))
		}
	}
	walk(doc.Content[0], "")
	return errors.Join(errs...)
}

func hasPrefix(m map[string]field, p string) bool {
	for k := range m {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// ParseLevel reads a log level name.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("must be debug, info, warn or error, not %q", s)
	}
	return l, nil
}

func splitHostPort(addr string) (string, string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", "", err
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil && port != "" {
		return "", "", fmt.Errorf("bad port %q", port)
	}
	return host, port, nil
}

// Reference lists every setting with its environment variable and current
// value (secrets masked), for `berth config` and the README.
func Reference(cfg *Config) []string {
	var out []string
	for _, f := range fields(cfg) {
		v := fmt.Sprint(f.val.Interface())
		if isSecret(f.key) && v != "" {
			v = "********"
		}
		if u, err := url.Parse(v); err == nil && u.User != nil {
			v = u.Redacted() // a database URL's password
		}
		out = append(out, fmt.Sprintf("%-40s %-45s %s", f.key, f.env, v))
	}
	return out
}

func isSecret(key string) bool {
	k := strings.ToLower(key)
	return strings.Contains(k, "secret") || strings.Contains(k, "password") || strings.Contains(k, "signingkey")
}
