package swr

import (
	"encoding/hex"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ext/dialect"
	"github.com/berth-registry/berth/registry/domain"
)

// tagSpec: tags sort by update time or name and filter by a substring of
// the tag; newest first by default.
var tagSpec = listSpec{
	filters:     map[string]*regexp.Regexp{"tag": tagFilterRE},
	columns:     map[string]string{"updated_at": "push_time", "tag": "name"},
	defaultSort: domain.Sort{By: "push_time", Desc: true},
}

// tagJSON is SWR's ShowReposTagResp.
type tagJSON struct {
	ID           int64   `json:"id"`
	RepoID       int64   `json:"repo_id"`
	Tag          string  `json:"Tag"`
	ImageID      string  `json:"image_id"`
	Manifest     string  `json:"manifest"`
	Digest       string  `json:"digest"`
	Schema       int     `json:"schema"`
	Path         string  `json:"path"`
	InternalPath string  `json:"internal_path"`
	Size         int64   `json:"size"`
	IsTrusted    bool    `json:"is_trusted"`
	Created      string  `json:"created"`
	Updated      string  `json:"updated"`
	Deleted      *string `json:"deleted"`
	DomainID     string  `json:"domain_id"`
	Scanned      bool    `json:"scanned"`
	TagType      int     `json:"tag_type"`
}

// GET /v2/manage/namespaces/{namespace}/repos/{repository}/tags
func (h *handler) listTags(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	ns, name, full, err := repoVars(r)
	if err != nil {
		return err
	}
	q, err := parseList(r.URL.Query(), tagSpec)
	if err != nil {
		return err
	}
	proj, err := h.Authorize(r, ns, auth.ActionPull)
	if err != nil {
		return err
	}
	repo, err := h.Dom.Repository(ctx, full)
	if err != nil {
		return err
	}
	tags, total, err := repo.Tags(ctx, q.query("tag"))
	if err != nil {
		return err
	}
	// The page's artifacts and their manifest bytes in one index query.
	digests := make([]string, len(tags))
	for i, t := range tags {
		digests[i] = t.Digest
	}
	arts, err := repo.ArtifactsByDigest(ctx, digests, true)
	if err != nil {
		return err
	}
	out := make([]tagJSON, 0, len(tags))
	for _, t := range tags {
		a, ok := arts[t.Digest]
		if !ok { // deleted since the tag list was read
			return domain.Errorf(domain.ErrNotFound, "artifact %s@%s not found", full, t.Digest)
		}
		out = append(out, h.tagRecord(r, ns, name, proj, t, a))
	}
	contentRange(w, q.Page.Offset, len(out), total)
	h.JSON(w, http.StatusOK, out)
	return nil
}

// tagRecord shapes one tag the way SWR does.
func (h *handler) tagRecord(r *http.Request, ns, repo string, proj domain.Project, t domain.Tag, a domain.Artifact) tagJSON {
	tagType, schema := 0, 2
	switch a.MediaType {
	case "application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json":
		tagType = 1
	case "application/vnd.docker.distribution.manifest.v1+json", "application/vnd.docker.distribution.manifest.v1+prettyjws":
		schema = 1
	}
	// The image ID is the config digest's hex, as docker shows it; an
	// index has no config and is identified by its own digest.
	id := a.ConfigDigest
	if id == "" {
		id = a.Digest
	}
	if _, hexPart, ok := strings.Cut(id, ":"); ok {
		if _, err := hex.DecodeString(hexPart); err == nil {
			id = hexPart
		}
	}
	// updated is when the tag last moved (what order_column=updated_at
	// sorts by); created is never after it, though re-pushing a manifest
	// moves the artifact's push time.
	created := a.PushTime
	if created.IsZero() || t.PushTime.Before(created) {
		created = t.PushTime
	}
	ref := "/" + ns + "/" + repo + ":" + t.Name
	return tagJSON{
		ID: t.ID, RepoID: t.RepositoryID, Tag: t.Name, ImageID: id,
		Manifest: string(a.Manifest), Digest: a.Digest, Schema: schema,
		Path: h.PublicHost(r) + ref, InternalPath: r.Host + ref,
		Size: a.ContentSize, Created: utc(created), Updated: utc(t.PushTime),
		DomainID: domain.AccountID(proj.Creator), TagType: tagType,
	}
}

// utc is SWR's time format: RFC 3339 in UTC, seconds.
func utc(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// DELETE /v2/manage/namespaces/{namespace}/repos/{repository}/tags/{tag}
func (h *handler) deleteTag(w http.ResponseWriter, r *http.Request) error {
	ns, _, full, err := repoVars(r)
	if err != nil {
		return err
	}
	tag := dialect.Var(r, "tag")
	if err := domain.ValidateTag(tag); err != nil {
		return err
	}
	dialect.Subject(r).Tag = tag
	if _, err := h.Authorize(r, ns, auth.ActionDelete); err != nil {
		return err
	}
	repo, err := h.Dom.Repository(r.Context(), full)
	if err == nil {
		err = repo.DeleteTag(r.Context(), tag)
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
