package harborv1

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ext/dialect"
	"github.com/berth-registry/berth/registry/domain"
	"github.com/berth-registry/berth/registry/observe"
)

// repository is one entry of GET /api/repositories: the seed's {"name"}
// with Harbor 1.x's other fields beside it.
type repository struct {
	Name         string `json:"name"`
	ID           int64  `json:"id"`
	ProjectID    int64  `json:"project_id"`
	TagsCount    int64  `json:"tags_count"`
	PullCount    int64  `json:"pull_count"`
	CreationTime string `json:"creation_time"`
	UpdateTime   string `json:"update_time"`
}

// tag is one entry of GET /api/repositories/tags: the seed's {"name"} with
// the digest and push time.
type tag struct {
	Name    string `json:"name"`
	Digest  string `json:"digest"`
	Created string `json:"created"`
}

// listRepositories: GET /api/repositories?project_id&q&page&page_size —
// the repositories of a project (of every visible project without
// project_id), sorted by name; q is a substring of the full name.
func (a *api) listRepositories(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	pg, err := pageParams(q)
	if err != nil {
		return err
	}
	filter, err := filterParam(q, "q")
	if err != nil {
		return err
	}
	ctx := r.Context()
	p := dialect.Caller(r)
	var f domain.RepoFilter
	if s := strings.TrimSpace(q.Get("project_id")); s != "" {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id < 1 {
			return badParam("project_id %q is not a positive integer", s)
		}
		proj, err := a.Dom.GetProjectByID(ctx, id)
		if errors.Is(err, domain.ErrNotFound) {
			return hidden(p)
		} else if err != nil {
			return err
		}
		if _, err := a.Auth.Check(ctx, p, proj.Name, auth.ActionPull); err != nil {
			return err
		}
		f.ProjectID = id
	} else if f.ProjectIDs, err = a.Auth.VisibleProjects(ctx, p); err != nil {
		return err
	}
	list, total, err := a.Dom.ListRepositories(ctx, f, domain.Query{Filter: filter, Sort: domain.Sort{By: "name"}, Page: pg.page})
	if err != nil {
		return err
	}
	out := make([]repository, 0, len(list))
	for _, repo := range list {
		out = append(out, repository{Name: repo.Name, ID: repo.ID, ProjectID: repo.ProjectID, TagsCount: repo.TagCount,
			PullCount: repo.PullCount, CreationTime: harborTime(repo.CreatedAt), UpdateTime: harborTime(repo.UpdatedAt)})
	}
	setPagination(w, r, total, pg)
	a.JSON(w, http.StatusOK, out)
	return nil
}

// listTags: GET /api/repositories/tags?repo_name — the repository's tags
// sorted by name; whole unless page or page_size is given.
func (a *api) listTags(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	pg := paging{page: domain.All}
	if asksForPage(q) {
		var err error
		if pg, err = pageParams(q); err != nil {
			return err
		}
	}
	repo, err := a.repoParam(r, q.Get("repo_name"), auth.ActionPull)
	if err != nil {
		return err
	}
	tags, total, err := repo.Tags(r.Context(), domain.Query{Sort: domain.Sort{By: "name"}, Page: pg.page})
	if err != nil {
		return err
	}
	out := make([]tag, 0, len(tags))
	for _, t := range tags {
		out = append(out, tag{Name: t.Name, Digest: t.Digest, Created: harborTime(t.PushTime)})
	}
	if pg.size > 0 {
		setPagination(w, r, total, pg)
	} else {
		w.Header().Set("X-Total-Count", strconv.FormatInt(total, 10))
	}
	a.JSON(w, http.StatusOK, out)
	return nil
}

// manifest: GET /api/repositories/manifests?repo_name&tag — the manifest
// as a JSON object and the image config as a string ("" for an index or an
// artifact without config). tag may be a digest.
func (a *api) manifest(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	ref := strings.TrimSpace(q.Get("tag"))
	if ref == "" {
		return badParam("tag is required")
	}
	if strings.Contains(ref, ":") {
		if _, err := domain.ParseDigest(ref); err != nil {
			return err
		}
	} else if err := domain.ValidateTag(ref); err != nil {
		return err
	}
	repo, err := a.repoParam(r, q.Get("repo_name"), auth.ActionPull)
	if err != nil {
		return err
	}
	ctx := r.Context()
	m, err := repo.Manifest(ctx, ref)
	if err != nil {
		return err
	}
	art, err := repo.Artifact(ctx, m.Digest) // by digest: the tag may move meanwhile
	if err != nil {
		return err
	}
	config := ""
	if art.ConfigDigest != "" {
		b, err := repo.Config(ctx, m.Digest)
		if err != nil {
			return err
		}
		config = string(b)
	}
	a.JSON(w, http.StatusOK, struct {
		Manifest json.RawMessage `json:"manifest"`
		Config   string          `json:"config"`
	}{json.RawMessage(m.Payload), config})
	return nil
}

