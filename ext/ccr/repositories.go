package ccr

import (
	"net/http"
	"strings"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ext/dialect"
	"github.com/berth-registry/berth/registry/domain"
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
func repoRecord(r *http.Request, proj domain.Project, repo domain.Repository) repoDetailJSON {
	return repoDetailJSON{repoSummaryJSON: repoSummaryJSON{
		CreatedAt: formatTime(repo.CreatedAt), Detail: repo.Detail, ImageTagCount: repo.TagCount,
		InstanceID: dialect.Var(r, "instance"), ProjectName: proj.Name, Public: proj.Public,
		RepositoryName: strings.TrimPrefix(repo.Name, proj.Name+"/"),
	}, Summary: repo.Summary}
}

// GET .../projects/{projectName}/repositories?pageNo&pageSize&nameHas
func (h *handler) listRepos(w http.ResponseWriter, r *http.Request) error {
	lp, err := parseList(r.URL.Query())
	if err != nil {
		return err
	}
	proj, err := h.project(r, auth.ActionPull)
	if err != nil {
		return err
	}
	list, total, err := h.Dom.ListRepositories(r.Context(), domain.RepoFilter{ProjectID: proj.ID, Prefix: proj.Name + "/"}, lp.query())
	if err != nil {
		return err
	}
	out := make([]repoSummaryJSON, 0, len(list))
	for _, repo := range list {
		out = append(out, repoRecord(r, proj, repo).repoSummaryJSON)
	}
	return h.ok(w, r, map[string]any{"data": out, "totalCount": total})
}

// GET .../repositories?pageNo&pageSize&nameHas (section 1.5's example,
// without a project): the repositories of every project the caller may
// see, sorted by full name; nameHas matches a substring of it.
func (h *handler) listAllRepos(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	lp, err := parseList(r.URL.Query())
	if err != nil {
		return err
	}
	ids, err := h.VisibleProjects(r)
	if err != nil {
		return err
	}
	list, total, err := h.Dom.ListRepositories(ctx, domain.RepoFilter{ProjectIDs: ids}, lp.query())
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
	projects := map[int64]domain.Project{}
	if len(pids) > 0 {
		ps, _, err := h.Dom.ListProjects(ctx, domain.ProjectFilter{IDs: pids}, domain.Query{})
		if err != nil {
			return err
		}
		for _, pr := range ps {
			projects[pr.ID] = pr
		}
	}
	out := make([]repoSummaryJSON, 0, len(list))
	for _, repo := range list {
		out = append(out, repoRecord(r, projects[repo.ProjectID], repo).repoSummaryJSON)
	}
	return h.ok(w, r, map[string]any{"data": out, "totalCount": total})
}

// POST .../projects/{projectName}/repositories
// {"repositoryName":"sub/test","summary":"..","detail":".."}
func (h *handler) createRepo(w http.ResponseWriter, r *http.Request) error {
	if _, err := h.project(r, auth.ActionPush); err != nil {
		return err
	}
	var body struct {
		RepositoryName *string `json:"repositoryName"`
		Summary        string  `json:"summary"`
		Detail         string  `json:"detail"`
	}
	if err := h.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	if body.RepositoryName == nil || *body.RepositoryName == "" {
		return dialect.Invalidf("repositoryName is required")
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
	full, err := fullName(r, *body.RepositoryName)
	if err != nil {
		return err
	}
	if _, err := h.Dom.CreateRepository(r.Context(), full, body.Summary, body.Detail); err != nil {
		return err
	}
	return h.ok(w, r, nil)
}

// GET .../projects/{projectName}/repositories/{repositoryName}
func (h *handler) getRepo(w http.ResponseWriter, r *http.Request) error {
	proj, repo, err := h.repository(r, auth.ActionPull)
	if err != nil {
		return err
	}
	return h.ok(w, r, map[string]any{"data": repoRecord(r, proj, repo.Repository)})
}

// DELETE .../projects/{projectName}/repositories/{repositoryName}: the
// repository with every artifact and tag in it.
func (h *handler) deleteRepo(w http.ResponseWriter, r *http.Request) error {
	_, repo, err := h.repository(r, auth.ActionDelete)
	if err != nil {
		return err
	}
	if err := repo.Delete(r.Context()); err != nil {
		return err
	}
	return h.ok(w, r, nil)
}
