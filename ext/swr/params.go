package swr

import (
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/berth-registry/berth/ext/dialect"
	"github.com/berth-registry/berth/registry/domain"
)

// Page sizes of every SWR list.
const (
	DefaultLimit = 100
	MaxLimit     = domain.MaxPageSize // 1000
)

// listSpec describes what one list endpoint accepts besides offset, limit,
// order_column and order_type.
type listSpec struct {
	filters     map[string]*regexp.Regexp // extra keys and the values they accept
	columns     map[string]string         // order_column → domain sort key
	defaultSort domain.Sort
}

// listQuery is a parsed, validated list request.
type listQuery struct {
	Page    domain.Page
	Sort    domain.Sort
	Filters map[string]string // extra keys that were given (non-empty)
}

// query is the domain query for one filter key.
func (l listQuery) query(filterKey string) domain.Query {
	return domain.Query{Filter: l.Filters[filterKey], Sort: l.Sort, Page: l.Page}
}

var (
	tagFilterRE  = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)
	nameFilterRE = regexp.MustCompile(`^[a-z0-9._/-]{1,255}$`)
)

var pairs = [][2]string{{"offset", "limit"}, {"order_column", "order_type"}}

// parseList reads list parameters given plainly (?offset=0&limit=10) or
// packed (?filter=offset::0|limit::10), or both when they agree. An empty
// value counts as absent. Unknown keys inside filter, a key given twice
// with different values, an unpaired offset/limit or
// order_column/order_type, and values out of range are bad parameters.
func parseList(q url.Values, spec listSpec) (listQuery, error) {
	known := func(k string) bool {
		_, ok := spec.filters[k]
		return ok || k == "offset" || k == "limit" || k == "order_column" || k == "order_type"
	}
	vals := map[string]string{}
	if fs, ok := q["filter"]; ok {
		if len(fs) != 1 {
			return listQuery{}, badParam("filter is given %d times", len(fs))
		}
		for _, item := range strings.Split(fs[0], "|") {
			k, v, ok := strings.Cut(item, "::")
			if !ok {
				return listQuery{}, badParam("filter item %q is not key::value", dialect.Clip(item))
			}
			if !known(k) {
				return listQuery{}, badParam("filter key %q is unknown", dialect.Clip(k))
			}
			if _, dup := vals[k]; dup {
				return listQuery{}, badParam("filter key %q is given twice", k)
			}
			vals[k] = v
		}
	}
	for k, vs := range q {
		if k == "filter" || !known(k) {
			continue
		}
		if len(vs) != 1 {
			return listQuery{}, badParam("%s is given %d times", k, len(vs))
		}
		if old, ok := vals[k]; ok && old != vs[0] {
			return listQuery{}, badParam("%s is given in filter and as a parameter with different values", k)
		}
		vals[k] = vs[0]
	}
	for k, v := range vals {
		if v == "" {
			delete(vals, k)
		} else if strings.ContainsRune(v, 0) {
			return listQuery{}, badParam("%s contains a NUL byte", k)
		}
	}
	for _, p := range pairs {
		_, a := vals[p[0]]
		_, b := vals[p[1]]
		if a != b {
			return listQuery{}, badParam("%s and %s must be given together", p[0], p[1])
		}
	}
	out := listQuery{Page: domain.Page{Limit: DefaultLimit}, Sort: spec.defaultSort, Filters: map[string]string{}}
	if _, ok := vals["offset"]; ok {
		off, err1 := strconv.Atoi(vals["offset"])
		lim, err2 := strconv.Atoi(vals["limit"])
		if err1 != nil || err2 != nil {
			return listQuery{}, badParam("offset and limit must be integers (offset %q, limit %q)", dialect.Clip(vals["offset"]), dialect.Clip(vals["limit"]))
		}
		page, err := domain.PageFromOffset(off, lim)
		if err != nil {
			return listQuery{}, err
		}
		out.Page = page
	}
	if col, ok := vals["order_column"]; ok {
		by, ok := spec.columns[col]
		if !ok {
			return listQuery{}, badParam("order_column %q is not one of %s", dialect.Clip(col), strings.Join(sortedKeys(spec.columns), ", "))
		}
		var desc bool
		switch strings.ToLower(vals["order_type"]) {
		case "asc":
		case "desc":
			desc = true
		default:
			return listQuery{}, badParam("order_type %q is not asc or desc", dialect.Clip(vals["order_type"]))
		}
		out.Sort = domain.Sort{By: by, Desc: desc}
	}
	for k, re := range spec.filters {
		v, ok := vals[k]
		if !ok {
			continue
		}
		if !re.MatchString(v) {
			return listQuery{}, badParam("%s %q is not valid", k, dialect.Clip(v))
		}
		out.Filters[k] = v
	}
	return out, nil
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}
