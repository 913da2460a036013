package index

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"

	"github.com/distribution/distribution/v3"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/storage"
	"github.com/berth-registry/berth/storage/metadata"
)

// `berth check` and `berth reindex` share one plan: check lists it,
// reindex carries it out. So they agree on every case: what check reports
// as repairable, reindex repairs (and reports); what neither can repair
// (storage itself damaged) both report as broken.

// Kinds of drift.
const (
	// DriftPending: a change committed to the index whose storage copy is
	// not written yet (a writer crashed, or storage was down); the server
	// writes it within seconds, reindex first of all.
	DriftPending = "pending"
	// DriftMissing: in storage, not in the index; reindex indexes it.
	DriftMissing = "missing"
	// DriftExtra: in the index, not in storage; reindex removes it.
	DriftExtra = "extra"
	// DriftMismatch: in both, differing; reindex takes storage's.
	DriftMismatch = "mismatch"
	// DriftBroken: storage holds it damaged (unreadable manifest, missing
	// blob, a tag of a manifest storage lacks); nothing can be rebuilt
	// from it, so reindex leaves it out of the index and reports it.
	DriftBroken = "broken"
)

// Drift is one difference between the index and storage.
type Drift struct {
	Kind   string // see the Drift* kinds
	Object string // repository, artifact, manifest (its bytes), chart, tag, blob, write
	Ref    string // repo, repo@digest, repo:tag
	Detail string

	fix   func(ctx context.Context) error // what reindex does about it (nil: nothing)
	order int                             // reindex applies lower orders first
}

func (d Drift) String() string {
	s := fmt.Sprintf("%-8s %-10s %s", d.Kind, d.Object, d.Ref)
	if d.Detail != "" {
		s += " (" + d.Detail + ")"
	}
	return s
}

// Stats counts what Reindex did.
type Stats struct {
	Replayed                      int // pending storage writes replayed
	Repositories, Artifacts, Tags int // indexed (added or corrected)
	Removed                       int // index entries storage does not hold
	Broken                        int // left out: damaged in storage
}

// Check compares the index with storage and returns every difference,
// sorted. It changes nothing. Pending storage writes are reported as
// such, and the keys they concern are not compared.
func Check(ctx context.Context, ix *Indexer) ([]Drift, error) {
	pending, err := ix.db.PendingSync(ctx, 100000)
	if err != nil {
		return nil, err
	}
	skip := map[string]bool{}
	var drift []Drift
	for _, p := range pending {
		skip[p.SyncKey.String()] = true
		drift = append(drift, Drift{Kind: DriftPending, Object: "write", Ref: p.SyncKey.String(),
			Detail: "committed to the index by " + p.Owner + ", storage copy not written yet"})
	}
	planned, err := plan(ctx, ix)
	if err != nil {
		return nil, err
	}
	for _, d := range planned {
		if !skip[d.Ref] {
			drift = append(drift, d)
		}
	}
	sort.Slice(drift, func(i, j int) bool { return drift[i].String() < drift[j].String() })
	return drift, nil
}

// Reindex replays pending storage writes, then makes the index match
// storage: indexes what storage holds and the index lacks, corrects what
// differs, and removes what storage does not hold. Nothing else is written,
// so management data (who pushed, pull counts, project settings) stays,
// and an index that matches storage costs no write at all (a full disk
// is no obstacle then).
func Reindex(ctx context.Context, ix *Indexer, log *slog.Logger) (Stats, error) {
	var st Stats
	n, err := ix.RepairAll(ctx)
	st.Replayed = n
	if err != nil {
		return st, fullHint(ctx, ix, err)
	}
	drift, err := plan(ctx, ix)
	if err != nil {
		return st, err
	}
	sort.SliceStable(drift, func(i, j int) bool { return drift[i].order < drift[j].order })
	repos := map[string]bool{}
	for _, d := range drift {
		if d.fix == nil {
			if d.Kind == DriftBroken {
				st.Broken++
				log.Warn("reindex: cannot rebuild from damaged storage", "drift", d.String())
			}
			continue
		}
		if err := d.fix(ctx); err != nil {
			return st, fullHint(ctx, ix, fmt.Errorf("reindex: %s: %w", d.String(), err))
		}
		switch {
		case d.Kind == DriftExtra:
			st.Removed++
		case d.Object == "artifact":
			st.Artifacts++
			repos[ProjectName(d.Ref)] = true
		case d.Object == "tag":
			st.Tags++
		}
	}
	st.Repositories = len(repos)
	if len(drift) == 0 {
		return st, nil
	}
	if err := ix.db.TouchAllCharts(ctx); err != nil {
		return st, fullHint(ctx, ix, err)
	}
	return st, fullHint(ctx, ix, ix.db.Recount(ctx))
}