// deleteRepository: DELETE /api/repositories?repo_name[&tag] — the tag
// (other tags of its manifest stay), or without a tag the whole repository.
// The seed's body {"repoName":"1.1","projectName":"myweb"} is tag 1.1 of
// the image myweb.
func (a *api) deleteRepository(w http.ResponseWriter, r *http.Request) error {
	dp, err := readDeleteParams(w, r)
	if err != nil {
		return err
	}
	return a.delete(w, r, dp)
}

// postRepositories: POST /repositories with method=DELETE (query, body or
// X-HTTP-Method-Override) is the seed's way of calling the delete; any
// other POST is 405.
func (a *api) postRepositories(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Allow", "DELETE, GET, HEAD, POST")
	dp, err := readDeleteParams(w, r)
	if dp.method == "" {
		dp.method = strings.ToUpper(r.Header.Get("X-HTTP-Method-Override"))
	}
	if dp.method != http.MethodDelete {
		return domain.Errorf(dialect.ErrMethod, "method not allowed: POST without method=DELETE")
	}
	if err != nil {
		return err
	}
	return a.delete(w, r, dp)
}

func (a *api) delete(w http.ResponseWriter, r *http.Request, dp deleteParams) error {
	if dp.tag != "" {
		ev := dialect.Subject(r)
		ev.Action, ev.Tag = observe.TagDelete, dp.tag
	}
	repo, err := a.repoParam(r, dp.repo, auth.ActionDelete)
	if err != nil {
		return err
	}
	if dp.tag != "" {
		err = repo.DeleteTag(r.Context(), dp.tag)
	} else {
		err = repo.Delete(r.Context())
	}
	if err != nil {
		return err
	}
	a.JSON(w, http.StatusOK, result{Code: 0, Msg: ""})
	return nil
}

// repoParam validates a repo_name, resolves a bare image name, checks
// action on its project and resolves the repository.
func (a *api) repoParam(r *http.Request, name, action string) (*domain.Repo, error) {
	name = strings.TrimSpace(name)
	if err := checkName("repo_name", name); err != nil {
		return nil, err
	}
	full := name
	if !strings.Contains(name, "/") {
		var err error
		if full, err = a.resolveBare(r.Context(), dialect.Caller(r), name); err != nil {
			return nil, err
		}
	} else if err := domain.ValidateRepositoryName(name); err != nil {
		return nil, err
	}
	dialect.Subject(r).Repository = full
	if err := a.authorize(r, full, action); err != nil {
		return nil, err
	}
	return a.Dom.Repository(r.Context(), full)
}

// maxCandidates bounds the repositories a bare name is looked up among.
const maxCandidates = domain.MaxPageSize

// resolveBare turns an image name without a project (the seed's "myweb")
// into the one repository <project>/<name> the caller may see; none is not
// found, several are ambiguous (400, naming them).
func (a *api) resolveBare(ctx context.Context, p auth.Principal, name string) (string, error) {
	if err := domain.ValidateRepositoryName("x/" + name); err != nil {
		return "", badParam("repo_name %q is not a repository name", name)
	}
	ids, err := a.Auth.VisibleProjects(ctx, p)
	if err != nil {
		return "", err
	}
	list, _, err := a.Dom.ListRepositories(ctx, domain.RepoFilter{ProjectIDs: ids},
		domain.Query{Filter: "/" + name, Sort: domain.Sort{By: "name"}, Page: domain.Page{Limit: maxCandidates}})
	if err != nil {
		return "", err
	}
	var found []string
	for _, repo := range list {
		if project, rest, _ := strings.Cut(repo.Name, "/"); rest == name && project != "" {
			found = append(found, repo.Name)
		}
	}
	switch len(found) {
	case 0:
		if !p.Authenticated() {
			return "", auth.ErrUnauthenticated // it may live in a private project
		}
		return "", dialect.NotFoundf("repository %q not found; name it <project>/%s", name, name)
	case 1:
		return found[0], nil
	}
	return "", badParam("repository name %q is ambiguous (%s); name it <project>/%s", name, strings.Join(found, ", "), name)
}
