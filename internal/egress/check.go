package egress

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// Class names a kind of address the guard refuses.
type Class string

// The classes of refused addresses. Only [ClassLoopback], [ClassPrivate]
// and [ClassShared] can be re-allowed by the owner ([Class.Allowable]).
const (
	// ClassInvalid is not an address at all: the zero netip.Addr, an IPv6
	// address with a zone outside link-local, or a host name that is a
	// number in a legacy form (2130706433, 0x7f.1).
	ClassInvalid Class = "invalid"
	// ClassUnspecified is 0.0.0.0 and ::, which Linux connects to the
	// local host.
	ClassUnspecified Class = "unspecified"
	// ClassLoopback is 127.0.0.0/8 and ::1.
	ClassLoopback Class = "loopback"
	// ClassPrivate is RFC 1918 (10/8, 172.16/12, 192.168/16), IPv6
	// unique-local fc00::/7 and deprecated site-local fec0::/10.
	ClassPrivate Class = "private"
	// ClassShared is the carrier-grade NAT space 100.64.0.0/10 (RFC 6598),
	// also used by Tailscale.
	ClassShared Class = "shared (carrier-grade NAT)"
	// ClassLinkLocal is 169.254.0.0/16 and fe80::/10.
	ClassLinkLocal Class = "link-local"
	// ClassMetadata is a cloud provider's instance metadata or platform
	// endpoint, where instance credentials live.
	ClassMetadata Class = "cloud metadata"
	// ClassMulticast is 224.0.0.0/4 and ff00::/8.
	ClassMulticast Class = "multicast"
	// ClassBroadcast is 255.255.255.255.
	ClassBroadcast Class = "broadcast"
	// ClassDocumentation is the ranges reserved for examples (192.0.2/24,
	// 198.51.100/24, 203.0.113/24, 2001:db8::/32, 3fff::/20).
	ClassDocumentation Class = "documentation"
	// ClassBenchmark is 198.18.0.0/15 and 2001:2::/48.
	ClassBenchmark Class = "benchmarking"
	// ClassReserved is every other special-purpose range: 0.0.0.0/8,
	// 192.0.0.0/24, 240.0.0.0/4, IPv4-compatible IPv6, and IPv6 outside
	// the global unicast space 2000::/3.
	ClassReserved Class = "reserved"
)

// Allowable reports whether the owner may re-allow addresses of class c
// with Options.AllowPrivate or Options.AllowHosts. Link-local, metadata,
// unspecified, multicast, broadcast and reserved addresses never are.
func (c Class) Allowable() bool {
	return c == ClassLoopback || c == ClassPrivate || c == ClassShared
}

// AddrError reports an address the guard refuses, and why.
type AddrError struct {
	// Addr is the refused address as given (an IPv4-mapped IPv6 address
	// stays mapped); it is the zero Addr when Host is not an address.
	Addr netip.Addr
	// Host is the host name that resolved to Addr, or the host that is not
	// a name; empty when Addr was given as a literal.
	Host string
	// Class is what kind of address it is.
	Class Class
	// Prefix is the special-purpose range the address (or the IPv4
	// address it carries) falls in, when there is one.
	Prefix netip.Prefix
	// Embedded is the IPv4 address an IPv6 form carries, and Form the form
	// ("IPv4-mapped", "NAT64", "6to4", "Teredo server", "Teredo client"),
	// when the refusal is about that IPv4 address.
	Embedded netip.Addr
	Form     string
	// Reason says what the range is for, when there is more to say than
	// its class.
	Reason string
}

// Error says which address (or host) is refused, its class and range.
func (e *AddrError) Error() string {
	var what string
	switch {
	case !e.Addr.IsValid() && e.Host != "":
		return fmt.Sprintf("host %q is refused: %s", e.Host, e.Reason)
	case e.Host != "":
		what = fmt.Sprintf("%s resolves to %s, a %s address", e.Host, e.Addr, e.Class)
	default:
		what = fmt.Sprintf("%s is a %s address", e.Addr, e.Class)
	}
	var details []string
	if e.Embedded.IsValid() {
		details = append(details, fmt.Sprintf("%s %s", e.Form, e.Embedded))
	}
	if e.Prefix.IsValid() {
		details = append(details, "in "+e.Prefix.String())
	}
	if e.Reason != "" {
		details = append(details, e.Reason)
	}
	if len(details) == 0 {
		return what
	}
	return what + " (" + strings.Join(details, ", ") + ")"
}

