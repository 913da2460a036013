package retention

import (
	"strings"
	"testing"
)

// A run's items read in one order whatever the lanes' interleaving:
// repositories in name order, each one's items as decided, numbered again.
func TestSortedItems(t *testing.T) {
	for _, tc := range []struct {
		name           string
		recorded, want []string // repository:tag
	}{
		{"none", nil, nil},
		{"one lane", []string{"a:3", "a:1", "b:2"}, []string{"a:3", "a:1", "b:2"}},
		{"two lanes", []string{"b:9", "a:3", "b:1", "a:1", "c:5", "a:2"}, []string{"a:3", "a:1", "a:2", "b:9", "b:1", "c:5"}},
		{"a name that is another's prefix", []string{"app/x:1", "app:1", "app-b:1"}, []string{"app:1", "app-b:1", "app/x:1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &walk{}
			for _, r := range tc.recorded {
				repo, tag, _ := strings.Cut(r, ":")
				w.record(repo, tag, "sha256:x", "removed")
			}
			var got []string
			for i, it := range w.sortedItems() {
				if it.Seq != int64(i+1) {
					t.Errorf("item %d has seq %d", i, it.Seq)
				}
				got = append(got, it.Repository+":"+it.Tag)
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("items %v, want %v", got, tc.want)
			}
		})
	}
}
