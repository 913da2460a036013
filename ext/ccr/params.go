package ccr

import (
	"errors"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/berth-registry/berth/ext/dialect"
	"github.com/berth-registry/berth/registry/domain"
)

// Paging of every CCR list.
const (
	DefaultPageSize = 10
	MaxPageSize     = 100
	maxFilterLen    = 255
)

// Times: the seed's "2006-01-02 15:04:05" (server local time) for most
// fields; tags carry RFC 3339 UTC times, as in the seed's example.
const (
	timeLayout = "2006-01-02 15:04:05"
	isoLayout  = "2006-01-02T15:04:05.000Z"
	zeroTime   = "0001-01-01 00:00:00"
	zeroISO    = "0001-01-01T00:00:00Z"
)

func formatTime(t time.Time) string {
	if t.IsZero() {
		return zeroTime
	}
	return t.Local().Format(timeLayout)
}

func formatISO(t time.Time) string {
	if t.IsZero() {
		return zeroISO
	}
	return t.UTC().Format(isoLayout)
}

// listParams is a parsed, validated list request.
type listParams struct {
	Page     domain.Page
	PageNo   int // echoed back; 0 with noPaging
	PageSize int
	NameHas  string
	NoPaging bool
}

// query is the domain query of the list.
func (l listParams) query() domain.Query {
	return domain.Query{Filter: l.NameHas, Page: l.Page}
}

// parseList reads pageNo (alias page) from 1 (<= 0 means 1), pageSize
// (default 10, at most 100; 0 means the default), nameHas (a substring of
// the name) and noPaging (true: everything, page and pageSize echoed as 0).
// Non-numbers, negative sizes, sizes over 100, pages beyond any list, a
// parameter given twice with different values and filters that are not
// short UTF-8 are parameter errors.
func parseList(q url.Values) (listParams, error) {
	get := func(keys ...string) (string, error) {
		val, seen := "", ""
		for _, k := range keys {
			for _, v := range q[k] {
				if seen != "" && v != val {
					return "", dialect.Invalidf("%s is given more than once with different values", k)
				}
				val, seen = v, k
			}
		}
		return strings.TrimSpace(val), nil
	}
	out := listParams{PageNo: 1, PageSize: DefaultPageSize}
	s, err := get("noPaging")
	if err != nil {
		return out, err
	}
	if s != "" {
		if out.NoPaging, err = strconv.ParseBool(s); err != nil {
			return out, dialect.Invalidf("noPaging %q is not true or false", dialect.Clip(s))
		}
	}
	if s, err = get("pageNo", "page"); err != nil {
		return out, err
	}
	if s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return out, dialect.Invalidf("pageNo %q is not an integer", dialect.Clip(s))
		}
		if err != nil || n > 1<<40 {
			return out, dialect.Invalidf("pageNo %q is beyond any list", dialect.Clip(s))
		}
		if n > 1 {
			out.PageNo = int(n)
		}
	}
	if s, err = get("pageSize"); err != nil {
		return out, err
	}
	if s != "" {
		n, err := strconv.Atoi(s)
		switch {
		case err != nil:
			return out, dialect.Invalidf("pageSize %q is not an integer between 1 and %d", dialect.Clip(s), MaxPageSize)
		case n < 0 || n > MaxPageSize:
			return out, dialect.Invalidf("pageSize %d is not between 1 and %d", n, MaxPageSize)
		case n > 0:
			out.PageSize = n
		}
	}
	if s, err = get("nameHas"); err != nil {
		return out, err
	}
	if len(s) > maxFilterLen || !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
		return out, dialect.Invalidf("nameHas must be valid UTF-8 of at most %d bytes", maxFilterLen)
	}
	out.NameHas = strings.ToLower(s) // every name is lowercase
	if out.NoPaging {
		out.Page, out.PageNo, out.PageSize = domain.All, 0, 0
		return out, nil
	}
	out.Page, err = domain.PageFromNumber(out.PageNo, out.PageSize)
	return out, err
}

// CCR repository names: 2-64 characters, lowercase letters and digits
// separated by single '.', '_', '-' or '/' (not at the start or end).
var repositoryNameRE = regexp.MustCompile(`^[a-z0-9]+(?:[._/-][a-z0-9]+)*$`)

const (
	maxSummary = 100
	maxDetail  = 256
)

// validateRepositoryName applies the seed's rules for a new repository.
func validateRepositoryName(name string) error {
	if n := utf8.RuneCountInString(name); n < 2 || n > 64 {
		return dialect.Invalidf("repositoryName must be 2 to 64 characters, not %d", n)
	}
	if !repositoryNameRE.MatchString(name) {
		return dialect.Invalidf("repositoryName %q may only hold lowercase letters, digits and the separators '.', '_', '-', '/', not at the start or end and not doubled", dialect.Clip(name))
	}
	return nil
}

// validateText bounds a free-text field (in characters).
func validateText(field, s string, max int) error {
	if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
		return dialect.Invalidf("%s must be valid UTF-8 without NUL", field)
	}
	if n := utf8.RuneCountInString(s); n > max {
		return dialect.Invalidf("%s is %d characters, at most %d are allowed", field, n, max)
	}
	return nil
}
