package domain

import (
	"encoding/json"
	"time"

	"github.com/berth-registry/berth/storage/metadata"
)

// The records the domain answers with. They are the domain's own: the
// dialects shape them into their envelopes without knowing how the index
// stores them, and the index may change its rows without the dialects
// noticing. Lists fill the counts; gets leave them zero.

// Project is the first path component of repository names: a namespace
// with visibility and a quota.
type Project struct {
	ID          int64
	Name        string
	Public      bool
	QuotaBytes  int64 // -1: unlimited
	StorageUsed int64 // each blob counted once
	Creator     string
	CreatorID   int64             // the user who created it; 0: none (berth, a robot, a user since deleted)
	Attrs       map[string]string // per-dialect attributes
	CreatedAt   time.Time
	UpdatedAt   time.Time
	RepoCount   int64 // filled by lists
}

// ProjectFilter narrows ListProjects.
type ProjectFilter struct {
	Public    *bool    // only public (true) or private (false) projects
	Names     []string // these names only; nil: all
	IDs       []int64  // these ids only (what a caller may see); nil: all
	Creator   string   // the projects created under this name
	CreatorID int64    // the projects this user created
}

// Repository is one OCI repository, named in full (<project>/<path>).
type Repository struct {
	ID            int64
	ProjectID     int64
	Name          string
	Summary       string
	Detail        string
	Attrs         map[string]string
	PullCount     int64
	CreatedAt     time.Time
	UpdatedAt     time.Time
	ArtifactCount int64 // filled by lists
	TagCount      int64 // filled by lists
}

// RepoFilter narrows ListRepositories.
type RepoFilter struct {
	ProjectID  int64   // 0: every project
	ProjectIDs []int64 // these projects only (what a caller may see); nil: all
	// Prefix keeps names starting with it; the query's Filter then
	// matches the rest of the name only.
	Prefix string
	// After keeps names after it in byte order (keyset paging by name).
	After string
}

// Artifact is one manifest (image, index or other artifact) in a
// repository.
type Artifact struct {
	ID              int64
	RepositoryID    int64
	Repository      string
	Digest          string
	MediaType       string
	ArtifactType    string
	ConfigMediaType string
	ConfigDigest    string
	ManifestSize    int64
	Size            int64 // manifest and unique blobs (an index: with its children)
	ContentSize     int64 // config and layers, without the manifest (an index: its children's)
	OS, Arch        string
	Variant         string
	SubjectDigest   string
	Annotations     map[string]string
	Extra           map[string]any // from the image config: created, author, ...
	PushedBy        string
	PushTime        time.Time
	PullTime        time.Time
	PullCount       int64
	// Manifest is the manifest's bytes, filled only where asked for
	// (Repo.ArtifactsByDigest).
	Manifest []byte

	Tags       []Tag        // filled by gets and lists
	References []Reference  // children of an index
	Blobs      []Descriptor // what the artifact needs, manifest included (gets)
}

// Tag names an artifact in a repository.
type Tag struct {
	ID           int64
	RepositoryID int64
	ArtifactID   int64
	Name         string
	Digest       string    // the artifact's
	CreatedAt    time.Time // first push of the tag, never moved
	PushTime     time.Time // when the tag last moved (or was pushed again)
	PullTime     time.Time
	PullCount    int64 // manifest downloads by this tag
	Immutable    bool
	Attrs        map[string]string
}

// Reference is a child of an index, with its platform.
type Reference struct {
	ParentID    int64
	ChildID     int64 // 0 when the child is not in the repository
	ChildDigest string
	MediaType   string
	Size        int64
	OS, Arch    string
	Variant     string
	Annotations map[string]string
}

// Descriptor is one blob an artifact references.
type Descriptor struct {
	Digest    string
	Size      int64
	MediaType string
}

// ChartVersion is one Helm chart version: a chart manifest in the index.
type ChartVersion struct {
	ArtifactID   int64
	RepositoryID int64
	ProjectID    int64
	Project      string
	Name         string
	Version      string
	Tag          string // the OCI tag naming the version (+ as _)
	AppVersion   string
	Description  string
	Home         string
	Icon         string
	Keywords     []string
	Maintainers  []map[string]string
	Deprecated   bool
	Created      time.Time
	ChartDigest  string // sha256 of the .tgz layer
	ChartSize    int64
	ProvDigest   string // "" without a provenance layer
	ProvSize     int64
	Metadata     json.RawMessage // Chart.yaml as helm's config JSON
	Digest       string          // the manifest's
	PushTime     time.Time       // the tag's
}

// ChartFilter selects live chart versions.
type ChartFilter struct {
	ProjectIDs []int64 // nil: all projects
	ProjectID  int64   // 0: any
	Name       string  // exact chart name; "" any
	NameHas    string  // substring of the chart name
	Version    string  // exact version; "" any
}

