package swr

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/registry/domain"
	"github.com/berth-registry/berth/storage/metadata"
)

// Repository attributes this dialect keeps (the description is the core's
// summary, shared with the other dialects).
const (
	attrCategory = "swr.category"
	attrPublic   = "swr.is_public"
	maxDescLen   = 30000
)

// categories SWR accepts for a repository.
var categories = map[string]bool{"app_server": true, "linux": true, "framework_app": true, "database": true,
	"lang": true, "other": true, "windows": true, "arm": true}

// repoSpec: repositories sort by name, update or creation time and filter
// by a substring of the full name (and, across namespaces, by namespace).
var repoSpec = listSpec{
	filters:     map[string]*regexp.Regexp{"name": nameFilterRE},
	columns:     map[string]string{"name": "name", "updated_time": "updated", "created_time": "created"},
	defaultSort: domain.Sort{By: "name"},
}

var allReposSpec = listSpec{
	filters:     map[string]*regexp.Regexp{"name": nameFilterRE, "namespace": nameFilterRE},
	columns:     repoSpec.columns,
	defaultSort: repoSpec.defaultSort,
}

// repoJSON is SWR's repository record.
type repoJSON struct {
	ID           int64  `json:"id"`
	NamespaceID  int64  `json:"ns_id"`
	Namespace    string `json:"namespace"`
	Name         string `json:"name"`
	Category     string `json:"category"`
	Description  string `json:"description"`
	IsPublic     bool   `json:"is_public"`
	NumImages    int64  `json:"num_images"`
	NumDownload  int64  `json:"num_download"`
	Path         string `json:"path"`
	InternalPath string `json:"internal_path"`
	Created      string `json:"created"`
	Updated      string `json:"updated"`
	DomainID     string `json:"domain_id"`
}

func (h *handler) repoRecord(r *http.Request, proj metadata.Project, repo metadata.Repository) repoJSON {
	ns, name, _ := strings.Cut(repo.Name, "/")
	public, _ := strconv.ParseBool(repo.Attrs[attrPublic])
	return repoJSON{ID: repo.ID, NamespaceID: repo.ProjectID, Namespace: ns, Name: name,
		Category: repo.Attrs[attrCategory], Description: repo.Summary, IsPublic: public,
		NumImages: repo.TagCount, NumDownload: repo.PullCount,
		Path: h.publicHost(r) + "/" + repo.Name, InternalPath: r.Host + "/" + repo.Name,
		Created: utc(repo.CreatedAt), Updated: utc(repo.UpdatedAt), DomainID: domain.AccountID(proj.Creator)}
}

// repoFields are the settable fields of a repository.
type repoFields struct {
	Category    *string `json:"category"`
	Description *string `json:"description"`
	IsPublic    *bool   `json:"is_public"`
}

func (f repoFields) validate() error {
	if f.Category != nil && !categories[*f.Category] {
		return badBody("category %q is not one of app_server, arm, database, framework_app, lang, linux, other, windows", clip(*f.Category))
	}
	if d := f.Description; d != nil && (len(*d) > maxDescLen || !utf8.ValidString(*d) || strings.ContainsRune(*d, 0)) {
		return badBody("description must be valid UTF-8 without NUL, at most %d bytes", maxDescLen)
	}
	return nil
}

// apply sets the given fields on repo.
func (f repoFields) apply(repo *metadata.Repository) {
	if repo.Attrs == nil {
		repo.Attrs = map[string]string{}
	}
	if f.Category != nil {
		repo.Attrs[attrCategory] = *f.Category
	}
	if f.Description != nil {
		repo.Summary = *f.Description
	}
	if f.IsPublic != nil {
		repo.Attrs[attrPublic] = strconv.FormatBool(*f.IsPublic)
	}
}

