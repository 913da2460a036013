package charts

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/berth-registry/berth/storage/metadata"
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
	vs, err := s.dom.ChartVersions(ctx, metadata.ChartFilter{ProjectID: projectID}, true)
	if err != nil {
		return nil, err
	}
	return renderIndex(vs, project, base, time.Now())
}

func renderIndex(vs []metadata.ChartVersion, project, base string, now time.Time) ([]byte, error) {
	entries := &yaml.Node{Kind: yaml.MappingNode}
	for i := 0; i < len(vs); {
		j := i
		for j < len(vs) && vs[j].Name == vs[i].Name {
			j++
		}
		group := vs[i:j]
		sortVersions(group)
		list := &yaml.Node{Kind: yaml.SequenceNode}
		for _, v := range group {
			n, err := entryNode(v, project, base)
			if err != nil {
				return nil, err
			}
			list.Content = append(list.Content, n)
		}
		entries.Content = append(entries.Content, str(vs[i].Name), list)
		i = j
	}
	doc := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
		str("apiVersion"), str("v1"),
		str("entries"), entries,
		str("generated"), str(now.UTC().Format(time.RFC3339Nano)),
	}}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), enc.Close()
}

// entryNode is one version's entry: its Chart.yaml fields, then berth's.
func entryNode(v metadata.ChartVersion, project, base string) (*yaml.Node, error) {
	var meta map[string]any
	if err := json.Unmarshal(v.Metadata, &meta); err != nil {
		return nil, fmt.Errorf("charts: metadata of %s %s: %w", v.Name, v.Version, err)
	}
	for _, k := range []string{"urls", "created", "digest", "removed"} {
		delete(meta, k)
	}
	n := &yaml.Node{}
	if err := n.Encode(meta); err != nil {
		return nil, err
	}
	n.Content = append(n.Content,
		str("created"), str(v.Created.UTC().Format(time.RFC3339Nano)),
		str("digest"), str(trimAlgo(v.ChartDigest)),
		str("urls"), &yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{str(chartURL(base, project, v.Name, v.Version))}})
	return n, nil
}

func str(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

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
