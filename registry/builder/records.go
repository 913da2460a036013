package builder

import (
	"time"

	"github.com/berth-registry/berth/storage/metadata"
)

// The builder's records: its own, so the image market's dialect shapes
// them without knowing how the metadata database stores them.

// Project is a build definition: the image <Cluster>/<Name> is built from
// its plugins.
type Project struct {
	ID           int64
	Name         string
	Cluster      string // the registry project receiving the image
	FileType     string // edit, tool or download ("" until saved)
	Creator      string
	LastOperator string
	CreatedAt    time.Time
	UpdatedAt    time.Time
	Plugins      []Plugin // filled by GetProject
}

// Plugin is one plugin of a definition with its settings; a repeated
// attribute has several values.
type Plugin struct {
	Name  string
	Attrs map[string][]string
}

// Build states, as the image market reports them.
const (
	StateRunning = metadata.BuildRunning // queued or running
	StateSuccess = metadata.BuildSuccess
	StateFailed  = metadata.BuildFailed
)

// Build is one build of a definition.
type Build struct {
	ID          int64
	ProjectID   int64
	Project     string
	Tag         string
	State       int
	Operator    string
	Image       string // repository:tag pushed
	Digest      string // manifest digest pushed
	Logs        string
	CreatedAt   time.Time
	StartedAt   time.Time
	FinishedAt  time.Time
	HeartbeatAt time.Time
}

// File is an uploaded build-context file (without its content).
type File struct {
	Name      string
	Size      int64
	Digest    string
	CreatedAt time.Time
}

func projectOf(p metadata.BuildProject) Project {
	out := Project{ID: p.ID, Name: p.Name, Cluster: p.Cluster, FileType: p.FileType, Creator: p.Creator,
		LastOperator: p.LastOperator, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
	for _, pl := range p.Plugins {
		out.Plugins = append(out.Plugins, Plugin{Name: pl.Name, Attrs: pl.Attrs})
	}
	return out
}

func (p Project) row() metadata.BuildProject {
	out := metadata.BuildProject{ID: p.ID, Name: p.Name, Cluster: p.Cluster, FileType: p.FileType, Creator: p.Creator,
		LastOperator: p.LastOperator, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
	for _, pl := range p.Plugins {
		out.Plugins = append(out.Plugins, metadata.BuildPlugin{Name: pl.Name, Attrs: pl.Attrs})
	}
	return out
}

func buildOf(b metadata.Build) Build {
	return Build{ID: b.ID, ProjectID: b.ProjectID, Project: b.Project, Tag: b.Tag, State: b.State, Operator: b.Operator,
		Image: b.Image, Digest: b.Digest, Logs: b.Logs, CreatedAt: b.CreatedAt, StartedAt: b.StartedAt,
		FinishedAt: b.FinishedAt, HeartbeatAt: b.HeartbeatAt}
}

func (b Build) row() metadata.Build {
	return metadata.Build{ID: b.ID, ProjectID: b.ProjectID, Project: b.Project, Tag: b.Tag, State: b.State, Operator: b.Operator,
		Image: b.Image, Digest: b.Digest, Logs: b.Logs, CreatedAt: b.CreatedAt, StartedAt: b.StartedAt,
		FinishedAt: b.FinishedAt, HeartbeatAt: b.HeartbeatAt}
}

func fileOf(f metadata.BuildFile) File {
	return File{Name: f.Name, Size: f.Size, Digest: f.Digest, CreatedAt: f.CreatedAt}
}

// convert maps a list of rows to records.
func convert[R, T any](rows []R, of func(R) T) []T {
	out := make([]T, 0, len(rows))
	for _, r := range rows {
		out = append(out, of(r))
	}
	return out
}
