package bkrepo

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/registry/domain"
	"github.com/berth-registry/berth/storage/metadata"
)

// maxScan bounds how many repositories of one project the image list reads
// to find those under projectId/repoName/ (bk-repo filters by a prefix and a
// name substring at once; the core filters by one substring).
const maxScan = 100 * domain.MaxPageSize

// dateLayout is bk-repo's date: ISO-8601 local time with milliseconds.
const dateLayout = "2006-01-02T15:04:05.000"

func date(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Local().Format(dateLayout)
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
func (a *api) listImages(w http.ResponseWriter, r *http.Request, segs []string) error {
	im, err := repoOnly(segs)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	number, size, page, err := pageParams(q)
	if err != nil {
		return err
	}
	projectID, err := a.authorize(r, im.project, auth.ActionPull)
	if err != nil {
		return err
	}
	all, found, err := a.imagesUnder(r.Context(), projectID, im.prefix(), strings.ToLower(q.Get("name")))
	if err != nil {
		return err
	}
	if !found {
		return notFound("repository %s/%s not found", im.project, im.repo)
	}
	records := []imageRecord{}
	for i := page.Offset; i < len(all) && i < page.Offset+page.Limit; i++ {
		rec, err := a.imageRecord(r.Context(), all[i], im.prefix())
		if err != nil {
			return err
		}
		records = append(records, rec)
	}
	ok(w, r, newPage(int64(len(all)), number, size, records))
	return nil
}

// imagesUnder returns, sorted by name, the repositories of a project under
// prefix whose image name contains filter; found reports whether any
// repository is under prefix at all (the bk-repo repository exists).
func (a *api) imagesUnder(ctx context.Context, projectID int64, prefix, filter string) ([]metadata.Repository, bool, error) {
	var out []metadata.Repository
	found := false
	for offset := 0; offset < maxScan; offset += domain.MaxPageSize {
		q := domain.Query{Filter: prefix, Sort: domain.Sort{By: "name"}, Page: domain.Page{Offset: offset, Limit: domain.MaxPageSize}}
		repos, _, err := a.dom.ListRepositories(ctx, metadata.RepoFilter{ProjectID: projectID}, q)
		if err != nil {
			return nil, false, err
		}
		for _, repo := range repos {
			name, under := strings.CutPrefix(repo.Name, prefix)
			if !under {
				continue
			}
			found = true
			if strings.Contains(name, filter) {
				out = append(out, repo)
			}
		}
		if len(repos) < domain.MaxPageSize {
			break
		}
	}
	return out, found, nil
}

// imageRecord describes a repository; who pushed last comes from its
// newest artifact.
func (a *api) imageRecord(ctx context.Context, repo metadata.Repository, prefix string) (imageRecord, error) {
	rec := imageRecord{
		Name:             strings.TrimPrefix(repo.Name, prefix),
		LastModifiedDate: date(repo.UpdatedAt),
		DownloadCount:    repo.PullCount,
		Description:      repo.Summary,
	}
	newest := domain.Query{Sort: domain.Sort{By: "push_time", Desc: true}, Page: domain.Page{Limit: 1}}
	arts, _, err := a.dom.ListArtifacts(ctx, repo.Name, newest)
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
func (a *api) deletePackage(w http.ResponseWriter, r *http.Request, segs []string) error {
	im, _, err := packageParams(segs, r.URL.Query(), false)
	if err != nil {
		return err
	}
	if _, err := a.authorize(r, im.project, auth.ActionDelete); err != nil {
		return err
	}
	if err := a.dom.DeleteRepository(r.Context(), im.full()); err != nil {
		return err
	}
	a.audit(r, "docker ext: package deleted", "repository", im.full())
	ok(w, r, true)
	return nil
}