// fullHint says what the operator needs when a disk is full.
func fullHint(ctx context.Context, ix *Indexer, err error) error {
	switch {
	case err == nil:
		return nil
	case metadata.IsFull(err):
		return fmt.Errorf("%w\nthe metadata database's disk is full: %s", err, ix.db.SpaceHint(ctx))
	case storage.IsFull(err):
		return fmt.Errorf("%w\nstorage is full: free some space where storage keeps its data (storage.filesystem.rootDirectory, or the S3 backend); writing a link needs a few KiB, then run the command again", err)
	}
	return err
}

// plan compares storage with the index and returns every difference with
// what reindex does about it.
func plan(ctx context.Context, ix *Indexer) ([]Drift, error) {
	stored, err := walkStorage(ctx, ix.plainNamespace())
	if err != nil {
		return nil, err
	}
	indexed, err := readIndex(ctx, ix.db)
	if err != nil {
		return nil, err
	}
	var drift []Drift
	for name, sr := range stored {
		ir := indexed[name]
		if ir == nil {
			ir = &indexedRepo{digests: map[string]bool{}, tags: map[string]string{}}
		}
		drift = append(drift, planRepo(ctx, ix, name, sr, ir)...)
	}
	for name, ir := range indexed {
		if stored[name] != nil {
			continue
		}
		for tag := range ir.tags {
			drift = append(drift, planUntag(ix, name, ir.id, tag, "repository not in storage"))
		}
		for d := range ir.digests {
			drift = append(drift, planRemoval(ix, name, ir.id, d, "repository not in storage"))
		}
	}
	return drift, nil
}

func planRepo(ctx context.Context, ix *Indexer, name string, sr *storedRepo, ir *indexedRepo) []Drift {
	var drift []Drift
	add := func(d Drift) { drift = append(drift, d) }
	for d, m := range sr.manifests {
		if missing, what := missingBlobs(ctx, ix, sr, m); missing != "" {
			add(Drift{Kind: DriftBroken, Object: "blob", Ref: name + "@" + missing, Detail: "referenced by " + d + ", " + what + " not in storage"})
		}
		if !ir.digests[d] {
			add(indexArtifact(ix, name, sr, d, m))
			continue
		}
		if detail := checkChart(ctx, sr, ir, d, m); detail != "" {
			add(Drift{Kind: DriftMissing, Object: "chart", Ref: name + "@" + d, Detail: detail, order: 1,
				fix: func(ctx context.Context) error { return reindexManifest(ctx, ix, name, sr, d) }})
		}
	}
	if ir.id != 0 {
		hasBytes := map[string]bool{}
		_ = ix.db.EachManifest(ctx, ir.id, func(d string, payload []byte) error {
			hasBytes[d] = true
			if m, ok := sr.manifests[d]; ok {
				if _, stored, err := m.Payload(); err != nil || string(stored) != string(payload) {
					add(Drift{Kind: DriftMismatch, Object: "manifest", Ref: name + "@" + d, Detail: "bytes in the index differ from storage", order: 1,
						fix: func(ctx context.Context) error { return reindexManifest(ctx, ix, name, sr, d) }})
				}
			}
			return nil
		})
		for d := range ir.digests {
			if _, ok := sr.manifests[d]; ok && !hasBytes[d] {
				add(Drift{Kind: DriftMissing, Object: "manifest", Ref: name + "@" + d, Detail: "bytes not in the index", order: 1,
					fix: func(ctx context.Context) error { return reindexManifest(ctx, ix, name, sr, d) }})
			}
		}
	}
	for d, err := range sr.broken {
		add(Drift{Kind: DriftBroken, Object: "artifact", Ref: name + "@" + d, Detail: err.Error()})
		if ir.digests[d] {
			add(planRemoval(ix, name, ir.id, d, "unreadable in storage"))
		}
	}
	for d := range ir.digests {
		if _, ok := sr.manifests[d]; !ok {
			if _, broken := sr.broken[d]; !broken {
				add(planRemoval(ix, name, ir.id, d, "not in storage"))
			}
		}
	}
	for tag, d := range sr.tags {
		if _, ok := sr.manifests[d]; !ok {
			add(Drift{Kind: DriftBroken, Object: "tag", Ref: name + ":" + tag, Detail: "points at " + d + ", which storage does not hold readable"})
			if _, ok := ir.tags[tag]; ok {
				add(planUntag(ix, name, ir.id, tag, "its manifest is not readable in storage"))
			}
			continue
		}
		switch id, ok := ir.tags[tag]; {
		case !ok:
			add(planTag(ix, name, tag, d, DriftMissing, ""))
		case id != d:
			add(planTag(ix, name, tag, d, DriftMismatch, "index "+id+", storage "+d))
		}
	}
	for tag := range ir.tags {
		if _, ok := sr.tags[tag]; !ok {
			add(planUntag(ix, name, ir.id, tag, "not in storage"))
		}
	}
	return drift
}

