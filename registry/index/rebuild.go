package index

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"

	"github.com/distribution/distribution/v3"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/storage/metadata"
)

// Drift is one difference between the index and storage.
type Drift struct {
	Kind   string // missing (in storage, not indexed), extra (indexed, not in storage), mismatch, broken
	Object string // repository, artifact, manifest (its bytes), tag, blob
	Ref    string // repo, repo@digest, repo:tag
	Detail string
}

func (d Drift) String() string {
	s := fmt.Sprintf("%-8s %-10s %s", d.Kind, d.Object, d.Ref)
	if d.Detail != "" {
		s += " (" + d.Detail + ")"
	}
	return s
}

// storedRepo is what storage holds for one repository.
type storedRepo struct {
	manifests map[string]distribution.Manifest // readable manifests by digest
	broken    map[string]error                 // enumerated but unreadable
	tags      map[string]string                // tag → digest
	repo      distribution.Repository
}

// walkStorage reads every repository, manifest and tag from storage. ns must
// be a plain storage namespace (not wrapped by the index).
func walkStorage(ctx context.Context, ns distribution.Namespace) (map[string]*storedRepo, error) {
	re, ok := ns.(distribution.RepositoryEnumerator)
	if !ok {
		return nil, errors.New("index: namespace cannot enumerate repositories")
	}
	out := map[string]*storedRepo{}
	err := re.Enumerate(ctx, func(name string) error {
		named, err := reference.WithName(name)
		if err != nil {
			return fmt.Errorf("index: repository %q: %w", name, err)
		}
		repo, err := ns.Repository(ctx, named)
		if err != nil {
			return err
		}
		sr := &storedRepo{manifests: map[string]distribution.Manifest{}, broken: map[string]error{}, tags: map[string]string{}, repo: repo}
		ms, err := repo.Manifests(ctx)
		if err != nil {
			return err
		}
		me, ok := ms.(distribution.ManifestEnumerator)
		if !ok {
			return errors.New("index: manifest service cannot enumerate")
		}
		err = me.Enumerate(ctx, func(d digest.Digest) error {
			m, err := ms.Get(ctx, d)
			if err != nil {
				sr.broken[d.String()] = err
				return nil
			}
			sr.manifests[d.String()] = m
			return nil
		})
		if err != nil && !IsPathNotFound(err) {
			return fmt.Errorf("index: manifests of %s: %w", name, err)
		}
		ts := repo.Tags(ctx)
		all, err := ts.All(ctx)
		if err != nil && !IsPathNotFound(err) {
			return fmt.Errorf("index: tags of %s: %w", name, err)
		}
		for _, tag := range all {
			desc, err := ts.Get(ctx, tag)
			if err != nil {
				continue // a tag whose link is unreadable does not exist
			}
			sr.tags[tag] = desc.Digest.String()
		}
		out[name] = sr
		return nil
	})
	if err != nil && !IsPathNotFound(err) {
		return nil, err
	}
	return out, nil
}

// IsPathNotFound reports whether storage said a path does not exist.
func IsPathNotFound(err error) bool {
	var nf storagedriver.PathNotFoundError
	return errors.As(err, &nf) || errors.As(err, new(distribution.ErrRepositoryUnknown))
}

// indexedRepo is what the index holds for one repository.
type indexedRepo struct {
	id      int64
	digests map[string]bool
	tags    map[string]string
	charts  map[string]string // manifest digest → chart layer digest
}

func readIndex(ctx context.Context, db *metadata.DB) (map[string]*indexedRepo, error) {
	names, err := db.RepositoryNames(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]*indexedRepo{}
	for _, n := range names {
		r, err := db.GetRepository(ctx, n)
		if err != nil {
			return nil, err
		}
		ds, err := db.ArtifactDigests(ctx, r.ID)
		if err != nil {
			return nil, err
		}
		tags, err := db.TagDigests(ctx, r.ID)
		if err != nil {
			return nil, err
		}
		charts, err := db.ChartArtifactDigests(ctx, r.ID)
		if err != nil {
			return nil, err
		}
		ir := &indexedRepo{id: r.ID, digests: map[string]bool{}, tags: tags, charts: charts}
		for _, d := range ds {
			ir.digests[d] = true
		}
		out[n] = ir
	}
	return out, nil
}

