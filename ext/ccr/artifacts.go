package ccr

import (
	"net/http"
	"strings"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ext/dialect"
	"github.com/berth-registry/berth/registry/domain"
)

// Artifact types, as Harbor names them.
const (
	typeImage   = "IMAGE"
	typeChart   = "CHART"
	typeUnknown = "UNKNOWN"
)

// imageIcon is the icon Harbor gives images (the seed's example).
const imageIcon = "sha256:0048162a053eef4d4ce3fe7518615bef084403614f8bca43b40ae2e762e11e06"

// artifactJSON is a Harbor v2 artifact (1.9.6).
type artifactJSON struct {
	Digest            string          `json:"digest"`
	ExtraAttrs        extraAttrsJSON  `json:"extra_attrs"`
	Icon              string          `json:"icon"`
	ID                int64           `json:"id"`
	Labels            string          `json:"labels"`
	ManifestMediaType string          `json:"manifest_media_type"`
	MediaType         string          `json:"media_type"`
	ProjectID         int64           `json:"project_id"`
	PullTime          string          `json:"pull_time"`
	PushTime          string          `json:"push_time"`
	References        []referenceJSON `json:"references"`
	RepositoryID      int64           `json:"repository_id"`
	Size              int64           `json:"size"`
	Tags              []tagJSON       `json:"tags"`
	Type              string          `json:"type"`
}

type extraAttrsJSON struct {
	Architecture string `json:"architecture"`
	Author       string `json:"author"`
	Created      string `json:"created"`
	OS           string `json:"os"`
}

type referenceJSON struct {
	ChildDigest string       `json:"child_digest"`
	ChildID     int64        `json:"child_id"`
	ParentID    int64        `json:"parent_id"`
	Platform    platformJSON `json:"platform"`
}

type platformJSON struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

type tagJSON struct {
	ArtifactID   int64  `json:"artifact_id"`
	ID           int64  `json:"id"`
	Immutable    bool   `json:"immutable"`
	Name         string `json:"name"`
	PullTime     string `json:"pull_time"`
	PushTime     string `json:"push_time"`
	RepositoryID int64  `json:"repository_id"`
	Signed       bool   `json:"signed"`
}

// artifactType classifies an artifact as Harbor does.
func artifactType(a domain.Artifact) string {
	switch {
	case strings.Contains(a.ConfigMediaType, "helm.config"):
		return typeChart
	case a.ConfigMediaType == "application/vnd.oci.image.config.v1+json",
		a.ConfigMediaType == "application/vnd.docker.container.image.v1+json",
		strings.Contains(a.MediaType, "image.index"), strings.Contains(a.MediaType, "manifest.list"):
		return typeImage
	}
	return typeUnknown
}

// extraString reads a string attribute of the image config.
func extraString(a domain.Artifact, key string) string {
	s, _ := a.Extra[key].(string)
	return s
}

// artifactRecord shapes an artifact: media_type is the config's media type
// (the manifest's for an index), extra_attrs come from the image config.
func artifactRecord(projectID int64, a domain.Artifact) artifactJSON {
	out := artifactJSON{Digest: a.Digest, ID: a.ID, ManifestMediaType: a.MediaType, MediaType: a.ConfigMediaType,
		ProjectID: projectID, PullTime: formatTime(a.PullTime), PushTime: formatTime(a.PushTime),
		References: []referenceJSON{}, RepositoryID: a.RepositoryID, Size: a.Size, Tags: []tagJSON{}, Type: artifactType(a)}
	if out.MediaType == "" {
		out.MediaType = a.MediaType
	}
	if out.Type == typeImage {
		out.Icon = imageIcon
	}
	out.ExtraAttrs = extraAttrsJSON{Architecture: extraString(a, "architecture"), Author: extraString(a, "author"),
		Created: extraString(a, "created"), OS: extraString(a, "os")}
	if out.ExtraAttrs.Architecture == "" {
		out.ExtraAttrs.Architecture = a.Arch
	}
	if out.ExtraAttrs.OS == "" {
		out.ExtraAttrs.OS = a.OS
	}
	if out.ExtraAttrs.Created == "" {
		out.ExtraAttrs.Created = zeroISO
	}
	for _, ref := range a.References {
		out.References = append(out.References, referenceJSON{ChildDigest: ref.ChildDigest, ChildID: ref.ChildID,
			ParentID: ref.ParentID, Platform: platformJSON{Architecture: ref.Arch, OS: ref.OS}})
	}
	for _, t := range a.Tags {
		out.Tags = append(out.Tags, tagJSON{ArtifactID: t.ArtifactID, ID: t.ID, Immutable: t.Immutable, Name: t.Name,
			PullTime: formatISO(t.PullTime), PushTime: formatISO(t.PushTime), RepositoryID: t.RepositoryID})
	}
	return out
}

// GET .../repositories/{repositoryName}/artifacts?pageNo&pageSize&nameHas:
// newest first; nameHas matches a digest or tag substring.
func (h *handler) listArtifacts(w http.ResponseWriter, r *http.Request) error {
	lp, err := parseList(r.URL.Query())
	if err != nil {
		return err
	}
	proj, repo, err := h.repository(r, auth.ActionPull)
	if err != nil {
		return err
	}
	q := lp.query()
	q.Sort = domain.Sort{By: "push_time", Desc: true}
	list, total, err := repo.Artifacts(r.Context(), q)
	if err != nil {
		return err
	}
	out := make([]artifactJSON, 0, len(list))
	for _, a := range list {
		out = append(out, artifactRecord(proj.ID, a))
	}
	return h.ok(w, r, map[string]any{"page": lp.PageNo, "pageSize": lp.PageSize, "total": total, "artifacts": out})
}

// artifact authorizes action on the path's project, validates the
// repository name and the digest or tag, and resolves the repository.
func (h *handler) artifact(r *http.Request, action string) (domain.Project, *domain.Repo, string, error) {
	ref := dialect.Var(r, "ref")
	dialect.Subject(r).Digest = ref
	proj, err := h.project(r, action)
	if err != nil {
		return proj, nil, ref, err
	}
	full, err := fullName(r)
	if err == nil {
		err = artifactRef(ref)
	}
	if err != nil {
		return proj, nil, ref, err
	}
	repo, err := h.Dom.Repository(r.Context(), full)
	return proj, repo, ref, err
}

// artifactRef validates the path's digest or tag.
func artifactRef(ref string) error {
	if strings.Contains(ref, ":") {
		_, err := domain.ParseDigest(ref)
		return err
	}
	return domain.ValidateTag(ref)
}

// GET .../repositories/{repositoryName}/artifacts/{digest or tag}
// (berth's addition, as Harbor has it): one artifact under "artifact".
func (h *handler) getArtifact(w http.ResponseWriter, r *http.Request) error {
	proj, repo, ref, err := h.artifact(r, auth.ActionPull)
	if err != nil {
		return err
	}
	a, err := repo.Artifact(r.Context(), ref)
	if err != nil {
		return err
	}
	return h.ok(w, r, map[string]any{"artifact": artifactRecord(proj.ID, a)})
}

// DELETE .../repositories/{repositoryName}/artifacts/{digest}: the
// artifact and every tag on it (a tag in place of the digest names the
// artifact it points to).
func (h *handler) deleteArtifact(w http.ResponseWriter, r *http.Request) error {
	_, repo, ref, err := h.artifact(r, auth.ActionDelete)
	if err != nil {
		return err
	}
	if err := repo.DeleteArtifact(r.Context(), ref); err != nil {
		return err
	}
	return h.ok(w, r, nil)
}
