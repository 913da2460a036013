package charts

import (
	"encoding/json"
	"fmt"
	"path"
	"strings"
	"time"
	"unicode"

	"github.com/Masterminds/semver/v3"
	"github.com/berth-registry/berth/ext/dialect"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	"gopkg.in/yaml.v3"
)

// Maintainer is a Chart.yaml maintainer. Field names and JSON order are
// those of helm's config blob, so an uploaded chart's config is byte for
// byte what `helm push` writes.
type Maintainer struct {
	Name  string `yaml:"name" json:"name,omitempty"`
	Email string `yaml:"email" json:"email,omitempty"`
	URL   string `yaml:"url" json:"url,omitempty"`
}

// Dependency is a Chart.yaml dependency.
type Dependency struct {
	Name         string   `yaml:"name" json:"name"`
	Version      string   `yaml:"version" json:"version,omitempty"`
	Repository   string   `yaml:"repository" json:"repository"`
	Condition    string   `yaml:"condition" json:"condition,omitempty"`
	Tags         []string `yaml:"tags" json:"tags,omitempty"`
	Enabled      bool     `yaml:"enabled" json:"enabled,omitempty"`
	ImportValues []any    `yaml:"import-values" json:"import-values,omitempty"`
	Alias        string   `yaml:"alias" json:"alias,omitempty"`
}

// Metadata is Chart.yaml, in helm's config JSON field order.
type Metadata struct {
	Name         string            `yaml:"name" json:"name,omitempty"`
	Home         string            `yaml:"home" json:"home,omitempty"`
	Sources      []string          `yaml:"sources" json:"sources,omitempty"`
	Version      string            `yaml:"version" json:"version,omitempty"`
	Description  string            `yaml:"description" json:"description,omitempty"`
	Keywords     []string          `yaml:"keywords" json:"keywords,omitempty"`
	Maintainers  []*Maintainer     `yaml:"maintainers" json:"maintainers,omitempty"`
	Icon         string            `yaml:"icon" json:"icon,omitempty"`
	APIVersion   string            `yaml:"apiVersion" json:"apiVersion,omitempty"`
	Condition    string            `yaml:"condition" json:"condition,omitempty"`
	Tags         string            `yaml:"tags" json:"tags,omitempty"`
	AppVersion   string            `yaml:"appVersion" json:"appVersion,omitempty"`
	Deprecated   bool              `yaml:"deprecated" json:"deprecated,omitempty"`
	Annotations  map[string]string `yaml:"annotations" json:"annotations,omitempty"`
	KubeVersion  string            `yaml:"kubeVersion" json:"kubeVersion,omitempty"`
	Dependencies []*Dependency     `yaml:"dependencies" json:"dependencies,omitempty"`
	Type         string            `yaml:"type" json:"type,omitempty"`
}

// parseChartYAML reads and validates Chart.yaml as helm does: required
// apiVersion, name and SemVer version, printable strings.
func parseChartYAML(b []byte) (*Metadata, error) {
	var m Metadata
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, dialect.Invalidf("Chart.yaml is not valid YAML: %v", err)
	}
	for _, s := range []*string{&m.Name, &m.Description, &m.Home, &m.Icon, &m.Condition, &m.Tags, &m.AppVersion, &m.KubeVersion} {
		*s = sanitize(*s)
	}
	for i := range m.Sources {
		m.Sources[i] = sanitize(m.Sources[i])
	}
	for i := range m.Keywords {
		m.Keywords[i] = sanitize(m.Keywords[i])
	}
	for _, mt := range m.Maintainers {
		if mt == nil {
			return nil, dialect.Invalidf("Chart.yaml: maintainers must not contain empty entries")
		}
		mt.Name, mt.Email, mt.URL = sanitize(mt.Name), sanitize(mt.Email), sanitize(mt.URL)
	}
	for _, d := range m.Dependencies {
		if d == nil {
			return nil, dialect.Invalidf("Chart.yaml: dependencies must not contain empty entries")
		}
		d.Name, d.Version, d.Repository = sanitize(d.Name), sanitize(d.Version), sanitize(d.Repository)
		d.Condition, d.Alias = sanitize(d.Condition), sanitize(d.Alias)
	}
	switch {
	case m.APIVersion == "":
		return nil, dialect.Invalidf("Chart.yaml: apiVersion is required")
	case m.Name == "":
		return nil, dialect.Invalidf("Chart.yaml: name is required")
	case m.Name != path.Base(m.Name) || m.Name == "." || m.Name == ".." || strings.ContainsAny(m.Name, `/\`):
		return nil, dialect.Invalidf("Chart.yaml: name %q is not allowed", m.Name)
	case m.Version == "":
		return nil, dialect.Invalidf("Chart.yaml: version is required")
	case m.Type != "" && m.Type != "application" && m.Type != "library":
		return nil, dialect.Invalidf("Chart.yaml: type must be application or library")
	}
	if _, err := semver.NewVersion(m.Version); err != nil {
		return nil, dialect.Invalidf("Chart.yaml: version %q is not SemVer: %v", m.Version, err)
	}
	return &m, nil
}

// sanitize turns whitespace into spaces and drops unprintable characters,
// as helm does before it writes the config.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case unicode.IsSpace(r):
			return ' '
		case unicode.IsPrint(r):
			return r
		}
		return -1
	}, s)
}

// configJSON is the config blob `helm push` writes: Chart.yaml as JSON.
func (m *Metadata) configJSON() ([]byte, error) { return json.Marshal(m) }

// annotations are the manifest annotations `helm push` writes.
func (m *Metadata) annotations(created time.Time) map[string]string {
	out := map[string]string{}
	add := func(k, v string) {
		if strings.TrimSpace(v) != "" {
			out[k] = v
		}
	}
	add(v1.AnnotationDescription, m.Description)
	add(v1.AnnotationTitle, m.Name)
	add(v1.AnnotationVersion, m.Version)
	add(v1.AnnotationURL, m.Home)
	add(v1.AnnotationCreated, created.UTC().Format(time.RFC3339))
	if len(m.Sources) > 0 {
		add(v1.AnnotationSource, m.Sources[0])
	}
	if len(m.Maintainers) > 0 {
		var b strings.Builder
		for i, mt := range m.Maintainers {
			b.WriteString(mt.Name)
			if mt.Email != "" {
				fmt.Fprintf(&b, " (%s)", mt.Email)
			}
			if i < len(m.Maintainers)-1 {
				b.WriteString(", ")
			}
		}
		add(v1.AnnotationAuthors, b.String())
	}
	for k, v := range m.Annotations {
		if k != v1.AnnotationVersion && k != v1.AnnotationTitle {
			out[k] = v
		}
	}
	return out
}
