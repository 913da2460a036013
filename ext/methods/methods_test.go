package methods

import "testing"

func TestAllow(t *testing.T) {
	for _, tc := range []struct {
		in   map[string]int
		want string
	}{
		{nil, ""},
		{map[string]int{"GET": 1}, "GET"},
		{map[string]int{"PUT": 1, "DELETE": 2, "GET": 3}, "DELETE, GET, PUT"},
	} {
		if got := Allow(tc.in); got != tc.want {
			t.Errorf("Allow(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
