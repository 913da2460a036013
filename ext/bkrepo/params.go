package bkrepo

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/berth-registry/berth/ext/dialect"
	"github.com/berth-registry/berth/registry/domain"
)

// Paging defaults of bk-repo: pages from 1, 20 records.
const (
	defaultPageSize = 20
	packageScheme   = "docker://"
)

// decodeSegment unescapes one raw path segment. An empty segment, "." or
// "..", or one whose escapes hide a '/' or a NUL is invalid: names are
// never built from path tricks.
func decodeSegment(raw string) (string, error) {
	d, err := url.PathUnescape(raw)
	if err != nil {
		return "", invalid("path segment %q is not valid: %v", raw, err)
	}
	return d, checkSegment(d)
}

func checkSegment(s string) error {
	switch {
	case s == "":
		return invalid("empty path segment")
	case s == "." || s == "..":
		return invalid("path segment %q is not allowed", s)
	case strings.ContainsAny(s, "/\x00\\"):
		return invalid("path segment %q contains a forbidden character", s)
	}
	return nil
}

// image is a bk-repo image address.
type image struct {
	project, repo, name string
}

// full is the OCI repository name.
func (im image) full() string { return im.project + "/" + im.repo + "/" + im.name }

// prefix is the OCI name prefix of every image of the bk-repo repository.
func (im image) prefix() string { return im.project + "/" + im.repo + "/" }

// validate checks the project and the whole OCI name (without a name, only
// project/repoName).
func (im image) validate() error {
	if err := domain.ValidateProjectName(im.project); err != nil {
		return err
	}
	if im.name == "" {
		return domain.ValidateRepositoryName(im.project + "/" + im.repo)
	}
	return domain.ValidateRepositoryName(im.full())
}

// pathImage is the image of the route's {project}/{repo}[/{name...}].
func pathImage(r *http.Request) (image, error) {
	im := image{project: dialect.Var(r, "project"), repo: dialect.Var(r, "repo"), name: dialect.Var(r, "name")}
	return im, im.validate()
}

// packageName reads packageKey: docker://<name>, or the bare name.
func packageName(q url.Values) (string, error) {
	key := strings.TrimSpace(q.Get("packageKey"))
	if key == "" {
		return "", missing("packageKey")
	}
	name := key
	if scheme, rest, ok := strings.Cut(key, "://"); ok {
		if !strings.EqualFold(scheme+"://", packageScheme) {
			return "", invalid("packageKey %q is not a docker package (docker://<name>)", key)
		}
		name = rest
	}
	if name == "" {
		return "", invalid("packageKey %q names no image", key)
	}
	for _, s := range strings.Split(name, "/") {
		if err := checkSegment(s); err != nil {
			return "", invalid("packageKey %q is not valid: %v", key, err)
		}
	}
	return name, nil
}

// packageParams reads the route's {project}/{repo} and packageKey
// (+ version when wanted).
func packageParams(r *http.Request, withVersion bool) (image, string, error) {
	return imagePackage(dialect.Var(r, "project"), dialect.Var(r, "repo"), r.URL.Query(), withVersion)
}

// imagePackage is the image packageKey names in project/repo, and its
// version when wanted.
func imagePackage(project, repo string, q url.Values, withVersion bool) (image, string, error) {
	im := image{project: project, repo: repo}
	name, err := packageName(q)
	if err != nil {
		return im, "", err
	}
	im.name = name
	var version string
	if withVersion {
		if version = strings.TrimSpace(q.Get("version")); version == "" {
			return im, "", missing("version")
		}
		if err := domain.ValidateTag(version); err != nil {
			return im, "", err
		}
	}
	return im, version, im.validate()
}

// pageParams reads pageNumber and pageSize: pages from 1 (<= 0 means 1),
// size <= 0 means 20, sizes above domain.MaxPageSize are capped. Values that
// are not numbers, or pages beyond any list, are invalid.
func pageParams(q url.Values) (number, size int, page domain.Page, err error) {
	if number, err = intParam(q, "pageNumber", 1); err != nil {
		return
	}
	if size, err = intParam(q, "pageSize", defaultPageSize); err != nil {
		return
	}
	if number <= 0 {
		number = 1
	}
	if size <= 0 {
		size = defaultPageSize
	}
	size = min(size, domain.MaxPageSize)
	page, err = domain.PageFromNumber(number, size)
	return
}

func intParam(q url.Values, name string, def int) (int, error) {
	s := strings.TrimSpace(q.Get(name))
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, invalid("%s %q is not an integer", name, s)
	}
	return n, nil
}

// pageData is bk-repo's page: totalRecords (and the seed's spelling
// toatalRecords), pageNumber, pageSize, totalPages, records.
type pageData struct {
	TotalRecords  int64 `json:"totalRecords"`
	ToatalRecords int64 `json:"toatalRecords"`
	PageNumber    int   `json:"pageNumber"`
	PageSize      int   `json:"pageSize"`
	TotalPages    int64 `json:"totalPages"`
	Records       any   `json:"records"`
}

func newPage(total int64, number, size int, records any) pageData {
	return pageData{TotalRecords: total, ToatalRecords: total, PageNumber: number, PageSize: size,
		TotalPages: (total + int64(size) - 1) / int64(size), Records: records}
}