// ProjectOf is a project as the domain shows it, from the index's row;
// the identity layer, which reads projects itself to decide access,
// hands the dialects this.
func ProjectOf(p metadata.Project) Project {
	return Project{ID: p.ID, Name: p.Name, Public: p.Public, QuotaBytes: p.QuotaBytes, StorageUsed: p.StorageUsed,
		Creator: p.Creator, CreatorID: p.CreatorID, Attrs: p.Attrs, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt, RepoCount: p.RepoCount}
}

func (p Project) row() metadata.Project {
	return metadata.Project{ID: p.ID, Name: p.Name, Public: p.Public, QuotaBytes: p.QuotaBytes, StorageUsed: p.StorageUsed,
		Creator: p.Creator, CreatorID: p.CreatorID, Attrs: p.Attrs, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt, RepoCount: p.RepoCount}
}

func (f ProjectFilter) row() metadata.ProjectFilter {
	return metadata.ProjectFilter{Public: f.Public, Names: f.Names, IDs: f.IDs, Creator: f.Creator, CreatorID: f.CreatorID}
}

func repositoryOf(r metadata.Repository) Repository {
	return Repository{ID: r.ID, ProjectID: r.ProjectID, Name: r.Name, Summary: r.Summary, Detail: r.Detail, Attrs: r.Attrs,
		PullCount: r.PullCount, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, ArtifactCount: r.ArtifactCount, TagCount: r.TagCount}
}

func (r Repository) row() metadata.Repository {
	return metadata.Repository{ID: r.ID, ProjectID: r.ProjectID, Name: r.Name, Summary: r.Summary, Detail: r.Detail, Attrs: r.Attrs,
		PullCount: r.PullCount, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, ArtifactCount: r.ArtifactCount, TagCount: r.TagCount}
}

func (f RepoFilter) row() metadata.RepoFilter {
	return metadata.RepoFilter{ProjectID: f.ProjectID, ProjectIDs: f.ProjectIDs, Prefix: f.Prefix, After: f.After}
}

func tagOf(t metadata.Tag) Tag {
	return Tag{ID: t.ID, RepositoryID: t.RepositoryID, ArtifactID: t.ArtifactID, Name: t.Name, Digest: t.Digest,
		CreatedAt: t.CreatedAt, PushTime: t.PushTime, PullTime: t.PullTime, PullCount: t.PullCount, Immutable: t.Immutable, Attrs: t.Attrs}
}

func artifactOf(a metadata.Artifact) Artifact {
	out := Artifact{ID: a.ID, RepositoryID: a.RepositoryID, Repository: a.Repository, Digest: a.Digest, MediaType: a.MediaType,
		ArtifactType: a.ArtifactType, ConfigMediaType: a.ConfigMediaType, ConfigDigest: a.ConfigDigest, ManifestSize: a.ManifestSize,
		Size: a.Size, ContentSize: a.ContentSize, OS: a.OS, Arch: a.Arch, Variant: a.Variant, SubjectDigest: a.SubjectDigest,
		Annotations: a.Annotations, Extra: a.Extra, PushedBy: a.PushedBy, PushTime: a.PushTime, PullTime: a.PullTime,
		PullCount: a.PullCount, Manifest: a.Manifest}
	for _, t := range a.Tags {
		out.Tags = append(out.Tags, tagOf(t))
	}
	for _, r := range a.References {
		out.References = append(out.References, Reference{ParentID: r.ParentID, ChildID: r.ChildID, ChildDigest: r.ChildDigest,
			MediaType: r.MediaType, Size: r.Size, OS: r.OS, Arch: r.Arch, Variant: r.Variant, Annotations: r.Annotations})
	}
	for _, b := range a.Blobs {
		out.Blobs = append(out.Blobs, Descriptor{Digest: b.Digest, Size: b.Size, MediaType: b.MediaType})
	}
	return out
}

func chartVersionOf(v metadata.ChartVersion) ChartVersion {
	return ChartVersion{ArtifactID: v.ArtifactID, RepositoryID: v.RepositoryID, ProjectID: v.ProjectID, Project: v.Project,
		Name: v.Name, Version: v.Version, Tag: v.Tag, AppVersion: v.AppVersion, Description: v.Description, Home: v.Home,
		Icon: v.Icon, Keywords: v.Keywords, Maintainers: v.Maintainers, Deprecated: v.Deprecated, Created: v.Created,
		ChartDigest: v.ChartDigest, ChartSize: v.ChartSize, ProvDigest: v.ProvDigest, ProvSize: v.ProvSize,
		Metadata: v.Metadata, Digest: v.Digest, PushTime: v.PushTime}
}

func (f ChartFilter) row() metadata.ChartFilter {
	return metadata.ChartFilter{ProjectIDs: f.ProjectIDs, ProjectID: f.ProjectID, Name: f.Name, NameHas: f.NameHas, Version: f.Version}
}

// convert maps a list of rows to records.
func convert[R, T any](rows []R, of func(R) T) []T {
	out := make([]T, 0, len(rows))
	for _, r := range rows {
		out = append(out, of(r))
	}
	return out
}
