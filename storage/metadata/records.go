package metadata

import (
	"encoding/json"
	"time"
)

// Project is the first path component of repository names: a namespace with
// visibility and a quota.
type Project struct {
	ID          int64
	Name        string
	Public      bool
	QuotaBytes  int64 // -1: unlimited
	StorageUsed int64 // each blob counted once
	Creator     string
	// CreatorID is the user who created the project (0: none, or berth):
	// the owner, bound to the user, not the name.
	CreatorID int64
	Attrs     map[string]string // per-dialect attributes
	CreatedAt time.Time
	UpdatedAt time.Time
	RepoCount int64 // filled by lists
}

// Repository is one OCI repository, named in full (project/path...).
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

// Artifact is one manifest (image, index or other artifact) in a repository.
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
	Size            int64 // manifest + unique blobs (+ children for an index)
	ContentSize     int64 // config + layers, without the manifest (an index: its children's)
	OS, Arch        string
	Variant         string
	SubjectDigest   string
	Annotations     map[string]string
	Extra           map[string]any // from the image config: created, author, ...
	PushedBy        string
	PushTime        time.Time
	PullTime        time.Time
	PullCount       int64

	// Manifest is the manifest's bytes: stored by PutArtifact when set,
	// read back only by ArtifactsByDigests with manifests asked for (nil
	// when the index does not hold them, see migration 006).
	Manifest []byte

	Tags       []Tag       // filled by gets and lists
	References []Reference // children of an index
	Blobs      []Blob      // what the artifact needs, manifest included
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
	PullCount    int64 // manifest GETs by this tag
	Immutable    bool
	Attrs        map[string]string
}

// Reference is a child of an index, with its platform.
type Reference struct {
	ParentID    int64
	ChildID     int64 // 0 when the child is not (yet) in the repository
	ChildDigest string
	MediaType   string
	Size        int64
	OS, Arch    string
	Variant     string
	Annotations map[string]string
}

// Blob is one blob an artifact references.
type Blob struct {
	Digest    string
	Size      int64
	MediaType string
}

// ListOptions selects one page of a list. Callers validate; the database
// only whitelists sort keys.
type ListOptions struct {
	Filter string // substring of the name
	Sort   string // "name" (default) or "push_time"
	Desc   bool
	Offset int
	Limit  int // 0: no limit
}

func toJSON(v any) string {
	if v == nil {
		return "{}"
	}
	b, err := json.Marshal(v)
	if err != nil || string(b) == "null" {
		return "{}"
	}
	return string(b)
}

func strMap(s string) map[string]string {
	m := map[string]string{}
	_ = json.Unmarshal([]byte(s), &m)
	return m
}

func anyMap(s string) map[string]any {
	m := map[string]any{}
	_ = json.Unmarshal([]byte(s), &m)
	return m
}
