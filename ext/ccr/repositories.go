package ccr

import (
	"net/http"
	"strings"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/registry/domain"
	"github.com/berth-registry/berth/storage/metadata"
)

// repoSummaryJSON is a repository in a list (1.5.6).
type repoSummaryJSON struct {
	CreatedAt      string `json:"createdAt"`
	Detail         string `json:"detail"`
	ImageTagCount  int64  `json:"imageTagCount"`
	InstanceID     string `json:"instanceId"`
	ProjectName    string `json:"projectName"`
	Public         bool   `json:"public"`
	RepositoryName string `json:"repositoryName"`
}

// repoDetailJSON is one repository (1.8.6).
type repoDetailJSON struct {
	repoSummaryJSON
	Summary string `json:"summary"`
}

// repoRecord shapes a repository: its name inside the project, the
// project's visibility, and its tag count.
func repoRecord(v vars, proj metadata.Project, repo metadata.Repository) repoDetailJSON {
	return repoDetailJSON{repoSummaryJSON: repoSummaryJSON{
		CreatedAt: formatTime(repo.CreatedAt), Detail: repo.Detail, ImageTagCount: repo.TagCount,
		InstanceID: v.instance, ProjectName: proj.Name, Public: proj.Public,
		RepositoryName: strings.TrimPrefix(repo.Name, proj.Name+"/"),
	}, Summary: repo.Summary}
}

// GET .../projects/{projectName}/repositories?pageNo&pageSize&nameHas
func (h *handler) listRepos(w http.ResponseWriter, r *http.Request, v vars) error {
	ctx := r.Context()
	lp, err := parseList(r.URL.Query())
	if err != nil {
		return err
	}
	proj, err := h.authorize(r, v, auth.ActionPull)
	if err != nil {
		return err
	}
	list, total, err := h.dom.ListRepositories(ctx, metadata.RepoFilter{ProjectID: proj.ID, Prefix: proj.Name + "/"}, lp.query())
	if err != nil {
		return err
	}
	out := make([]repoSummaryJSON, 0, len(list))
	for _, repo := range list {
		out = append(out, repoRecord(v, proj, repo).repoSummaryJSON)
	}
	ok(w, r, map[string]any{"data": out, "totalCount": total})
	return nil
}

// GET .../repositories?pageNo&pageSize&nameHas (section 1.5's example,
// without a project): the repositories of every project the caller may
// see, sorted by full name; nameHas matches a substring of it.
func (h *handler) listAllRepos(w http.ResponseWriter, r *http.Request, v vars) error {
	ctx := r.Context()
	lp, err := parseList(r.URL.Query())
	if err != nil {
		return err
	}
	p, err := h.principal(r)
	if err != nil {
		return err
	}
	ids, err := h.auth.VisibleProjects(ctx, p)
	if err != nil {
		return err
	}
	list, total, err := h.dom.ListRepositories(ctx, metadata.RepoFilter{ProjectIDs: ids}, lp.query())
	if err != nil {
		return err
	}
	// The page's projects in one query.
	pids := []int64{}
	seen := map[int64]bool{}
	for _, repo := range list {
		if !seen[repo.ProjectID] {
			seen[repo.ProjectID] = true
			pids = append(pids, repo.ProjectID)
		}
	}
	projects := map[int64]metadata.Project{}
	if len(pids) > 0 {
		ps, _, err := h.dom.ListProjects(ctx, metadata.ProjectFilter{IDs: pids}, domain.Query{})
		if err != nil {
			return err
		}
		for _, pr := range ps {
			projects[pr.ID] = pr
		}
	}
	out := make([]repoSummaryJSON, 0, len(list))
	for _, repo := range list {
		out = append(out, repoRecord(v, projects[repo.ProjectID], repo).repoSummaryJSON)
	}
	ok(w, r, map[string]any{"data": out, "totalCount": total})
	return nil
}

// POST .../projects/{projectName}/repositories
// {"repositoryName":"sub/test","summary":"..","detail":".."}
func (h *handler) createRepo(w http.ResponseWriter, r *http.Request, v vars) error {
	if _, err := h.authorize(r, v, auth.ActionPush); err != nil {
		return err
	}
	var body struct {
		RepositoryName *string `json:"repositoryName"`
		Summary        string  `json:"summary"`
		Detail         string  `json:"detail"`
	}
	if err := decodeBody(w, r, &body); err != nil {
		return err
	}
	if body.RepositoryName == nil || *body.RepositoryName == "" {
		return badParam("repositoryName is required")
	}
	if err := validateRepositoryName(*body.RepositoryName); err != nil {
		return err
	}
	if err := validateText("summary", body.Summary, maxSummary); err != nil {
		return err
	}
	if err := validateText("detail", body.Detail, maxDetail); err != nil {
		return err
	}
	v.repo = *body.RepositoryName
	full, err := v.fullName()
	if err != nil {
		return err
	}
	if _, err := h.dom.CreateRepository(r.Context(), full, body.Summary, body.Detail); err != nil {
		return err
	}
	h.audit(r, "repository created", "repository", full)
	ok(w, r, nil)
	return nil
}

// GET .../projects/{projectName}/repositories/{repositoryName}
func (h *handler) getRepo(w http.ResponseWriter, r *http.Request, v vars) error {
	ctx := r.Context()
	proj, err := h.authorize(r, v, auth.ActionPull)
	if err != nil {
		return err
	}
	full, err := v.fullName()
	if err != nil {
		return err
	}
	repo, err := h.dom.GetRepository(ctx, full)
	if err != nil {
		return err
	}
	ok(w, r, map[string]any{"data": repoRecord(v, proj, repo)})
	return nil
}

// DELETE .../projects/{projectName}/repositories/{repositoryName}: the
// repository with every artifact and tag in it.
func (h *handler) deleteRepo(w http.ResponseWriter, r *http.Request, v vars) error {
	if _, err := h.authorize(r, v, auth.ActionDelete); err != nil {
		return err
	}
	full, err := v.fullName()
	if err != nil {
		return err
	}
	if err := h.dom.DeleteRepository(r.Context(), full); err != nil {
		return err
	}
	h.audit(r, "repository deleted", "repository", full)
	ok(w, r, nil)
	return nil
}