// Check compares the index with storage and returns every difference,
// sorted. It changes nothing.
func Check(ctx context.Context, ns distribution.Namespace, db *metadata.DB) ([]Drift, error) {
	stored, err := walkStorage(ctx, ns)
	if err != nil {
		return nil, err
	}
	indexed, err := readIndex(ctx, db)
	if err != nil {
		return nil, err
	}
	var drift []Drift
	add := func(kind, obj, ref, detail string) { drift = append(drift, Drift{kind, obj, ref, detail}) }
	for name, sr := range stored {
		ir := indexed[name]
		if ir == nil {
			if len(sr.manifests) > 0 || len(sr.tags) > 0 {
				add("missing", "repository", name, fmt.Sprintf("%d manifests, %d tags in storage", len(sr.manifests), len(sr.tags)))
			}
			ir = &indexedRepo{digests: map[string]bool{}, tags: map[string]string{}}
		}
		for d, m := range sr.manifests {
			if !ir.digests[d] {
				add("missing", "artifact", name+"@"+d, "")
			} else if drift := checkChart(ctx, sr, ir, d, m); drift != "" {
				add("missing", "chart", name+"@"+d, drift)
			}
			for _, ref := range m.References() {
				if len(ref.URLs) > 0 || IsIndex(ref.MediaType) || isManifestType(ref.MediaType) {
					continue // foreign layers and child manifests are not blobs here
				}
				if _, err := sr.repo.Blobs(ctx).Stat(ctx, ref.Digest); err != nil {
					add("broken", "blob", name+"@"+ref.Digest.String(), "referenced by "+d+": "+err.Error())
				}
			}
		}
		for d, err := range sr.broken {
			add("broken", "artifact", name+"@"+d, err.Error())
		}
		if ir.id != 0 {
			if err := checkManifests(ctx, db, sr, ir.id, func(d string) {
				add("mismatch", "manifest", name+"@"+d, "bytes in the index differ from storage")
			}); err != nil {
				return nil, err
			}
		}
		for d := range ir.digests {
			if _, ok := sr.manifests[d]; !ok {
				if _, broken := sr.broken[d]; !broken {
					add("extra", "artifact", name+"@"+d, "not in storage")
				}
			}
		}
		for tag, d := range sr.tags {
			switch id, ok := ir.tags[tag]; {
			case !ok:
				add("missing", "tag", name+":"+tag, "")
			case id != d:
				add("mismatch", "tag", name+":"+tag, "index "+id+", storage "+d)
			}
		}
		for tag := range ir.tags {
			if _, ok := sr.tags[tag]; !ok {
				add("extra", "tag", name+":"+tag, "not in storage")
			}
		}
	}
	for name, ir := range indexed {
		if stored[name] != nil {
			continue
		}
		for d := range ir.digests {
			add("extra", "artifact", name+"@"+d, "repository not in storage")
		}
		for tag := range ir.tags {
			add("extra", "tag", name+":"+tag, "repository not in storage")
		}
	}
	sort.Slice(drift, func(i, j int) bool { return drift[i].String() < drift[j].String() })
	return drift, nil
}

// checkManifests compares the manifest bytes the index holds for a
// repository with storage's and calls mismatch for each that differs.
// Artifacts whose bytes the index lacks (indexed before it kept them) are
// filled in by their first reader or by reindex, and are no drift.
func checkManifests(ctx context.Context, db *metadata.DB, sr *storedRepo, repoID int64, mismatch func(digest string)) error {
	return db.EachManifest(ctx, repoID, func(d string, payload []byte) error {
		m, ok := sr.manifests[d]
		if !ok {
			return nil // reported as an extra artifact
		}
		if _, stored, err := m.Payload(); err != nil || !bytes.Equal(stored, payload) {
			mismatch(d)
		}
		return nil
	})
}

func isManifestType(mt string) bool {
	switch mt {
	case "application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json":
		return true
	}
	return false
}

// Stats counts what Reindex did.
type Stats struct {
	Repositories, Artifacts, Tags int
	Removed                       int
	Broken                        int
}

