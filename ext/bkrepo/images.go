package bkrepo

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/registry/domain"
)

// dateLayout is bk-repo's date: ISO-8601 local time with milliseconds.
const dateLayout = "2006-01-02T15:04:05.000"

func date(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Local().Format(dateLayout)
}

// createdLayout is the detail's createdDate, as the seed's example has it:
// "2020-09-17 03:48:42.896Z" (UTC, milliseconds).
const createdLayout = "2006-01-02 15:04:05.000Z"

func createdDate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(createdLayout)
}

// imageRecord is one image of GET /docker/ext/repo.
type imageRecord struct {
	Name             string `json:"name"`
	LastModifiedBy   string `json:"lastModifiedBy"`
	LastModifiedDate string `json:"lastModifiedDate"`
	DownloadCount    int64  `json:"downloadCount"`
	LogoURL          string `json:"logoUrl"`
	Description      string `json:"description"`
}

// listImages: GET /docker/ext/repo/{p}/{r}?pageNumber&pageSize&name.
func (a *api) listImages(w http.ResponseWriter, r *http.Request) error {
	im, err := pathImage(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	number, size, page, err := pageParams(q)
	if err != nil {
		return err
	}
	proj, err := a.Authorize(r, im.project, auth.ActionPull)
	if err != nil {
		return err
	}
	ctx := r.Context()
	under := domain.RepoFilter{ProjectID: proj.ID, Prefix: im.prefix()}
	byName := domain.Sort{By: "name"}
	repos, total, err := a.Dom.ListRepositories(ctx, under, domain.Query{
		Filter: strings.ToLower(q.Get("name")), Sort: byName, Page: page,
	})
	if err != nil {
		return err
	}
	if total == 0 {
		// No match: is there any image under projectId/repoName at all?
		if _, n, err := a.Dom.ListRepositories(ctx, under, domain.Query{Sort: byName, Page: domain.Page{Limit: 1}}); err != nil {
			return err
		} else if n == 0 {
			return notFound("repository %s/%s not found", im.project, im.repo)
		}
	}
	records := make([]imageRecord, 0, len(repos))
	for _, repo := range repos {
		rec, err := a.imageRecord(ctx, repo, im.prefix())
		if err != nil {
			return err
		}
		records = append(records, rec)
	}
	return a.ok(w, r, newPage(total, number, size, records))
}

// imageRecord describes a repository; who pushed last comes from its
// newest artifact.
func (a *api) imageRecord(ctx context.Context, repo domain.Repository, prefix string) (imageRecord, error) {
	rec := imageRecord{
		Name:             strings.TrimPrefix(repo.Name, prefix),
		LastModifiedDate: date(repo.UpdatedAt),
		DownloadCount:    repo.PullCount,
		Description:      repo.Summary,
	}
	newest := domain.Query{Sort: domain.Sort{By: "push_time", Desc: true}, Page: domain.Page{Limit: 1}}
	arts, _, err := a.Dom.Repo(repo).Artifacts(ctx, newest)
	if err != nil && !isNotFound(err) {
		return rec, err
	}
	if len(arts) > 0 {
		rec.LastModifiedBy = arts[0].PushedBy
	}
	return rec, nil
}

// deletePackage: DELETE /docker/ext/package/delete/{p}/{r}?packageKey — the
// image with every tag and artifact.
func (a *api) deletePackage(w http.ResponseWriter, r *http.Request) error {
	im, _, err := packageParams(r, false)
	if err != nil {
		return err
	}
	repo, err := a.repository(r, im, auth.ActionDelete)
	if err == nil {
		err = repo.Delete(r.Context())
	}
	if err != nil {
		return err
	}
	return a.ok(w, r, true)
}
