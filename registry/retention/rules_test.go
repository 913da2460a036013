package retention

import (
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/storage/metadata"
)

func TestParsePolicy(t *testing.T) {
	for _, tc := range []struct {
		name, json, err string
	}{
		{"latest", `{"rules":[{"keep":"latestPushed","count":3}]}`, ""},
		{"every kind", `{"rules":[{"keep":"latestPushed","count":1,"repositories":"app/**"},{"keep":"pulledWithin","days":7},{"keep":"pushedWithin","days":30},{"keep":"tagPattern","pattern":"{latest,release-*}"}],"schedule":"0 3 * * *"}`, ""},
		{"no rules", `{"rules":[]}`, "at least one rule"},
		{"no body", `{}`, "at least one rule"},
		{"unknown kind", `{"rules":[{"keep":"everything"}]}`, `not "everything"`},
		{"zero count", `{"rules":[{"keep":"latestPushed"}]}`, "count must be"},
		{"negative count", `{"rules":[{"keep":"latestPushed","count":-1}]}`, "count must be"},
		{"huge count", `{"rules":[{"keep":"latestPushed","count":1000001}]}`, "count must be"},
		{"zero days", `{"rules":[{"keep":"pulledWithin","days":0}]}`, "days must be"},
		{"no pattern", `{"rules":[{"keep":"tagPattern"}]}`, "pattern is required"},
		{"bad pattern", `{"rules":[{"keep":"tagPattern","pattern":"v[0-9]"}]}`, "cannot appear"},
		{"bad repositories", `{"rules":[{"keep":"latestPushed","count":1,"repositories":"{a"}]}`, "repositories"},
		{"unknown field", `{"rules":[{"keep":"latestPushed","count":1,"cnt":2}]}`, "unknown field"},
		{"not json", `rules: []`, "policy:"},
		{"bad schedule", `{"rules":[{"keep":"latestPushed","count":1}],"schedule":"61 * * * *"}`, "schedule"},
		{"too often", `{"rules":[{"keep":"latestPushed","count":1}],"schedule":"10s"}`, "at least a minute"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParsePolicy([]byte(tc.json))
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("error %v, want one containing %q", err, tc.err)
			}
		})
	}
	if _, err := ParsePolicy([]byte(`{"rules":[` + strings.Repeat(`{"keep":"latestPushed","count":1},`, 50) + `{"keep":"latestPushed","count":1}]}`)); err == nil {
		t.Error("51 rules accepted")
	}
}

