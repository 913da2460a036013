package proxy

import (
	"cmp"
	"slices"
	"time"

	"github.com/berth-registry/berth/storage/metadata"
)

// lowWater is the share of the cap (percent) an eviction brings a project's
// usage down to, so a project at its cap does not evict on every fill.
const lowWater = 90

// LowWater is the usage an eviction of a project capped at capBytes brings
// it down to.
func LowWater(capBytes int64) int64 { return capBytes * lowWater / 100 } // MaxCap keeps it from overflowing

// lastUsed is when a candidate was last pulled, or cached when it never
// was (or was cached again since).
func lastUsed(c metadata.EvictionCandidate) time.Time {
	if c.LastPull.After(c.PushTime) {
		return c.LastPull
	}
	return c.PushTime
}

// chooseVictims orders candidates least recently used first and takes
// them until their sizes cover what usage is above target, skipping those
// used after cutoff (clients may still fetch their blobs; another replica's
// pulls may not have reached the index yet) and those keep names
// (repository@digest: the artifact a fill just stored). Sizes are upper
// bounds of what a removal frees (a layer another artifact of the project
// shares stays), so the caller removes victims one at a time and stops
// when usage is under target. protected counts the candidates skipped.
func chooseVictims(cands []metadata.EvictionCandidate, used, target int64, cutoff time.Time, keep map[string]bool) (victims []metadata.EvictionCandidate, protected int) {
	if used <= target {
		return nil, 0
	}
	order := slices.Clone(cands)
	slices.SortStableFunc(order, func(a, b metadata.EvictionCandidate) int {
		if c := lastUsed(a).Compare(lastUsed(b)); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	need := used - target
	for _, c := range order {
		if need <= 0 {
			break
		}
		if lastUsed(c).After(cutoff) || keep[c.Repository+"@"+c.Digest] {
			protected++
			continue
		}
		victims = append(victims, c)
		need -= max(c.Size, 1)
	}
	return victims, protected
}
