package swr

import (
	"encoding/hex"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/registry/domain"
	"github.com/berth-registry/berth/storage/metadata"
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
func (h *handler) listTags(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ns, repo, full, err := repoVars(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	q, err := parseList(r.URL.Query(), tagSpec)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if _, err := h.authorize(r, ns, auth.ActionPull); err != nil {
		h.fail(w, r, err)
		return
	}
	proj, err := h.dom.GetProject(ctx, ns)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	tags, total, err := h.dom.ListTags(ctx, full, q.query("tag"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	// The page's artifacts and their manifest bytes in one index query.
	digests := make([]string, len(tags))
	for i, t := range tags {
		digests[i] = t.Digest
	}
	arts, err := h.dom.ArtifactsByDigest(ctx, full, digests, true)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]tagJSON, 0, len(tags))
	for _, t := range tags {
		a, ok := arts[t.Digest]
		if !ok { // deleted since the tag list was read
			h.fail(w, r, domain.Errorf(domain.ErrNotFound, "artifact %s@%s not found", full, t.Digest))
			return
		}
		out = append(out, h.tagRecord(r, ns, repo, proj, t, a))
	}
	contentRange(w, q.Page.Offset, len(out), total)
	writeJSON(w, http.StatusOK, out)
}

// tagRecord shapes one tag the way SWR does.
func (h *handler) tagRecord(r *http.Request, ns, repo string, proj metadata.Project, t metadata.Tag, a metadata.Artifact) tagJSON {
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
		Path: h.publicHost(r) + ref, InternalPath: r.Host + ref,
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
func (h *handler) deleteTag(w http.ResponseWriter, r *http.Request) {
	ns, _, full, err := repoVars(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	tag := mux.Vars(r)["tag"]
	if err := domain.ValidateTag(tag); err != nil {
		h.fail(w, r, err)
		return
	}
	if _, err := h.authorize(r, ns, auth.ActionDelete); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.dom.DeleteTag(r.Context(), full, tag); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
