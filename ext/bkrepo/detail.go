package bkrepo

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ext/dialect"
	"github.com/berth-registry/berth/registry/domain"
)

// manifest: GET /docker/ext/manifest/{p}/{r}/{name...}/{tag} — data is the
// stored manifest JSON as a string, byte for byte.
func (a *api) manifest(w http.ResponseWriter, r *http.Request) error {
	im, err := pathImage(r)
	if err != nil {
		return err
	}
	ref := dialect.Var(r, "ref")
	if err := validRef(ref); err != nil {
		return err
	}
	repo, err := a.repository(r, im, auth.ActionPull)
	if err != nil {
		return err
	}
	m, err := repo.Manifest(r.Context(), ref)
	if err != nil {
		return err
	}
	// A download of the version, as a docker pull of it counts.
	tag := ref
	if strings.Contains(ref, ":") {
		tag = ""
	}
	repo.RecordDownload(m.Digest, tag)
	return a.ok(w, r, string(m.Payload))
}

// validRef accepts a tag or a digest.
func validRef(ref string) error {
	if strings.Contains(ref, ":") {
		_, err := domain.ParseDigest(ref)
		return err
	}
	return domain.ValidateTag(ref)
}

// layer: GET /docker/ext/layer/{p}/{r}/{name...}/{digest} streams a blob of
// the image's repository with Content-Length, Docker-Content-Digest and
// Range support.
func (a *api) layer(w http.ResponseWriter, r *http.Request) error {
	im, err := pathImage(r)
	if err != nil {
		return err
	}
	ref := dialect.Var(r, "ref")
	if _, err := domain.ParseDigest(ref); err != nil {
		return err
	}
	repo, err := a.repository(r, im, auth.ActionPull)
	if err != nil {
		return err
	}
	b, err := repo.OpenBlob(r.Context(), ref)
	if err != nil {
		return err
	}
	defer b.Close()
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Docker-Content-Digest", b.Digest)
	h.Set("ETag", `"`+b.Digest+`"`)
	h.Set("Content-Disposition", `attachment; filename="`+strings.ReplaceAll(b.Digest, ":", "_")+`"`)
	http.ServeContent(w, r, "", time.Time{}, b)
	return nil
}

// Version detail shapes (seed 000, get_repo_tag_detail).
type (
	versionDetail struct {
		Basic    basicInfo         `json:"basic"`
		History  []historyEntry    `json:"history"`
		Metadata map[string]string `json:"metadata"`
		Layers   []layerInfo       `json:"layers"`
	}
	basicInfo struct {
		Domain           string `json:"domain"`
		DockerDomain     string `json:"dockerDomain"`
		Size             int64  `json:"size"`
		Version          string `json:"version"`
		StageTag         string `json:"stageTag"`
		CreatedBy        string `json:"createdBy"`
		CreatedDate      string `json:"createdDate"`
		LastModifiedBy   string `json:"lastModifiedBy"`
		LastModifiedDate string `json:"lastModifiedDate"`
		DownloadCount    int64  `json:"downloadCount"`
		Sha256           string `json:"sha256"`
		OS               string `json:"os"`
	}
	historyEntry struct {
		Created   string `json:"created"`
		CreatedBy string `json:"created_by"`
	}
	layerInfo struct {
		MediaType string `json:"mediaType"`
		Size      int64  `json:"size"`
		Digest    string `json:"digest"`
	}
	// manifestDoc is what the detail reads from an image manifest or index.
	manifestDoc struct {
		MediaType string      `json:"mediaType"`
		Config    layerInfo   `json:"config"`
		Layers    []layerInfo `json:"layers"`
		Manifests []struct {
			layerInfo
			Platform struct {
				OS           string `json:"os"`
				Architecture string `json:"architecture"`
			} `json:"platform"`
		} `json:"manifests"`
	}
	configDoc struct {
		OS      string `json:"os"`
		History []struct {
			Created   string `json:"created"`
			CreatedBy string `json:"created_by"`
		} `json:"history"`
	}
)

