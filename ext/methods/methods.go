// Package methods holds what every dialect's method dispatch shares: the
// Allow header of a 405.
package methods

import (
	"maps"
	"slices"
	"strings"
)

// Allow is the value of an Allow header for a route served by the methods
// that are the keys of byMethod: sorted, comma-separated.
func Allow[V any](byMethod map[string]V) string {
	return strings.Join(slices.Sorted(maps.Keys(byMethod)), ", ")
}
