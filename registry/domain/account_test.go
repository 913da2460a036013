package domain

import (
	"regexp"
	"testing"
)

func TestAccountID(t *testing.T) {
	hex32 := regexp.MustCompile(`^[0-9a-f]{32}$`)
	a, b := AccountID("admin"), AccountID("alice")
	if !hex32.MatchString(a) || !hex32.MatchString(b) || a == b || AccountID("admin") != a {
		t.Fatalf("AccountID: admin %q, alice %q", a, b)
	}
}