func TestRuleKeeps(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	tag := func(name string, pushedAgo, pulledAgo time.Duration) metadata.RetentionTag {
		t := metadata.RetentionTag{Name: name, PushTime: now.Add(-pushedAgo)}
		if pulledAgo > 0 {
			t.PullTime = now.Add(-pulledAgo)
		}
		return t
	}
	p, err := ParsePolicy([]byte(`{"rules":[
		{"keep":"latestPushed","count":2},
		{"keep":"pulledWithin","days":7},
		{"keep":"pushedWithin","days":30},
		{"keep":"tagPattern","pattern":"release-*"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	latest, pulled, pushed, pat := p.Rules[0], p.Rules[1], p.Rules[2], p.Rules[3]
	for _, tc := range []struct {
		name     string
		rule     Rule
		tag      metadata.RetentionTag
		position int
		want     bool
	}{
		{"newest", latest, tag("a", 90*day, 0), 1, true},
		{"second", latest, tag("a", 90*day, 0), 2, true},
		{"third", latest, tag("a", time.Hour, 0), 3, false},
		{"pulled yesterday", pulled, tag("a", 90*day, day), 9, true},
		{"pulled on the edge", pulled, tag("a", 90*day, 7*day), 9, true},
		{"pulled long ago", pulled, tag("a", 90*day, 8*day), 9, false},
		{"never pulled", pulled, tag("a", time.Hour, 0), 9, false},
		{"pushed last week", pushed, tag("a", 7*day, 0), 9, true},
		{"pushed in spring", pushed, tag("a", 200*day, 0), 9, false},
		{"release", pat, tag("release-1.2", 200*day, 0), 9, true},
		{"not a release", pat, tag("rc-1", time.Minute, 0), 1, false},
	} {
		if got := tc.rule.keeps(tc.tag, tc.position, now); got != tc.want {
			t.Errorf("%s: %s keeps %s (number %d) = %v, want %v", tc.name, tc.rule.Label(0), tc.tag.Name, tc.position, got, tc.want)
		}
	}
}

func TestNextRun(t *testing.T) {
	now := time.Date(2026, 11, 26, 14, 30, 20, 0, time.UTC) // a Thursday
	for _, tc := range []struct {
		schedule string
		want     string // RFC 3339, "" for never
		err      string
	}{
		{"", "", ""},
		{"24h", "2026-11-27T14:30:20Z", ""},
		{"@every 6h", "2026-11-26T20:30:20Z", ""},
		{"@hourly", "2026-11-26T15:00:00Z", ""},
		{"@daily", "2026-11-27T00:00:00Z", ""},
		{"@weekly", "2026-11-29T00:00:00Z", ""},
		{"0 3 * * *", "2026-11-27T03:00:00Z", ""},
		{"*/15 * * * *", "2026-11-26T14:45:00Z", ""},
		{"0 9-17/4 * * 1-5", "2026-11-26T17:00:00Z", ""}, // 9, 13, 17 on weekdays
		{"0 0 * * 7", "2026-11-29T00:00:00Z", ""},
		{"0 0 1 * 1", "2026-11-30T00:00:00Z", ""},    // the 1st or a Monday: Monday the 30th
		{"0 0 1,15 * *", "2026-12-01T00:00:00Z", ""}, // day fields restricted alone: the 1st
		{"30s", "", "at least a minute"},
		{"61 * * * *", "", "minute"},
		{"* * * *", "", "five fields"},
		{"0 0 31 2 *", "", "never runs"},
		{"*/0 * * * *", "", "bad step"},
		{"5-1 * * * *", "", "outside"},
		{"x * * * *", "", "bad value"},
	} {
		got, err := NextRun(tc.schedule, now)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.schedule, err, tc.err)
			}
		case err != nil:
			t.Errorf("%q: %v", tc.schedule, err)
		case tc.want == "" && !got.IsZero(), tc.want != "" && got.Format(time.RFC3339) != tc.want:
			t.Errorf("%q: next run %v, want %s", tc.schedule, got, tc.want)
		}
	}
}

func TestPace(t *testing.T) {
	type step struct {
		took   time.Duration // ms
		cut    bool          // its Step ended it before its batch's end
		target time.Duration
	}
	ms := func(n time.Duration) step { return step{took: n, target: txTarget(false)} }
	cut := func(n time.Duration) step { return step{took: n, cut: true, target: txTarget(false)} }
	busy := func(n time.Duration) step { return step{took: n, target: txTarget(true)} } // requests in flight, on PostgreSQL
	for _, tc := range []struct {
		name  string
		start int
		took  []step
		want  int
	}{
		{"slow halves", 200, []step{ms(120)}, 100},
		{"never under min", 12, []step{ms(1000), ms(1000)}, 10},
		{"fast grows by a quarter", 100, []step{ms(5)}, 126},
		{"never over max", 900, []step{ms(1), ms(1)}, 1000},
		{"on target stays", 300, []step{ms(40), ms(30)}, 300},
		{"cut for a request: stays", 300, []step{cut(2), cut(8)}, 300},
		{"cut in a busy moment's step: stays", 300, []step{cut(11)}, 300},
		{"cut at the budget, past the target: halves", 300, []step{cut(52)}, 150},
		{"cut, then fast: grows", 100, []step{cut(3), ms(5)}, 126},
		{"busy: over 10 ms halves", 300, []step{busy(30)}, 150},
		{"busy: on its target stays", 300, []step{busy(8), busy(6)}, 300},
		{"busy: fast still grows", 100, []step{busy(2)}, 126},
		{"requests gone: grows back", 150, []step{busy(30), ms(20), ms(20)}, 118},
	} {
		p := metadata.Pace{N: tc.start, Min: 10, Max: 1000}
		for _, s := range tc.took {
			p.Took(s.took*time.Millisecond, s.target, s.cut)
		}
		if p.N != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, p.N, tc.want)
		}
	}
}

func TestRenewDue(t *testing.T) {
	for _, tc := range []struct {
		name  string
		since time.Duration
		want  bool
	}{
		{"just renewed", 0, false},
		{"within leaseRenew", leaseRenew - time.Millisecond, false},
		{"leaseRenew ago", leaseRenew, true},
		{"stalled past leaseTTL", leaseTTL + time.Second, true},
	} {
		if got := renewDue(tc.since); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
