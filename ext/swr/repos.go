package swr

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ext/dialect"
	"github.com/berth-registry/berth/registry/domain"
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

func (h *handler) repoRecord(r *http.Request, proj domain.Project, repo domain.Repository) repoJSON {
	ns, name, _ := strings.Cut(repo.Name, "/")
	public, _ := strconv.ParseBool(repo.Attrs[attrPublic])
	return repoJSON{ID: repo.ID, NamespaceID: repo.ProjectID, Namespace: ns, Name: name,
		Category: repo.Attrs[attrCategory], Description: repo.Summary, IsPublic: public,
		NumImages: repo.TagCount, NumDownload: repo.PullCount,
		Path: h.PublicHost(r) + "/" + repo.Name, InternalPath: r.Host + "/" + repo.Name,
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
		return badBody("category %q is not one of app_server, arm, database, framework_app, lang, linux, other, windows", dialect.Clip(*f.Category))
	}
	if d := f.Description; d != nil && (len(*d) > maxDescLen || !utf8.ValidString(*d) || strings.ContainsRune(*d, 0)) {
		return badBody("description must be valid UTF-8 without NUL, at most %d bytes", maxDescLen)
	}
	return nil
}

// apply sets the given fields on repo.
func (f repoFields) apply(repo *domain.Repository) {
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
func (h *handler) createRepo(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	ns, err := namespaceVar(r)
	if err != nil {
		return err
	}
	if _, err := h.Authorize(r, ns, auth.ActionPush); err != nil {
		return err
	}
	var body struct {
		Repository string `json:"repository"`
		repoFields
	}
	if err := h.DecodeJSON(w, r, &body); err != nil {
		return err
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
		return err
	}
	if body.Repository == "" {
		return badBody("repository is required")
	}
	full := ns + "/" + strings.ReplaceAll(body.Repository, "$", "/")
	if err := domain.ValidateRepositoryName(full); err != nil {
		return badBody("%s", err.Error())
	}
	dialect.Subject(r).Repository = full
	repo, err := h.Dom.CreateRepository(ctx, full, "", "")
	if err != nil {
		return err
	}
	body.apply(&repo.Repository)
	if err := repo.Update(ctx); err != nil {
		// Never leave a half-made repository behind.
		if derr := repo.Delete(ctx); derr != nil {
			h.Log.ErrorContext(ctx, "removing a half-created repository", "repository", full, "err", derr)
		}
		return err
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

// GET /v2/manage/namespaces/{namespace}/repos/{repository}
func (h *handler) getRepo(w http.ResponseWriter, r *http.Request) error {
	proj, repo, err := h.repository(r, auth.ActionPull)
	if err != nil {
		return err
	}
	// The tag count comes with lists only; a one-tag page carries the total.
	if _, repo.TagCount, err = repo.Tags(r.Context(), domain.Query{Page: domain.Page{Limit: 1}}); err != nil {
		return err
	}
	h.JSON(w, http.StatusOK, h.repoRecord(r, proj, repo.Repository))
	return nil
}

// PATCH /v2/manage/namespaces/{namespace}/repos/{repository}
// {"category":..,"description":..,"is_public":..}; absent fields stay.
func (h *handler) updateRepo(w http.ResponseWriter, r *http.Request) error {
	ns, _, full, err := repoVars(r)
	if err != nil {
		return err
	}
	if _, err := h.Authorize(r, ns, auth.ActionPush); err != nil {
		return err
	}
	var body repoFields
	if err := h.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	if err := body.validate(); err != nil {
		return err
	}
	repo, err := h.Dom.Repository(r.Context(), full)
	if err != nil {
		return err
	}
	body.apply(&repo.Repository)
	if err := repo.Update(r.Context()); err != nil {
		return err
	}
	w.WriteHeader(http.StatusCreated) // SWR answers an update with 201
	return nil
}

// DELETE /v2/manage/namespaces/{namespace}/repos/{repository}: the
// repository with every image in it.
func (h *handler) deleteRepo(w http.ResponseWriter, r *http.Request) error {
	_, repo, err := h.repository(r, auth.ActionDelete)
	if err != nil {
		return err
	}
	if err := repo.Delete(r.Context()); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// GET /v2/manage/namespaces/{namespace}/repos
func (h *handler) listRepos(w http.ResponseWriter, r *http.Request) error {
	ns, err := namespaceVar(r)
	if err != nil {
		return err
	}
	return h.serveRepoList(w, r, ns, repoSpec)
}

// GET /v2/manage/repos[?namespace=..]: repositories of every namespace the
// caller may see.
func (h *handler) listAllRepos(w http.ResponseWriter, r *http.Request) error {
	return h.serveRepoList(w, r, "", allReposSpec)
}

func (h *handler) serveRepoList(w http.ResponseWriter, r *http.Request, ns string, spec listSpec) error {
	ctx := r.Context()
	q, err := parseList(r.URL.Query(), spec)
	if err != nil {
		return err
	}
	if ns == "" {
		ns = q.Filters["namespace"]
	}
	var f domain.RepoFilter
	if ns != "" {
		if err := domain.ValidateProjectName(ns); err != nil {
			return err
		}
		proj, err := h.Authorize(r, ns, auth.ActionPull)
		if err != nil {
			return err
		}
		f.ProjectID = proj.ID
	} else if f.ProjectIDs, err = h.VisibleProjects(r); err != nil {
		return err
	}
	list, total, err := h.Dom.ListRepositories(ctx, f, q.query("name"))
	if err != nil {
		return err
	}
	projects := map[int64]domain.Project{}
	out := make([]repoJSON, 0, len(list))
	for _, repo := range list {
		proj, ok := projects[repo.ProjectID]
		if !ok {
			if proj, err = h.Dom.GetProjectByID(ctx, repo.ProjectID); err != nil {
				return err
			}
			projects[repo.ProjectID] = proj
		}
		out = append(out, h.repoRecord(r, proj, repo))
	}
	contentRange(w, q.Page.Offset, len(out), total)
	h.JSON(w, http.StatusOK, out)
	return nil
}