// Reindex makes the index match storage: indexes every readable manifest and
// tag, and removes index entries storage no longer has. Management data
// (projects' settings, pull counts, who pushed) of entries that stay is kept.
func Reindex(ctx context.Context, ns distribution.Namespace, db *metadata.DB, log *slog.Logger) (Stats, error) {
	var st Stats
	stored, err := walkStorage(ctx, ns)
	if err != nil {
		return st, err
	}
	for name, sr := range stored {
		if len(sr.manifests) == 0 && len(sr.tags) == 0 {
			continue
		}
		p, err := db.EnsureProject(ctx, ProjectName(name), "reindex")
		if err != nil {
			return st, err
		}
		st.Repositories++
		// Children before the indexes that list them, so sizes add up.
		digests := make([]string, 0, len(sr.manifests))
		for d := range sr.manifests {
			digests = append(digests, d)
		}
		sort.Slice(digests, func(i, j int) bool {
			return indexRank(sr.manifests[digests[i]]) < indexRank(sr.manifests[digests[j]])
		})
		for _, d := range digests {
			a, err := Describe(ctx, digest.Digest(d), sr.manifests[d], sr.repo.Blobs(ctx))
			if err != nil {
				log.Warn("reindex: skipping manifest", "repository", name, "digest", d, "err", err)
				st.Broken++
				continue
			}
			if a, err = db.PutArtifact(ctx, p.ID, name, a); err != nil {
				return st, err
			}
			if err := reindexChart(ctx, db, p.ID, a, sr.repo.Blobs(ctx)); err != nil {
				log.Warn("reindex: chart not indexed", "repository", name, "digest", d, "err", err)
			}
			st.Artifacts++
		}
		st.Broken += len(sr.broken)
		r, err := db.GetRepository(ctx, name)
		if err != nil {
			return st, err
		}
		for tag, d := range sr.tags {
			if err := db.PutTag(ctx, r.ID, tag, d, timeNow()); err != nil {
				log.Warn("reindex: skipping tag", "repository", name, "tag", tag, "err", err)
				continue
			}
			st.Tags++
		}
	}
	indexed, err := readIndex(ctx, db)
	if err != nil {
		return st, err
	}
	for name, ir := range indexed {
		sr := stored[name]
		for tag := range ir.tags {
			if sr == nil || sr.tags[tag] == "" {
				if err := db.DeleteTag(ctx, ir.id, tag); err != nil && !errors.Is(err, metadata.ErrNotFound) {
					return st, err
				}
				st.Removed++
			}
		}
		for d := range ir.digests {
			if sr == nil || sr.manifests[d] == nil {
				if err := db.DeleteArtifact(ctx, ir.id, d); err != nil && !errors.Is(err, metadata.ErrNotFound) {
					return st, err
				}
				st.Removed++
			}
		}
	}
	if err := db.TouchAllCharts(ctx); err != nil {
		return st, err
	}
	return st, db.Recount(ctx)
}

// reindexChart records the chart an artifact holds, if any.
func reindexChart(ctx context.Context, db *metadata.DB, projectID int64, a metadata.Artifact, blobs distribution.BlobProvider) error {
	cv, ok, err := DescribeChart(ctx, a, blobs)
	if err != nil || !ok {
		return err
	}
	cv.ArtifactID, cv.RepositoryID, cv.ProjectID = a.ID, a.RepositoryID, projectID
	return db.PutChartVersion(ctx, cv)
}

// checkChart reports what is wrong with the index's record of the chart a
// stored manifest holds ("" when it is not a chart or is recorded right).
func checkChart(ctx context.Context, sr *storedRepo, ir *indexedRepo, d string, m distribution.Manifest) string {
	a, err := Describe(ctx, digest.Digest(d), m, nil)
	if err != nil || a.ConfigMediaType != HelmConfigMediaType {
		return ""
	}
	cv, ok, err := DescribeChart(ctx, a, sr.repo.Blobs(ctx))
	switch got, recorded := ir.charts[d]; {
	case err != nil || !ok:
		return ""
	case !recorded:
		return "chart " + cv.Name + " " + cv.Version + " not in the chart index"
	case got != cv.ChartDigest:
		return "chart digest " + got + " in the index, " + cv.ChartDigest + " in storage"
	}
	return ""
}

func indexRank(m distribution.Manifest) int {
	mt, _, _ := m.Payload()
	if IsIndex(mt) {
		return 1
	}
	return 0
}
