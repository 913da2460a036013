// Package netguard is berth's address policy for connections a user's
// input chooses the target of (a build's downloads, a webhook's URL): a
// connection goes only to a public address, or to one an allow-list
// names. The check runs on the address actually dialled (after DNS, and
// for every redirect), so a name that resolves to 127.0.0.1 or to a cloud
// metadata endpoint is refused as well.
package netguard

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"syscall"
)

// ErrRefused marks a connection the policy refused.
var ErrRefused = errors.New("address not allowed")

// nonPublic are the ranges refused unless allowed, besides what
// netip.Addr's predicates already exclude (loopback, link-local, multicast,
// unspecified, private).
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),      // "this network"; Linux dials 0.x as the host itself
	netip.MustParsePrefix("100.64.0.0/10"),  // carrier-grade NAT (shared address space)
	netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),    // reserved, and the broadcast address
	netip.MustParsePrefix("64:ff9b::/96"),   // NAT64: reaches any IPv4 address
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64
	netip.MustParsePrefix("2002::/16"),      // 6to4: embeds an IPv4 address
	netip.MustParsePrefix("2001::/32"),      // Teredo: embeds an IPv4 address
	netip.MustParsePrefix("100::/64"),       // discard-only
	netip.MustParsePrefix("2001:db8::/32"),  // documentation
	netip.MustParsePrefix("fec0::/10"),      // deprecated site-local
}

// ParseAllow parses an allow-list: CIDR prefixes or single addresses,
// separated by commas or spaces.
func ParseAllow(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q is neither a CIDR prefix (10.0.0.0/8) nor an address", f)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// Policy allows public addresses and those in Allow. Key is the setting
// that holds Allow, named in refusals.
type Policy struct {
	Allow []netip.Prefix
	Key   string
}

// Permits reports whether a connection to a is allowed.
func (p Policy) Permits(a netip.Addr) bool {
	a = a.Unmap()
	for _, pr := range p.Allow {
		if pr.Contains(a) {
			return true
		}
	}
	if !a.IsValid() || !a.IsGlobalUnicast() || a.IsPrivate() {
		return false
	}
	for _, pr := range nonPublic {
		if pr.Contains(a) {
			return false
		}
	}
	return true
}

// Control is a net.Dialer's Control: it refuses (ErrRefused) a connection
// to an address the policy does not permit.
func (p Policy) Control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrRefused, address)
	}
	if !p.Permits(ap.Addr()) {
		return fmt.Errorf("%w: %s is not a public address (allow it with %s)", ErrRefused, ap.Addr().Unmap(), p.Key)
	}
	return nil
}
