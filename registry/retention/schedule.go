package retention

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// NextRun is when a schedule next runs after now (zero for "": by hand
// only). A schedule is an interval ("24h", "@every 6h", at least a
// minute), "@hourly", "@daily", "@weekly", or a cron expression of five
// fields (minute hour day-of-month month day-of-week: numbers, *, ranges
// a-b, lists a,b and steps */n), in UTC.
func NextRun(schedule string, now time.Time) (time.Time, error) {
	s := strings.TrimSpace(schedule)
	switch s {
	case "":
		return time.Time{}, nil
	case "@hourly":
		s = "0 * * * *"
	case "@daily", "@midnight":
		s = "0 0 * * *"
	case "@weekly":
		s = "0 0 * * 0"
	}
	if d, err := time.ParseDuration(strings.TrimSpace(strings.TrimPrefix(s, "@every"))); err == nil {
		if d < time.Minute {
			return time.Time{}, fmt.Errorf("%q: an interval of at least a minute", schedule)
		}
		return now.Add(d), nil
	}
	c, err := parseCron(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: %v", schedule, err)
	}
	t := now.UTC().Truncate(time.Minute).Add(time.Minute)
	for end := t.AddDate(5, 0, 0); t.Before(end); t = t.Add(time.Minute) {
		if c.matches(t) {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q never runs", schedule)
}

type cron struct {
	minute, hour, dom, month, dow []bool
	// domAny, dowAny: the day fields were "*". As in cron, when both are
	// restricted a day matching either runs ("0 0 1 * 1": the 1st and
	// every Monday).
	domAny, dowAny bool
}

func (c cron) matches(t time.Time) bool {
	if !c.minute[t.Minute()] || !c.hour[t.Hour()] || !c.month[int(t.Month())] {
		return false
	}
	dom, dow := c.dom[t.Day()], c.dow[int(t.Weekday())]
	if c.domAny || c.dowAny {
		return dom && dow
	}
	return dom || dow
}

func parseCron(s string) (cron, error) {
	f := strings.Fields(s)
	if len(f) != 5 {
		return cron{}, fmt.Errorf("a cron expression has five fields (minute hour day month weekday), not %d", len(f))
	}
	var c cron
	var err error
	for i, spec := range []struct {
		dst      *[]bool
		min, max int
		name     string
	}{{&c.minute, 0, 59, "minute"}, {&c.hour, 0, 23, "hour"}, {&c.dom, 1, 31, "day of month"}, {&c.month, 1, 12, "month"}, {&c.dow, 0, 7, "day of week"}} {
		if *spec.dst, err = cronField(f[i], spec.min, spec.max); err != nil {
			return c, fmt.Errorf("%s: %v", spec.name, err)
		}
	}
	c.dow[0] = c.dow[0] || c.dow[7] // 7 is Sunday too
	c.domAny, c.dowAny = strings.HasPrefix(f[2], "*"), strings.HasPrefix(f[4], "*")
	return c, nil
}

func cronField(field string, min, max int) ([]bool, error) {
	set := make([]bool, max+1)
	for part := range strings.SplitSeq(field, ",") {
		rng, step := part, 1
		if r, s, ok := strings.Cut(part, "/"); ok {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("bad step in %q", part)
			}
			rng, step = r, n
		}
		lo, hi := min, max
		if rng != "*" {
			a, b, isRange := strings.Cut(rng, "-")
			var err error
			if lo, err = strconv.Atoi(a); err != nil {
				return nil, fmt.Errorf("bad value %q", part)
			}
			hi = lo
			if isRange {
				if hi, err = strconv.Atoi(b); err != nil {
					return nil, fmt.Errorf("bad range %q", part)
				}
			}
		}
		if lo < min || hi > max || lo > hi {
			return nil, fmt.Errorf("%q is outside %d-%d", part, min, max)
		}
		for v := lo; v <= hi; v += step {
			set[v] = true
		}
	}
	return set, nil
}
