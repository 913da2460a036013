package harborv1

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/berth-registry/berth/registry/domain"
)

// Harbor 0.4's paging: pages from 1, 10 per page, at most 100 (larger
// sizes are capped, as Harbor does).
const (
	defaultPageSize = 10
	maxPageSize     = 100
	maxBody         = 64 << 10
	maxFilter       = 255
)

// paging is a validated page of a list.
type paging struct {
	number, size int
	page         domain.Page
}

// pageParams reads page and page_size (or the seed's "pagesize"): numbers
// that are not integers, zero or negative are 400, as are pages beyond any
// list.
func pageParams(q url.Values) (paging, error) {
	number, err := intParam(q, "page", 1)
	if err != nil {
		return paging{}, err
	}
	sizeKey := "page_size"
	if !q.Has(sizeKey) && q.Has("pagesize") {
		sizeKey = "pagesize"
	}
	size, err := intParam(q, sizeKey, defaultPageSize)
	if err != nil {
		return paging{}, err
	}
	if number < 1 {
		return paging{}, badParam("page must be a positive integer, not %d", number)
	}
	if size < 1 {
		return paging{}, badParam("%s must be a positive integer, not %d", sizeKey, size)
	}
	size = min(size, maxPageSize)
	page, err := domain.PageFromNumber(number, size)
	if err != nil {
		return paging{}, err
	}
	return paging{number: number, size: size, page: page}, nil
}

// asksForPage reports whether the caller named a page at all (tag lists
// are whole unless it did, like Harbor's).
func asksForPage(q url.Values) bool {
	return q.Get("page") != "" || q.Get("page_size") != "" || q.Get("pagesize") != ""
}

// intParam reads an optional integer parameter; empty means def.
func intParam(q url.Values, name string, def int) (int, error) {
	s := strings.TrimSpace(q.Get(name))
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 0)
	if err != nil {
		return 0, badParam("%s %q is not an integer in range", name, s)
	}
	return int(n), nil
}

// filterParam reads a substring filter (project_name, q): lowercase, as
// every name is, and bounded.
func filterParam(q url.Values, name string) (string, error) {
	s := strings.TrimSpace(q.Get(name))
	if len(s) > maxFilter || strings.ContainsRune(s, 0) {
		return "", badParam("%s must be at most %d characters without NUL", name, maxFilter)
	}
	return strings.ToLower(s), nil
}

