package berthtest

import (
	"encoding/json"
	"fmt"
	"testing"
)

// AssertShape checks got against a seed's example: every key the example
// has, with the same JSON type, recursively (arrays by their first
// element).
func AssertShape(t testing.TB, where string, got, want any) {
	t.Helper()
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			t.Errorf("%s: %T, want an object", where, got)
			return
		}
		for k, wv := range w {
			gv, present := g[k]
			if !present {
				t.Errorf("%s.%s: missing", where, k)
				continue
			}
			AssertShape(t, where+"."+k, gv, wv)
		}
	case []any:
		g, ok := got.([]any)
		if !ok {
			t.Errorf("%s: %T, want an array", where, got)
			return
		}
		if len(w) > 0 && len(g) > 0 {
			AssertShape(t, where+"[0]", g[0], w[0])
		}
	default:
		if fmt.Sprintf("%T", got) != fmt.Sprintf("%T", want) {
			t.Errorf("%s: %T (%v), want %T like %v", where, got, got, want, want)
		}
	}
}

// SeedJSON parses a seed's JSON example.
func SeedJSON(t testing.TB, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("seed example: %v", err)
	}
	return v
}
