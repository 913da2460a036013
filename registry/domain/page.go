package domain

import (
	"github.com/berth-registry/berth/storage/metadata"
)

// Pagination limits shared by every dialect.
const (
	MaxPageSize = 1000
	maxOffset   = 1 << 40
)

// Page is a validated window of a list.
type Page struct {
	Offset int
	Limit  int // 0: everything (only when the caller asked for no paging)
}

// PageFromOffset validates offset+limit pagination.
func PageFromOffset(offset, limit int) (Page, error) {
	if offset < 0 || offset > maxOffset {
		return Page{}, errorf(ErrInvalid, "offset must be between 0 and %d, not %d", maxOffset, offset)
	}
	if limit < 1 || limit > MaxPageSize {
		return Page{}, errorf(ErrInvalid, "limit must be between 1 and %d, not %d", MaxPageSize, limit)
	}
	return Page{Offset: offset, Limit: limit}, nil
}

// PageFromNumber validates 1-based page number + page size pagination.
func PageFromNumber(number, size int) (Page, error) {
	if number < 1 || number > maxOffset {
		return Page{}, errorf(ErrInvalid, "page number must be between 1 and %d, not %d", maxOffset, number)
	}
	if size < 1 || size > MaxPageSize {
		return Page{}, errorf(ErrInvalid, "page size must be between 1 and %d, not %d", MaxPageSize, size)
	}
	if (number - 1) > maxOffset/size {
		return Page{}, errorf(ErrInvalid, "page %d of size %d is beyond any list", number, size)
	}
	return Page{Offset: (number - 1) * size, Limit: size}, nil
}

// All is the page holding everything.
var All = Page{}

// Sort orders a list.
type Sort struct {
	By   string // "name" or "push_time" (artifacts and tags), "name" (others)
	Desc bool
}

// SortBy validates a sort column among those a list allows.
func SortBy(column string, desc bool, allowed ...string) (Sort, error) {
	if column == "" {
		return Sort{By: allowed[0], Desc: desc}, nil
	}
	for _, a := range allowed {
		if a == column {
			return Sort{By: column, Desc: desc}, nil
		}
	}
	return Sort{}, errorf(ErrInvalid, "cannot sort by %q (allowed: %v)", column, allowed)
}

// Query selects part of a list.
type Query struct {
	Filter string // substring of the name
	Sort   Sort
	Page   Page
}

func (q Query) options() metadata.ListOptions {
	return metadata.ListOptions{Filter: q.Filter, Sort: q.Sort.By, Desc: q.Sort.Desc, Offset: q.Page.Offset, Limit: q.Page.Limit}
}