// setPagination writes Harbor's X-Total-Count and Link headers: rel="prev"
// for a page after the first that is not past the end, rel="next" while
// entries remain. Links keep the request's path and other parameters.
func setPagination(w http.ResponseWriter, r *http.Request, total int64, pg paging) {
	w.Header().Set("X-Total-Count", strconv.FormatInt(total, 10))
	link := func(number int, rel string) string {
		q := r.URL.Query()
		q.Del("pagesize")
		q.Set("page", strconv.Itoa(number))
		q.Set("page_size", strconv.Itoa(pg.size))
		return fmt.Sprintf(`<%s?%s>; rel="%s"`, r.URL.Path, q.Encode(), rel)
	}
	var links []string
	if pg.number > 1 && int64(pg.page.Offset) <= total {
		links = append(links, link(pg.number-1, "prev"))
	}
	if int64(pg.page.Offset)+int64(pg.size) < total {
		links = append(links, link(pg.number+1, "next"))
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
}

// checkName rejects what no repository name may hold before it reaches
// validation or a lookup: NUL, '..', escapes left over from double
// encoding, backslashes.
func checkName(param, s string) error {
	switch {
	case s == "":
		return badParam("%s is required", param)
	case strings.ContainsRune(s, 0), strings.Contains(s, ".."), strings.ContainsAny(s, "%\\"):
		return badParam("%s %q is not a repository name", param, s)
	}
	return nil
}

// deleteParams are a delete's repository, tag and method override from the
// query string and the body.
type deleteParams struct {
	repo   string // "project/path", or a bare image name
	tag    string // "": the whole repository
	method string // the seed's method=DELETE on a POST
}

// bodyKeys are the parameters a delete body may carry: Harbor's repo_name
// and tag, or the seed's projectName (the image) and repoName (the tag).
var bodyKeys = map[string]bool{"repo_name": true, "tag": true, "projectName": true, "repoName": true, "method": true, "_method": true}

// readDeleteParams merges the query string with the body, which may be
// JSON, a form, or the seed's mix "method=DELETE&{...json...}". A key given
// twice with different values, an unknown body key or a value that is not a
// string (or number) is 400.
func readDeleteParams(w http.ResponseWriter, r *http.Request) (deleteParams, error) {
	vals := map[string]string{}
	set := func(k, v string) error {
		if old, ok := vals[k]; ok && old != v {
			return badParam("%s is given twice (%q and %q)", k, old, v)
		}
		vals[k] = v
		return nil
	}
	for k, vs := range r.URL.Query() {
		for _, v := range vs {
			if err := set(k, v); err != nil {
				return deleteParams{}, err
			}
		}
	}
	body, err := readBody(w, r)
	if err != nil {
		return deleteParams{}, err
	}
	form, js := body, []byte(nil)
	if i := bytes.IndexByte(body, '{'); i >= 0 {
		form, js = bytes.TrimRight(body[:i], "& \t\r\n"), body[i:]
	}
	if len(form) > 0 {
		fv, err := url.ParseQuery(string(form))
		if err != nil {
			return deleteParams{}, badParam("request body is neither JSON nor a form: %v", err)
		}
		for k, vs := range fv {
			if !bodyKeys[k] {
				return deleteParams{}, badParam("unknown body parameter %q", k)
			}
			for _, v := range vs {
				if err := set(k, v); err != nil {
					return deleteParams{}, err
				}
			}
		}
	}
	if js != nil {
		obj, err := jsonStrings(js)
		if err != nil {
			return deleteParams{}, err
		}
		for k, v := range obj {
			if err := set(k, v); err != nil {
				return deleteParams{}, err
			}
		}
	}
	return namedParams(vals)
}

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, badParam("request body is over %d bytes", maxBody)
		}
		return nil, badParam("request body: %v", err)
	}
	return bytes.TrimSpace(body), nil
}

// jsonStrings decodes one JSON object of string (or number) values with
// known keys.
func jsonStrings(js []byte) (map[string]string, error) {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return nil, badParam("request body is not a JSON object: %v", err)
	}
	if dec.More() {
		return nil, badParam("request body holds more than one JSON value")
	}
	out := make(map[string]string, len(obj))
	for k, v := range obj {
		if !bodyKeys[k] {
			return nil, badParam("unknown body parameter %q", k)
		}
		switch v := v.(type) {
		case string:
			out[k] = v
		case json.Number:
			out[k] = v.String() // {"repoName": 1.1} is tag "1.1"
		default:
			return nil, badParam("body parameter %q must be a string", k)
		}
	}
	return out, nil
}

// namedParams picks Harbor's names (repo_name, tag) or the seed's
// (projectName = the image, repoName = its tag); mixing them is 400.
func namedParams(vals map[string]string) (deleteParams, error) {
	p := deleteParams{method: strings.ToUpper(strings.TrimSpace(vals["method"]))}
	if p.method == "" {
		p.method = strings.ToUpper(strings.TrimSpace(vals["_method"]))
	}
	_, harbor := vals["repo_name"]
	_, seed := vals["projectName"]
	switch {
	case harbor && seed:
		return p, badParam("give either repo_name (and tag) or projectName and repoName, not both")
	case seed:
		p.repo, p.tag = vals["projectName"], vals["repoName"]
		if p.tag == "" {
			return p, badParam("repoName (the tag to delete) is required with projectName")
		}
	default:
		if _, ok := vals["repoName"]; ok {
			return p, badParam("repoName (the tag) needs projectName (the image)")
		}
		p.repo, p.tag = vals["repo_name"], vals["tag"]
	}
	if err := checkName("repo_name", p.repo); err != nil {
		return p, err
	}
	if p.tag != "" {
		if err := domain.ValidateTag(p.tag); err != nil {
			return p, err
		}
	}
	return p, nil
}