// rule is one special-purpose range.
type rule struct {
	prefix netip.Prefix
	class  Class
	reason string
}

func special(prefix string, class Class, reason string) rule {
	return rule{prefix: netip.MustParsePrefix(prefix), class: class, reason: reason}
}

// metadata are the cloud metadata and platform addresses, refused before
// anything else so that no allow-list can re-open them.
var metadata = []rule{
	special("169.254.169.254/32", ClassMetadata, "AWS, GCP, Azure, OpenStack and others"),
	special("169.254.170.2/32", ClassMetadata, "AWS ECS task credentials"),
	special("fd00:ec2::254/128", ClassMetadata, "AWS IPv6"),
	special("100.100.100.200/32", ClassMetadata, "Alibaba Cloud"),
	special("192.0.0.192/32", ClassMetadata, "Oracle Cloud"),
	special("168.63.129.16/32", ClassMetadata, "Azure WireServer"),
}

// rules4 are the refused IPv4 ranges, most specific first.
var rules4 = []rule{
	special("0.0.0.0/32", ClassUnspecified, ""),
	special("0.0.0.0/8", ClassReserved, `"this network", RFC 791`),
	special("10.0.0.0/8", ClassPrivate, "RFC 1918"),
	special("100.64.0.0/10", ClassShared, "RFC 6598"),
	special("127.0.0.0/8", ClassLoopback, ""),
	special("169.254.0.0/16", ClassLinkLocal, ""),
	special("172.16.0.0/12", ClassPrivate, "RFC 1918"),
	special("192.0.0.0/24", ClassReserved, "IETF protocol assignments, RFC 6890"),
	special("192.0.2.0/24", ClassDocumentation, "TEST-NET-1"),
	special("192.88.99.0/24", ClassReserved, "deprecated 6to4 relay anycast, RFC 7526"),
	special("192.168.0.0/16", ClassPrivate, "RFC 1918"),
	special("198.18.0.0/15", ClassBenchmark, "RFC 2544"),
	special("198.51.100.0/24", ClassDocumentation, "TEST-NET-2"),
	special("203.0.113.0/24", ClassDocumentation, "TEST-NET-3"),
	special("224.0.0.0/4", ClassMulticast, ""),
	special("255.255.255.255/32", ClassBroadcast, ""),
	special("240.0.0.0/4", ClassReserved, "RFC 1112"),
}

// rules6 are the refused IPv6 ranges, most specific first. Addresses
// carrying IPv4 (IPv4-mapped, NAT64, 6to4, Teredo) are judged by the IPv4
// address before these apply; anything outside 2000::/3 that none of
// these names is refused as reserved.
var rules6 = []rule{
	special("::/128", ClassUnspecified, ""),
	special("::1/128", ClassLoopback, ""),
	special("::/96", ClassReserved, "deprecated IPv4-compatible IPv6, RFC 4291"),
	special("64:ff9b:1::/48", ClassReserved, "local-use NAT64, RFC 8215"),
	special("100::/64", ClassReserved, "discard-only, RFC 6666"),
	special("2001:2::/48", ClassBenchmark, "RFC 5180"),
	special("2001:db8::/32", ClassDocumentation, "RFC 3849"),
	special("2001::/23", ClassReserved, "IETF protocol assignments, RFC 2928"),
	special("3fff::/20", ClassDocumentation, "RFC 9637"),
	special("5f00::/16", ClassReserved, "SRv6 SIDs, RFC 9602"),
	special("fc00::/7", ClassPrivate, "unique local, RFC 4193"),
	special("fe80::/10", ClassLinkLocal, ""),
	special("fec0::/10", ClassPrivate, "deprecated site-local, RFC 3879"),
	special("ff00::/8", ClassMulticast, ""),
}