// POST /v2/manage/namespaces/{namespace}/repos
// {"repository":"busybox","category":"linux","description":"...","is_public":false}
func (h *handler) createRepo(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ns, err := namespaceVar(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if _, err := h.authorize(r, ns, auth.ActionPush); err != nil {
		h.fail(w, r, err)
		return
	}
	var body struct {
		Repository string `json:"repository"`
		repoFields
	}
	if err := decodeBody(w, r, &body); err != nil {
		h.fail(w, r, err)
		return
	}
	if body.Category == nil {
		other := "other"
		body.Category = &other
	}
	if body.IsPublic == nil {
		private := false
		body.IsPublic = &private
	}
	if err := body.validate(); err != nil {
		h.fail(w, r, err)
		return
	}
	if body.Repository == "" {
		h.fail(w, r, badBody("repository is required"))
		return
	}
	full := ns + "/" + strings.ReplaceAll(body.Repository, "$", "/")
	if err := domain.ValidateRepositoryName(full); err != nil {
		h.fail(w, r, badBody("%s", err.Error()))
		return
	}
	repo, err := h.dom.CreateRepository(ctx, full, "", "")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	body.apply(&repo)
	if err := h.dom.UpdateRepository(ctx, repo); err != nil {
		// Never leave a half-made repository behind.
		if derr := h.dom.DeleteRepository(ctx, full); derr != nil {
			h.log.ErrorContext(ctx, "swr: removing a half-created repository", "repository", full, "err", derr)
		}
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusCreated)
}

// GET /v2/manage/namespaces/{namespace}/repos/{repository}
func (h *handler) getRepo(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ns, _, full, err := repoVars(r)
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
	repo, err := h.dom.GetRepository(ctx, full)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	// The tag count comes with lists only; a one-tag page carries the total.
	if _, repo.TagCount, err = h.dom.ListTags(ctx, full, domain.Query{Page: domain.Page{Limit: 1}}); err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, h.repoRecord(r, proj, repo))
}

// PATCH /v2/manage/namespaces/{namespace}/repos/{repository}
// {"category":..,"description":..,"is_public":..}; absent fields stay.
func (h *handler) updateRepo(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ns, _, full, err := repoVars(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if _, err := h.authorize(r, ns, auth.ActionPush); err != nil {
		h.fail(w, r, err)
		return
	}
	var body repoFields
	if err := decodeBody(w, r, &body); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := body.validate(); err != nil {
		h.fail(w, r, err)
		return
	}
	repo, err := h.dom.GetRepository(ctx, full)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	body.apply(&repo)
	if err := h.dom.UpdateRepository(ctx, repo); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusCreated) // SWR answers an update with 201
}

// DELETE /v2/manage/namespaces/{namespace}/repos/{repository}: the
// repository with every image in it.
func (h *handler) deleteRepo(w http.ResponseWriter, r *http.Request) {
	ns, _, full, err := repoVars(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	p, err := h.authorize(r, ns, auth.ActionDelete)
	if err == nil {
		err = h.dom.DeleteRepository(r.Context(), full)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.InfoContext(r.Context(), "repository deleted", "repository", full, "by", p.DisplayName())
	w.WriteHeader(http.StatusNoContent)
}

// GET /v2/manage/namespaces/{namespace}/repos
func (h *handler) listRepos(w http.ResponseWriter, r *http.Request) {
	ns, err := namespaceVar(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.serveRepoList(w, r, ns, repoSpec)
}

// GET /v2/manage/repos[?namespace=..]: repositories of every namespace the
// caller may see.
func (h *handler) listAllRepos(w http.ResponseWriter, r *http.Request) {
	h.serveRepoList(w, r, "", allReposSpec)
}

func (h *handler) serveRepoList(w http.ResponseWriter, r *http.Request, ns string, spec listSpec) {
	ctx := r.Context()
	q, err := parseList(r.URL.Query(), spec)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if ns == "" {
		ns = q.Filters["namespace"]
	}
	var f metadata.RepoFilter
	if ns != "" {
		if err := domain.ValidateProjectName(ns); err != nil {
			h.fail(w, r, err)
			return
		}
		p, err := h.principal(r)
		if err == nil {
			var proj metadata.Project
			proj, err = h.auth.Check(ctx, p, ns, auth.ActionPull)
			f.ProjectID = proj.ID
		}
		if err != nil {
			h.fail(w, r, err)
			return
		}
	} else {
		p, err := h.principal(r)
		if err == nil {
			f.ProjectIDs, err = h.auth.VisibleProjects(ctx, p)
		}
		if err != nil {
			h.fail(w, r, err)
			return
		}
	}
	list, total, err := h.dom.ListRepositories(ctx, f, q.query("name"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	projects := map[int64]metadata.Project{}
	out := make([]repoJSON, 0, len(list))
	for _, repo := range list {
		proj, ok := projects[repo.ProjectID]
		if !ok {
			if proj, err = h.dom.GetProjectByID(ctx, repo.ProjectID); err != nil {
				h.fail(w, r, err)
				return
			}
			projects[repo.ProjectID] = proj
		}
		out = append(out, h.repoRecord(r, proj, repo))
	}
	contentRange(w, q.Page.Offset, len(out), total)
	writeJSON(w, http.StatusOK, out)
}
