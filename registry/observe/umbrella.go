package observe

import (
	"context"
	"slices"
	"sync"
)

// Umbrella makes one action that is made of many changes (a repository
// delete: each tag, then each manifest, each its own transaction) write
// one audit record and one event, not one per change. While it is open,
// the first change of one of its types writes the record, with what the
// changes before it named (Folded); every other change is folded into it
// and writes none. When no change of its types happens (or the action
// fails half-way), the handler's own record (Emit) names what was folded.
// Once the action returns (the end WithUmbrella gave), changes the
// request makes after it write their records as usual.
type Umbrella struct {
	types   []string
	mu      sync.Mutex
	written bool
	closed  bool
	tags    names
	digests names
}

type umbrellaKey struct{}

// WithUmbrella returns ctx whose changes are folded under one record of
// the first of types they make, and the end of the action (call it once
// the action returned). Inside another open umbrella it returns ctx and an
// end that does nothing: the outer action keeps its one record. Within a
// request the umbrella is the request's, so the handler's own record
// (Emit, with any context of the request) names what was folded too.
func WithUmbrella(ctx context.Context, types ...string) (context.Context, func()) {
	if UmbrellaOf(ctx) != nil {
		return ctx, func() {}
	}
	u := &Umbrella{types: types}
	end := func() {
		u.mu.Lock()
		u.closed = true
		u.mu.Unlock()
	}
	if r := from(ctx); r != nil {
		r.umbrella.Store(u)
		return ctx, end
	}
	return context.WithValue(ctx, umbrellaKey{}, u), end
}

// UmbrellaOf is the open umbrella of ctx (or of its request), or nil.
func UmbrellaOf(ctx context.Context) *Umbrella {
	if u := lastUmbrella(ctx); u != nil && !u.isClosed() {
		return u
	}
	return nil
}

// FoldedOf is what the request's last umbrella, open or ended, folded,
// when action is one of its types: for the record of an action that wrote
// none of its own (it failed half-way, or made no change of its types).
func FoldedOf(ctx context.Context, action string) Folded {
	if u := lastUmbrella(ctx); u != nil && slices.Contains(u.types, action) {
		return u.Folded()
	}
	return Folded{}
}

func lastUmbrella(ctx context.Context) *Umbrella {
	if u, _ := ctx.Value(umbrellaKey{}).(*Umbrella); u != nil {
		return u
	}
	if r := from(ctx); r != nil {
		return r.umbrella.Load()
	}
	return nil
}

func (u *Umbrella) isClosed() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.closed
}

// MaxFolded bounds the names a record keeps of what it folded (a
// repository of a million tags is one record, not a megabyte one).
const MaxFolded = 1000

// names is an ordered set of names, MaxFolded at most.
type names struct {
	list      []string
	seen      map[string]bool
	truncated bool // more were named than kept
}

func (n *names) add(ss []string) {
	for _, s := range ss {
		if s == "" || n.seen[s] {
			continue
		}
		if len(n.list) >= MaxFolded {
			n.truncated = true
			continue
		}
		if n.seen == nil {
			n.seen = map[string]bool{}
		}
		n.seen[s] = true
		n.list = append(n.list, s)
	}
}

// Folded is what an umbrella's record names of the changes it folded.
type Folded struct {
	Tags, Digests []string
	Truncated     bool // more were taken than the lists hold (MaxFolded)
}

func (u *Umbrella) folded() Folded {
	return Folded{Tags: slices.Clone(u.tags.list), Digests: slices.Clone(u.digests.list), Truncated: u.tags.truncated || u.digests.truncated}
}

// Take decides for a change recording an event of typ that names tags and
// digests: it reports true when the change writes the umbrella's record
// (with what was folded before it and what it names itself), false when
// it is folded.
func (u *Umbrella) Take(typ string, tags, digests []string) (record bool, f Folded) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.tags.add(tags)
	u.digests.add(digests)
	if !u.written && slices.Contains(u.types, typ) {
		u.written = true
		return true, u.folded()
	}
	return false, Folded{}
}

// Written reports whether a change wrote the umbrella's record.
func (u *Umbrella) Written() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.written
}

// Folded is what the changes under the umbrella named.
func (u *Umbrella) Folded() Folded {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.folded()
}