var (
	globalUnicast6 = netip.MustParsePrefix("2000::/3")
	nat64          = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour      = netip.MustParsePrefix("2002::/16")
	teredo         = netip.MustParsePrefix("2001::/32")
)

// Check reports whether a connection to ip is allowed: nil for a public
// unicast address, an [*AddrError] naming the class and range otherwise.
// An address in one of the allow prefixes is allowed when its class is
// [Class.Allowable] (loopback, private, carrier-grade NAT); metadata,
// link-local and the other classes are refused whatever allow says.
// IPv4-mapped IPv6 addresses are judged as the IPv4 address they carry;
// NAT64, 6to4 and Teredo addresses are refused when the IPv4 addresses
// they carry would be, allow lists notwithstanding.
func Check(ip netip.Addr, allow []netip.Prefix) error {
	if e := classify(ip, allow, false); e != nil {
		return e
	}
	return nil
}

// classify is Check; anyPrivate allows every allowable address, for
// hosts the owner named.
func classify(ip netip.Addr, allow []netip.Prefix, anyPrivate bool) *AddrError {
	if !ip.IsValid() {
		return &AddrError{Addr: ip, Class: ClassInvalid, Reason: "not an IP address"}
	}
	if ip.Zone() != "" {
		if e := classify(ip.WithZone(""), allow, anyPrivate); e != nil {
			e.Addr = ip
			return e
		}
		return &AddrError{Addr: ip, Class: ClassInvalid, Reason: "an IPv6 zone is only meaningful on a link-local address"}
	}
	if ip.Is4In6() {
		v4 := ip.Unmap()
		if e := classify(v4, allow, anyPrivate); e != nil {
			e.Addr, e.Embedded, e.Form = ip, v4, "IPv4-mapped"
			return e
		}
		return nil
	}
	if ru, ok := match(metadata, ip); ok {
		return ru.refuse(ip)
	}
	if ip.Is6() {
		if e := classifyEmbedded(ip); e != nil || carriesIPv4(ip) {
			return e
		}
	}
	rules := rules4
	if ip.Is6() {
		rules = rules6
	}
	ru, ok := match(rules, ip)
	if !ok {
		if ip.Is4() || globalUnicast6.Contains(ip) {
			return nil
		}
		return &AddrError{Addr: ip, Class: ClassReserved, Reason: "outside the global unicast space 2000::/3"}
	}
	if ru.class.Allowable() && (anyPrivate || inAny(allow, ip)) {
		return nil
	}
	return ru.refuse(ip)
}

// carriesIPv4 reports whether ip is a NAT64, 6to4 or Teredo address.
func carriesIPv4(ip netip.Addr) bool {
	return nat64.Contains(ip) || sixToFour.Contains(ip) || teredo.Contains(ip)
}

// classifyEmbedded judges the IPv4 addresses that NAT64, 6to4 and Teredo
// addresses carry, strictly (no allow list: the owner allowed networks,
// not tunnels to them).
func classifyEmbedded(ip netip.Addr) *AddrError {
	b := ip.As16()
	type carried struct {
		form string
		v4   netip.Addr
	}
	var cs []carried
	switch {
	case nat64.Contains(ip):
		cs = []carried{{"NAT64", netip.AddrFrom4([4]byte(b[12:16]))}}
	case sixToFour.Contains(ip):
		cs = []carried{{"6to4", netip.AddrFrom4([4]byte(b[2:6]))}}
	case teredo.Contains(ip):
		client := [4]byte{^b[12], ^b[13], ^b[14], ^b[15]} // obfuscated, RFC 4380
		cs = []carried{
			{"Teredo server", netip.AddrFrom4([4]byte(b[4:8]))},
			{"Teredo client", netip.AddrFrom4(client)},
		}
	}
	for _, c := range cs {
		if e := classify(c.v4, nil, false); e != nil {
			e.Addr, e.Embedded, e.Form = ip, c.v4, c.form
			return e
		}
	}
	return nil
}