// missingBlobs names a blob a stored manifest references that the
// repository does not hold ("" when all are there), and what of it is
// missing: its data, or the repository's link of it.
func missingBlobs(ctx context.Context, ix *Indexer, sr *storedRepo, m distribution.Manifest) (string, string) {
	for _, ref := range m.References() {
		if len(ref.URLs) > 0 || IsIndex(ref.MediaType) || isManifestType(ref.MediaType) {
			continue // foreign layers and child manifests are not blobs here
		}
		if _, err := sr.repo.Blobs(ctx).Stat(ctx, ref.Digest); err != nil {
			if err := ix.statData(ctx, ref.Digest); IsPathNotFound(err) {
				return ref.Digest.String(), "its data"
			} else if err != nil {
				return ref.Digest.String(), "its data (" + err.Error() + ") or the repository's link"
			}
			return ref.Digest.String(), "the repository's link"
		}
	}
	return "", ""
}

func indexArtifact(ix *Indexer, name string, sr *storedRepo, d string, m distribution.Manifest) Drift {
	order := 1 // children before the indexes that list them, so sizes add up
	if mt, _, _ := m.Payload(); IsIndex(mt) {
		order = 2
	}
	return Drift{Kind: DriftMissing, Object: "artifact", Ref: name + "@" + d, order: order,
		fix: func(ctx context.Context) error { return reindexManifest(ctx, ix, name, sr, d) }}
}

// reindexManifest indexes a stored manifest (its bytes and its chart too).
func reindexManifest(ctx context.Context, ix *Indexer, name string, sr *storedRepo, d string) error {
	p, err := ix.db.EnsureProject(ctx, ProjectName(name), "reindex", metadata.NoCreator)
	if err != nil {
		return err
	}
	a, err := Describe(ctx, digest.Digest(d), sr.manifests[d], sr.repo.Blobs(ctx))
	if err != nil {
		return err
	}
	if a, err = ix.db.ReindexArtifact(ctx, p.ID, name, a); err != nil {
		return err
	}
	return reindexChart(ctx, ix.db, p.ID, a, sr.repo.Blobs(ctx))
}

func planTag(ix *Indexer, name, tag, d, kind, detail string) Drift {
	return Drift{Kind: kind, Object: "tag", Ref: name + ":" + tag, Detail: detail, order: 3,
		fix: func(ctx context.Context) error {
			r, err := ix.db.GetRepository(ctx, name)
			if err != nil {
				return err
			}
			return ix.db.PutTag(ctx, r.ID, tag, d, timeNow())
		}}
}

func planUntag(ix *Indexer, name string, repoID int64, tag, detail string) Drift {
	return Drift{Kind: DriftExtra, Object: "tag", Ref: name + ":" + tag, Detail: detail, order: 4,
		fix: func(ctx context.Context) error {
			if err := ix.db.DeleteTag(ctx, repoID, tag); err != nil && !errors.Is(err, metadata.ErrNotFound) {
				return err
			}
			return nil
		}}
}

func planRemoval(ix *Indexer, name string, repoID int64, d, detail string) Drift {
	return Drift{Kind: DriftExtra, Object: "artifact", Ref: name + "@" + d, Detail: detail, order: 5,
		fix: func(ctx context.Context) error {
			if err := ix.db.DeleteArtifact(ctx, repoID, d); err != nil && !errors.Is(err, metadata.ErrNotFound) {
				return err
			}
			return nil
		}}
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

func isManifestType(mt string) bool {
	switch mt {
	case "application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json":
		return true
	}
	return false
}
