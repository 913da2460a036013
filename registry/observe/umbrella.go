package observe

import (
	"context"
	"slices"
	"sync"
)

// Umbrella makes one action that is made of many changes (a repository
// delete: each tag, then each manifest, each its own transaction) write
// one audit record and one event, not one per change. The first change
// of one of its types writes the record, with what the changes before it
// named (Folded); every other change is folded into it and writes none.
// When no change of its types happens (or the action fails half-way),
// the handler's own record (Emit) names what was folded.
type Umbrella struct {
	types   []string
	mu      sync.Mutex
	written bool
	tags    []string
	digests []string
}

type umbrellaKey struct{}

// WithUmbrella returns ctx whose changes are folded under one record of
// the first of types they make. Inside another umbrella it returns ctx:
// the outer action keeps its one record. Within a request the umbrella is
// the request's, so the handler's own record (Emit, with any context of
// the request) names what was folded too.
func WithUmbrella(ctx context.Context, types ...string) context.Context {
	if UmbrellaOf(ctx) != nil {
		return ctx
	}
	u := &Umbrella{types: types}
	if r := from(ctx); r != nil {
		r.umbrella.CompareAndSwap(nil, u)
		return ctx
	}
	return context.WithValue(ctx, umbrellaKey{}, u)
}

// UmbrellaOf is the umbrella of ctx (or of its request), or nil.
func UmbrellaOf(ctx context.Context) *Umbrella {
	if u, _ := ctx.Value(umbrellaKey{}).(*Umbrella); u != nil {
		return u
	}
	if r := from(ctx); r != nil {
		return r.umbrella.Load()
	}
	return nil
}

// Take decides for a change recording an event of typ that names tags and
// digests: it reports true when the change writes the umbrella's record
// (then tags and digests include what was folded before it), false when
// it is folded.
func (u *Umbrella) Take(typ string, tags, digests []string) (record bool, allTags, allDigests []string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.written && slices.Contains(u.types, typ) {
		u.written = true
		return true, union(u.tags, tags), union(u.digests, digests)
	}
	u.tags, u.digests = union(u.tags, tags), union(u.digests, digests)
	return false, nil, nil
}

// Written reports whether a change wrote the umbrella's record.
func (u *Umbrella) Written() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.written
}

// Folded is what the folded changes named.
func (u *Umbrella) Folded() (tags, digests []string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.tags), slices.Clone(u.digests)
}

// union appends to a what b adds, in order, without repeats.
func union(a, b []string) []string {
	for _, s := range b {
		if s != "" && !slices.Contains(a, s) {
			a = append(a, s)
		}
	}
	return a
}
