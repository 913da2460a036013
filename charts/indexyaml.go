package charts

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/berth-registry/berth/registry/domain"
)

// maxCachedIndexes bounds the index.yaml cache (projects × public URLs).
const maxCachedIndexes = 512

type cacheKey struct {
	project int64
	base    string
}

// cachedIndex is a rendered index.yaml and the chart generation it shows.
type cachedIndex struct {
	generation int64
	body       []byte
	etag       string
}

// indexFile returns the project's index.yaml with URLs under base. It is
// rendered once per chart generation of the project: the generation lives
// in the database, so a change made through any replica invalidates every
// replica's copy on their next request.
func (s *Service) indexFile(ctx context.Context, projectID int64, project, base string) (*cachedIndex, error) {
	gen, err := s.dom.ChartGeneration(ctx, projectID)
	if err != nil {
		return nil, err
	}
	key := cacheKey{projectID, base}
	s.mu.Lock()
	c := s.cache[key]
	s.mu.Unlock()
	if c != nil && c.generation == gen {
		return c, nil
	}
	v, err, _ := s.group.Do(fmt.Sprintf("%d/%d/%s", projectID, gen, base), func() (any, error) {
		body, err := s.renderIndex(ctx, projectID, project, base)
		if err != nil {
			return nil, err
		}
		c := &cachedIndex{generation: gen, body: body, etag: strconv.Quote(fmt.Sprintf("%d-%d", projectID, gen))}
		s.mu.Lock()
		if len(s.cache) >= maxCachedIndexes {
			for k := range s.cache { // evict one at random
				delete(s.cache, k)
				break
			}
		}
		if old := s.cache[key]; old == nil || old.generation <= gen {
			s.cache[key] = c
		}
		s.mu.Unlock()
		return c, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*cachedIndex), nil
}

// renderIndex writes a Helm repository index (apiVersion v1): entries per
// chart name, versions newest SemVer first, each entry Chart.yaml plus
// urls, created and digest (sha256 of the .tgz).
func (s *Service) renderIndex(ctx context.Context, projectID int64, project, base string) ([]byte, error) {
	vs, err := s.dom.ChartVersions(ctx, domain.ChartFilter{ProjectID: projectID}, true)
	if err != nil {
		return nil, err
	}
	return renderIndex(vs, project, base, time.Now())
}

// renderIndex writes the index as block YAML whose entries are JSON flow
// mappings (JSON is YAML): helm reads it like any index.yaml, and 10,000
// versions render in a fraction of what a generic YAML encoder takes.
func renderIndex(vs []domain.ChartVersion, project, base string, now time.Time) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(vs) * 700)
	buf.WriteString("apiVersion: v1\nentries:")
	if len(vs) == 0 {
		buf.WriteString(" {}")
	}
	buf.WriteByte('\n')
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for i := 0; i < len(vs); {
		j := i
		for j < len(vs) && vs[j].Name == vs[i].Name {
			j++
		}
		group := vs[i:j]
		sortVersions(group)
		buf.WriteString("  ")
		if err := enc.Encode(vs[i].Name); err != nil { // a quoted key, then a newline
			return nil, err
		}
		buf.Truncate(buf.Len() - 1)
		buf.WriteString(":\n")
		for _, v := range group {
			buf.WriteString("  - ")
			if spliceEntry(&buf, v, project, base) {
				continue
			}
			entry, err := indexEntry(v, project, base)
			if err != nil {
				return nil, err
			}
			if err := enc.Encode(entry); err != nil {
				return nil, err
			}
		}
		i = j
	}
	fmt.Fprintf(&buf, "generated: %q\n", now.UTC().Format(time.RFC3339Nano))
	return buf.Bytes(), nil
}

// spliceEntry appends berth's fields to the stored Chart.yaml JSON without
// decoding it, when it is a plain object that holds none of them (it never
// does when helm wrote it); otherwise it writes nothing and reports false.
func spliceEntry(buf *bytes.Buffer, v domain.ChartVersion, project, base string) bool {
	m := bytes.TrimSpace(v.Metadata)
	// Re-encode what is not a plain object, and \/ (an escape YAML 1.1 lacks).
	if len(m) < 2 || m[0] != '{' || m[len(m)-1] != '}' || bytes.Contains(m, []byte(`\/`)) {
		return false
	}
	for _, k := range []string{`"created"`, `"digest"`, `"urls"`, `"removed"`} {
		if bytes.Contains(m, []byte(k)) {
			return false
		}
	}
	buf.Write(m[:len(m)-1])
	if len(m) > 2 {
		buf.WriteByte(',')
	}
	url, _ := json.Marshal(chartURL(base, project, v.Name, v.Version))
	fmt.Fprintf(buf, `"created":"%s","digest":"%s","urls":[%s]}`+"\n", v.Created.UTC().Format(time.RFC3339Nano), trimAlgo(v.ChartDigest), url)
	return true
}

// indexEntry is one version's entry: its Chart.yaml fields, then berth's
// urls, created and digest.
func indexEntry(v domain.ChartVersion, project, base string) (map[string]any, error) {
	var meta map[string]json.RawMessage
	if err := json.Unmarshal(v.Metadata, &meta); err != nil {
		return nil, fmt.Errorf("charts: metadata of %s %s: %w", v.Name, v.Version, err)
	}
	out := make(map[string]any, len(meta)+3)
	for k, val := range meta {
		out[k] = val
	}
	delete(out, "removed")
	out["created"] = v.Created.UTC().Format(time.RFC3339Nano)
	out["digest"] = trimAlgo(v.ChartDigest)
	out["urls"] = []string{chartURL(base, project, v.Name, v.Version)}
	return out, nil
}

// trimAlgo drops "sha256:": index.yaml digests are bare hex.
func trimAlgo(d string) string {
	if len(d) > 7 && d[:7] == "sha256:" {
		return d[7:]
	}
	return d
}

// chartURL is where a version's .tgz is downloaded.
func chartURL(base, project, name, version string) string {
	return base + "/chartrepo/" + project + "/charts/" + name + "-" + version + ".tgz"
}
