package events

import (
	"context"
	"encoding/json"

	"github.com/berth-registry/berth/registry/observe"
	"github.com/berth-registry/berth/storage/metadata"
)

// fold folds e into the record of the action it is part of
// (observe.Umbrella): e is that record, naming what was folded before it,
// or it is folded and not written.
func fold(ctx context.Context, e *metadata.Event) bool {
	u := observe.UmbrellaOf(ctx)
	if u == nil {
		return false
	}
	var data map[string]any
	_ = json.Unmarshal([]byte(e.Data), &data)
	tags, digests := stringList(data["tags"]), stringList(data["digests"])
	tags, digests = append([]string{e.Tag}, tags...), append([]string{e.Digest}, digests...)
	record, f := u.Take(e.Type, tags, digests)
	if !record {
		return true
	}
	e.Data = withFolded(e.Data, f)
	return false
}

// committed marks the request recorded (observe.Recorded) once a
// transaction wrote its record: under an umbrella, only once the
// umbrella's record was written.
func committed(ctx context.Context) {
	if u := observe.UmbrellaOf(ctx); u != nil && !u.Written() {
		return
	}
	observe.MarkRecorded(ctx)
}

// withFolded is data (a JSON object, or "") with the tags and digests f
// names, when it names any, and "truncated" when it could not name all.
func withFolded(data string, f observe.Folded) string {
	if len(f.Tags) == 0 && len(f.Digests) == 0 {
		return data
	}
	m := map[string]any{}
	_ = json.Unmarshal([]byte(data), &m)
	if len(f.Tags) > 0 {
		m["tags"] = f.Tags
	}
	if len(f.Digests) > 0 {
		m["digests"] = f.Digests
	}
	if f.Truncated {
		m["truncated"] = true
	}
	b, err := json.Marshal(m)
	if err != nil {
		return data
	}
	return string(b)
}

// stringList is v as a list of strings (a JSON array), else nil.
func stringList(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
