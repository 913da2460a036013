package domain

import "context"

// Cursor selects a page of a list in name order by its neighbours' keys
// (keyset paging): the names after After or, with Before, just before
// Before, that contain Filter; Limit 1 to MaxPageSize.
type Cursor struct {
	Filter, After, Before string
	Limit                 int
}

// TagsByName is a page of the repository's tags in name order, read from
// the index by seeking to the cursor's key: a page deep in a long list
// costs what the first does.
func (r *Repo) TagsByName(ctx context.Context, c Cursor) ([]Tag, error) {
	if c.Limit < 1 || c.Limit > MaxPageSize {
		return nil, errorf(ErrInvalid, "limit must be between 1 and %d, not %d", MaxPageSize, c.Limit)
	}
	ts, err := r.s.db.TagsByName(ctx, r.ID, c.Filter, c.After, c.Before, c.Limit)
	return convert(ts, tagOf), err
}

// Referrers are the repository's artifacts whose subject is digest
// (signatures, SBOMs, attestations), in digest order, at most limit.
func (r *Repo) Referrers(ctx context.Context, digest string, limit int) ([]Artifact, error) {
	as, err := r.s.db.Referrers(ctx, r.ID, digest, "", "", limit)
	return convert(as, artifactOf), err
}