// versionDetail: GET /docker/ext/version/detail/{p}/{r}?packageKey&version.
func (a *api) versionDetail(w http.ResponseWriter, r *http.Request) error {
	im, version, err := packageParams(r, true)
	if err != nil {
		return err
	}
	ctx := r.Context()
	repo, err := a.repository(r, im, auth.ActionPull)
	if err != nil {
		return err
	}
	art, err := repo.Artifact(ctx, version)
	if err != nil {
		return err
	}
	m, err := repo.Manifest(ctx, art.Digest)
	if err != nil {
		return err
	}
	var tag domain.Tag
	for _, t := range art.Tags {
		if t.Name == version {
			tag = t
		}
	}
	// An index describes its linux/amd64 image (else its first one).
	img, doc, err := a.image(ctx, repo, art, m)
	if err != nil {
		return err
	}
	d := versionDetail{History: []historyEntry{}, Layers: []layerInfo{}, Metadata: map[string]string{
		"docker.manifest":        version,
		"sha256":                 strings.TrimPrefix(m.Digest, "sha256:"),
		"docker.repoName":        im.name,
		"docker.manifest.digest": m.Digest,
		"docker.manifest.type":   m.MediaType,
	}}
	// size is the image's config and layers (the seed's 2487 = 1510 +
	// 977 for hello-world; for an index, the image described);
	// createdDate the version's first push, not moved by pushing it again
	// or under another tag; downloadCount the version's own downloads.
	host := a.PublicHost(r)
	created, pushed, downloads := tag.CreatedAt, tag.PushTime, tag.PullCount
	if tag.Name == "" { // asked by digest: the artifact's
		created, pushed, downloads = art.PushTime, art.PushTime, art.PullCount
	}
	d.Basic = basicInfo{
		Domain: host, DockerDomain: host, Size: img.ContentSize, Version: version, StageTag: tag.Attrs[stageAttr],
		CreatedBy: art.PushedBy, CreatedDate: createdDate(created),
		LastModifiedBy: art.PushedBy, LastModifiedDate: date(pushed),
		DownloadCount: downloads, Sha256: strings.TrimPrefix(img.ConfigDigest, "sha256:"), OS: img.OS,
	}
	d.Layers = append(d.Layers, doc.Layers...)
	cfg, err := a.config(ctx, repo, img)
	if err != nil {
		return err
	}
	for _, h := range cfg.History {
		d.History = append(d.History, historyEntry(h))
	}
	if d.Basic.OS == "" {
		d.Basic.OS = cfg.OS
	}
	return a.ok(w, r, d)
}

// image returns the image artifact a version stands for and its manifest:
// the artifact itself, or for an index its linux/amd64 child (else the
// first child present in the repository).
func (a *api) image(ctx context.Context, repo *domain.Repo, art domain.Artifact, m domain.Manifest) (domain.Artifact, manifestDoc, error) {
	var doc manifestDoc
	if err := json.Unmarshal(m.Payload, &doc); err != nil {
		return art, doc, nil // not JSON we understand: no layers to show
	}
	if len(doc.Manifests) == 0 {
		return art, doc, nil
	}
	pick := doc.Manifests[0].Digest
	for _, c := range doc.Manifests {
		if c.Platform.OS == "linux" && c.Platform.Architecture == "amd64" {
			pick = c.Digest
			break
		}
	}
	child, err := repo.Artifact(ctx, pick)
	if isNotFound(err) {
		return art, manifestDoc{}, nil // a child stored elsewhere
	}
	if err != nil {
		return art, doc, err
	}
	cm, err := repo.Manifest(ctx, pick)
	if err != nil {
		return art, doc, err
	}
	var cdoc manifestDoc
	_ = json.Unmarshal(cm.Payload, &cdoc)
	return child, cdoc, nil
}

// config reads an image's config for its history; artifacts without an
// image config have none.
func (a *api) config(ctx context.Context, repo *domain.Repo, img domain.Artifact) (configDoc, error) {
	var cfg configDoc
	if img.ConfigDigest == "" {
		return cfg, nil
	}
	raw, err := repo.Config(ctx, img.Digest)
	if isNotFound(err) || errorsIsInvalid(err) {
		return cfg, nil
	}
	if err != nil {
		return cfg, err
	}
	_ = json.Unmarshal(raw, &cfg) // a config that is not an image config has no history
	return cfg, nil
}
