// Package retention decides which tags of a project stay: a policy's rules
// are evaluated together, and whatever no rule keeps is removed (its tags,
// then the manifests that lost their last tag; garbage collection then
// reclaims the bytes). Tags an immutability rule protects, and the tags of
// referrers whose subject stays (signatures, SBOMs), are never removed by
// it; the children of a kept index stay with it.
package retention

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/berth-registry/berth/registry/pattern"
	"github.com/berth-registry/berth/storage/metadata"
)

// Kinds of rules: each keeps tags.
const (
	KeepLatestPushed = "latestPushed" // the Count most recently pushed tags of each repository
	KeepPulledWithin = "pulledWithin" // tags pulled within Days
	KeepPushedWithin = "pushedWithin" // tags pushed within Days
	KeepTagPattern   = "tagPattern"   // tags whose name matches Pattern
)

// Rule is one retention rule. Repositories limits it to the repositories
// whose path after the project matches (default: all).
type Rule struct {
	Keep         string `json:"keep"`
	Count        int    `json:"count,omitempty"`
	Days         int    `json:"days,omitempty"`
	Pattern      string `json:"pattern,omitempty"`
	Repositories string `json:"repositories,omitempty"`

	repos *pattern.Pattern
	tags  *pattern.Pattern
}

// Policy is a project's rules and schedule.
type Policy struct {
	Rules []Rule `json:"rules"`
	// Schedule runs the policy by itself: an interval ("24h", "@every 6h"),
	// "@hourly", "@daily", "@weekly", or a cron expression ("0 3 * * *");
	// empty: only by hand.
	Schedule string `json:"schedule,omitempty"`
}

// ParsePolicy reads and checks a policy (JSON).
func ParsePolicy(data []byte) (Policy, error) {
	var p Policy
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return p, fmt.Errorf("policy: %v", err)
	}
	return p, p.compile()
}

// compile checks a policy and prepares its patterns.
func (p *Policy) compile() error {
	if len(p.Rules) == 0 {
		return errors.New("policy: at least one rule (a policy without rules would remove every tag)")
	}
	if len(p.Rules) > 50 {
		return errors.New("policy: at most 50 rules")
	}
	for i := range p.Rules {
		r := &p.Rules[i]
		where := fmt.Sprintf("rule %d (%s)", i+1, r.Keep)
		switch r.Keep {
		case KeepLatestPushed:
			if r.Count < 1 || r.Count > 1_000_000 {
				return fmt.Errorf("%s: count must be between 1 and 1000000", where)
			}
		case KeepPulledWithin, KeepPushedWithin:
			if r.Days < 1 || r.Days > 36500 {
				return fmt.Errorf("%s: days must be between 1 and 36500", where)
			}
		case KeepTagPattern:
			if r.Pattern == "" {
				return fmt.Errorf("%s: pattern is required", where)
			}
			tp, err := pattern.Compile(r.Pattern)
			if err != nil {
				return fmt.Errorf("%s: %v", where, err)
			}
			r.tags = tp
		default:
			return fmt.Errorf("rule %d: keep must be %s, %s, %s or %s, not %q", i+1, KeepLatestPushed, KeepPulledWithin, KeepPushedWithin, KeepTagPattern, r.Keep)
		}
		rp, err := pattern.Compile(r.Repositories)
		if err != nil {
			return fmt.Errorf("%s: repositories: %v", where, err)
		}
		r.repos = rp
	}
	if _, err := NextRun(p.Schedule, time.Now()); err != nil {
		return fmt.Errorf("policy: schedule: %v", err)
	}
	return nil
}

// Label names a rule in reports: "#2 latestPushed 10 in app/**".
func (r Rule) Label(i int) string {
	var what string
	switch r.Keep {
	case KeepLatestPushed:
		what = fmt.Sprintf("%d most recently pushed", r.Count)
	case KeepPulledWithin:
		what = fmt.Sprintf("pulled within %d days", r.Days)
	case KeepPushedWithin:
		what = fmt.Sprintf("pushed within %d days", r.Days)
	case KeepTagPattern:
		what = "tags " + r.Pattern
	}
	if r.Repositories != "" && r.Repositories != "**" {
		what += " in " + r.Repositories
	}
	return fmt.Sprintf("#%d %s", i+1, what)
}

// keeps reports whether the rule keeps t, the position-th tag of its
// repository counted newest push first (from 1).
func (r Rule) keeps(t metadata.RetentionTag, position int, now time.Time) bool {
	switch r.Keep {
	case KeepLatestPushed:
		return position <= r.Count
	case KeepPulledWithin:
		return !t.PullTime.IsZero() && now.Sub(t.PullTime) <= time.Duration(r.Days)*24*time.Hour
	case KeepPushedWithin:
		return now.Sub(t.PushTime) <= time.Duration(r.Days)*24*time.Hour
	case KeepTagPattern:
		return r.tags.Match(t.Name)
	}
	return false
}
