package harborv1

import (
	"net/http"
	"strings"
	"time"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ext/dialect"
	"github.com/berth-registry/berth/registry/domain"
)

// Harbor's project role ids (current_user_role_id); 0 is no role.
var roleIDs = map[string]int{auth.RoleAdmin: 1, auth.RoleDeveloper: 2, auth.RoleGuest: 3}

// project is Harbor 0.4's project record.
type project struct {
	ProjectID       int64  `json:"project_id"`
	OwnerID         int64  `json:"owner_id"`
	Name            string `json:"name"`
	CreationTime    string `json:"creation_time"`
	CreationTimeStr string `json:"creation_time_str"`
	Deleted         int    `json:"deleted"`
	OwnerName       string `json:"owner_name"`
	Public          int    `json:"public"`
	Togglable       bool   `json:"Togglable"`
	UpdateTime      string `json:"update_time"`
	CurrentUserRole int    `json:"current_user_role_id"`
	RepoCount       int64  `json:"repo_count"`
}

// harborTime is Harbor's timestamp: RFC 3339 in UTC, seconds.
func harborTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// listProjects: GET /api/projects?page&page_size&project_name&is_public —
// the projects the caller may see (anonymous callers: the public ones),
// sorted by name; project_name is a substring, is_public 1/true or
// 0/false keeps only public or private projects.
func (a *api) listProjects(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	pg, err := pageParams(q)
	if err != nil {
		return err
	}
	name, err := filterParam(q, "project_name")
	if err != nil {
		return err
	}
	var f domain.ProjectFilter
	switch v := strings.ToLower(strings.TrimSpace(q.Get("is_public"))); v {
	case "":
	case "1", "true", "0", "false":
		public := v == "1" || v == "true"
		f.Public = &public
	default:
		return badParam("is_public must be 1 or 0, not %q", q.Get("is_public"))
	}
	ctx := r.Context()
	p := dialect.Caller(r)
	if f.IDs, err = a.VisibleProjects(r); err != nil {
		return err
	}
	list, total, err := a.Dom.ListProjects(ctx, f, domain.Query{Filter: name, Sort: domain.Sort{By: "name"}, Page: pg.page})
	if err != nil {
		return err
	}
	owners := map[string]int64{}
	out := make([]project, 0, len(list))
	for _, pr := range list {
		rec, err := a.projectRecord(r, p, pr, owners)
		if err != nil {
			return err
		}
		out = append(out, rec)
	}
	setPagination(w, r, total, pg)
	a.JSON(w, http.StatusOK, out)
	return nil
}

// projectRecord shapes a project; owners caches user ids by name.
func (a *api) projectRecord(r *http.Request, p auth.Principal, pr domain.Project, owners map[string]int64) (project, error) {
	ctx := r.Context()
	owner, seen := owners[pr.Creator]
	if !seen {
		id, err := a.Auth.UserID(ctx, pr.Creator)
		if err != nil {
			return project{}, err
		}
		owners[pr.Creator], owner = id, id
	}
	role, err := a.Auth.RoleIn(ctx, p, pr)
	if err != nil {
		return project{}, err
	}
	public := 0
	if pr.Public {
		public = 1
	}
	return project{
		ProjectID:       pr.ID,
		OwnerID:         owner,
		Name:            pr.Name,
		CreationTime:    harborTime(pr.CreatedAt),
		CreationTimeStr: "",
		OwnerName:       pr.Creator,
		Public:          public,
		Togglable:       roleIDs[role] == 1,
		UpdateTime:      harborTime(pr.UpdatedAt),
		CurrentUserRole: roleIDs[role],
		RepoCount:       pr.RepoCount,
	}, nil
}
