package proxy

import (
	"slices"
	"testing"
	"time"

	"github.com/berth-registry/berth/storage/metadata"
)

// TestChooseVictims: least recently used first (never-pulled ones by when
// they were cached), until the sizes cover what is above the target;
// recently used and just-fetched artifacts are skipped.
func TestChooseVictims(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	ago := func(m int) time.Time { return now.Add(-time.Duration(m) * time.Minute) }
	cand := func(id int64, digest string, size int64, pushed, pulled time.Time) metadata.EvictionCandidate {
		return metadata.EvictionCandidate{ID: id, Repository: "hub/app", Digest: digest, Size: size, PushTime: pushed, LastPull: pulled}
	}
	// a: cached 60 min ago, pulled 5 min ago; b: cached 50, pulled 40;
	// c: cached 30, never pulled; d: cached 20, pulled 10; e: cached and
	// pulled within the grace.
	set := []metadata.EvictionCandidate{
		cand(1, "a", 100, ago(60), ago(5)),
		cand(2, "b", 100, ago(50), ago(40)),
		cand(3, "c", 100, ago(30), time.Time{}),
		cand(4, "d", 100, ago(20), ago(10)),
		cand(5, "e", 100, ago(1), now),
	}
	cutoff := ago(2)
	cases := []struct {
		name          string
		cands         []metadata.EvictionCandidate
		used, target  int64
		keep          map[string]bool
		want          []string
		wantProtected int
	}{
		{"under the target: nothing", set, 500, 500, nil, nil, 0},
		{"one is enough", set, 550, 450, nil, []string{"b"}, 0},
		{"never pulled counts by cache time", set, 550, 350, nil, []string{"b", "c"}, 0},
		{"in order of last use", set, 500, 100, nil, []string{"b", "c", "d", "a"}, 0},
		{"used within the grace is kept", set, 500, 0, nil, []string{"b", "c", "d", "a"}, 1},
		{"the just-fetched one is kept", set, 550, 350, map[string]bool{"hub/app@b": true}, []string{"c", "d"}, 1},
		{"sizes add up", []metadata.EvictionCandidate{cand(1, "big", 1000, ago(9), time.Time{}), cand(2, "small", 10, ago(10), time.Time{})},
			1500, 1000, nil, []string{"small", "big"}, 0},
		{"ties by id", []metadata.EvictionCandidate{cand(2, "two", 10, ago(10), time.Time{}), cand(1, "one", 10, ago(10), time.Time{})},
			100, 85, nil, []string{"one", "two"}, 0},
		{"a pull after a re-cache counts", []metadata.EvictionCandidate{cand(1, "re", 10, ago(30), ago(3)), cand(2, "old", 10, ago(20), time.Time{})},
			100, 95, nil, []string{"old"}, 0},
		{"zero sizes still progress", []metadata.EvictionCandidate{cand(1, "z1", 0, ago(30), time.Time{}), cand(2, "z2", 0, ago(20), time.Time{})},
			2, 0, nil, []string{"z1", "z2"}, 0},
		{"everything protected", set, 500, 0, map[string]bool{"hub/app@a": true, "hub/app@b": true, "hub/app@c": true, "hub/app@d": true}, nil, 5},
		{"no candidates", nil, 500, 0, nil, nil, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, protected := chooseVictims(c.cands, c.used, c.target, cutoff, c.keep)
			var names []string
			for _, v := range got {
				names = append(names, v.Digest)
			}
			if !slices.Equal(names, c.want) || protected != c.wantProtected {
				t.Fatalf("victims %v (protected %d), want %v (protected %d)", names, protected, c.want, c.wantProtected)
			}
		})
	}
}

func TestLowWater(t *testing.T) {
	for _, c := range []struct{ cap, want int64 }{{0, 0}, {100, 90}, {10 << 20, 9437184}, {MaxCap, MaxCap * 9 / 10}} {
		if got := LowWater(c.cap); got != c.want {
			t.Errorf("LowWater(%d) = %d, want %d", c.cap, got, c.want)
		}
	}
}
