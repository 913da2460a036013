package bkrepo

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/berth-registry/berth/registry/domain"
)

// Paging defaults of bk-repo: pages from 1, 20 records.
const (
	defaultPageSize = 20
	packageScheme   = "docker://"
)

// decodeSegments unescapes raw path segments. An empty segment, "." or
// "..", or one whose escapes hide a '/' or a NUL is invalid: names are
// never built from path tricks.
func decodeSegments(raw []string) ([]string, error) {
	out := make([]string, 0, len(raw))
	for _, s := range raw {
		d, err := url.PathUnescape(s)
		if err != nil {
			return nil, invalid("path segment %q is not valid: %v", s, err)
		}
		if err := checkSegment(d); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
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

// imageRef reads {p}/{r}/{name...}/{ref} (manifest and layer routes): the
// name is everything between repoName and the last segment.
func imageRef(segs []string) (image, string, error) {
	n := len(segs)
	im := image{project: segs[0], repo: segs[1], name: strings.Join(segs[2:n-1], "/")}
	return im, segs[n-1], im.validate()
}

// imageRest reads {p}/{r}/{name...} (tag route): the name is the rest.
func imageRest(segs []string) (image, error) {
	im := image{project: segs[0], repo: segs[1], name: strings.Join(segs[2:], "/")}
	return im, im.validate()
}

// repoOnly reads {p}/{r}.
func repoOnly(segs []string) (image, error) {
	im := image{project: segs[0], repo: segs[1]}
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

// packageParams reads {p}/{r} and packageKey (+ version when wanted).
func packageParams(segs []string, q url.Values, withVersion bool) (image, string, error) {
	im := image{project: segs[0], repo: segs[1]}
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