func match(rules []rule, ip netip.Addr) (rule, bool) {
	for _, ru := range rules {
		if ru.prefix.Contains(ip) {
			return ru, true
		}
	}
	return rule{}, false
}

func (ru rule) refuse(ip netip.Addr) *AddrError {
	return &AddrError{Addr: ip, Class: ru.class, Prefix: ru.prefix, Reason: ru.reason}
}

func inAny(prefixes []netip.Prefix, ip netip.Addr) bool {
	for _, p := range prefixes {
		if p.IsValid() && p.Contains(ip) {
			return true
		}
	}
	return false
}

// CheckURL reports whether u may be requested at all, before any address
// is known: the scheme must be http or https, there must be a host and no
// user information, the port (if any) must be 1 to 65535, and a host that
// is an IP address must pass [Check] with allow. A host name whose last
// label is a number (2130706433, 0x7f.1, 127.1, 017700000001) is refused:
// resolvers read those as IPv4 addresses in legacy forms, and a real name
// never ends in a number. Names are judged when they are resolved, at
// dial time.
func CheckURL(u *url.URL, allow []netip.Prefix) error {
	return checkURL(u, allow, nil)
}

func checkURL(u *url.URL, allow []netip.Prefix, hosts map[string]bool) error {
	if u == nil {
		return errors.New("no URL")
	}
	switch u.Scheme {
	case "http", "https":
	case "":
		return errors.New("not an absolute URL: give one starting with https:// or http://")
	default:
		return fmt.Errorf("scheme %q is not allowed: only http and https URLs can be fetched", u.Scheme)
	}
	if u.User != nil {
		return errors.New("URLs with a user name or password (user:pass@host) are not allowed")
	}
	if u.Opaque != "" {
		return errors.New("not an absolute URL with a host: write it as http://host/path")
	}
	host := u.Hostname()
	if host == "" {
		return errors.New("the URL has no host")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			return fmt.Errorf("port %q is not a port number (1 to 65535)", p)
		}
	}
	return checkHost(host, allow, hosts)
}

// checkHost judges a host as far as it can without resolving it: an IP
// literal fully, a name only for legacy numeric forms.
func checkHost(host string, allow []netip.Prefix, hosts map[string]bool) error {
	if ip, err := netip.ParseAddr(host); err == nil {
		if e := classify(ip, allow, hosts[normalizeHost(host)]); e != nil {
			return e
		}
		return nil
	}
	if numericHost(host) {
		return &AddrError{Host: host, Class: ClassInvalid,
			Reason: "it ends in a number, which resolvers read as a legacy IPv4 address; write an address as four decimal numbers (93.184.215.14)"}
	}
	return nil
}

// numericHost reports whether host's last label is a number, decimal or
// hexadecimal, as the WHATWG URL standard's "ends in a number" test: such
// a host is an IPv4 address to browsers and to inet_aton, never a name.
func numericHost(host string) bool {
	h := strings.TrimSuffix(host, ".")
	last := h[strings.LastIndexByte(h, '.')+1:]
	if last == "" {
		return false
	}
	if rest, ok := strings.CutPrefix(strings.ToLower(last), "0x"); ok {
		return strings.Trim(rest, "0123456789abcdef") == ""
	}
	return strings.Trim(last, "0123456789") == ""
}

// normalizeHost is how host names are compared: lower case, no brackets,
// no final dot.
func normalizeHost(host string) string {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return strings.TrimSuffix(strings.ToLower(host), ".")
}

// ParsePrefixes parses the owner's list of networks to re-allow: CIDR
// prefixes (192.168.1.0/24, fd00::/8) or single addresses (192.168.1.5).
// Prefixes are masked to their network (192.168.1.7/24 is 192.168.1.0/24).
func ParsePrefixes(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for i, s := range list {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		ip, err := netip.ParseAddr(s)
		if err != nil || ip.Zone() != "" {
			return nil, fmt.Errorf("entry %d, %q, is not a network: write a CIDR prefix such as 192.168.1.0/24 or fd00::/8", i, s)
		}
		ip = ip.Unmap()
		out = append(out, netip.PrefixFrom(ip, ip.BitLen()))
	}
	return out, nil
}
