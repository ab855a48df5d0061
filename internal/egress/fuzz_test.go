package egress

import (
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// FuzzCheckURL feeds arbitrary strings to url.Parse and CheckURL. Whatever
// CheckURL accepts must be an http(s) URL with a host and no user
// information, whose host is either a public address or a name that no
// inet_aton-style parser reads as an address.
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{
		"https://example.com/", "http://example.com:8080/a?b=c#d", "http://93.184.215.14/",
		"http://169.254.169.254/latest/meta-data/", "http://127.0.0.1/", "http://[::1]/",
		"http://[::ffff:10.0.0.1]/", "http://[64:ff9b::a9fe:a9fe]/", "http://[fe80::1%25eth0]/",
		"http://2130706433/", "http://0x7f.1/", "http://017700000001/", "http://127.1/",
		"http://0177.0.0.1/", "http://127.000.000.001/", "http://127.0.0.1./", "http://1.2.3.4.5/",
		"file:///etc/passwd", "gopher://127.0.0.1:70/_x", "http://user:pass@example.com/",
		"http:///x", "http:example.com", "HTTP://EXAMPLE.COM/", "http://１２７.０.０.１/",
		"http://example.com:0/", "http://example.com:65536/", "http://[2002:7f00:1::]/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := url.Parse(raw)
		if err != nil {
			return
		}
		if CheckURL(u, nil) != nil {
			return
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			t.Fatalf("accepted scheme %q in %q", u.Scheme, raw)
		}
		if u.User != nil {
			t.Fatalf("accepted user information in %q", raw)
		}
		host := u.Hostname()
		if host == "" {
			t.Fatalf("accepted %q with no host", raw)
		}
		if ip, err := netip.ParseAddr(host); err == nil {
			if err := Check(ip, nil); err != nil {
				t.Fatalf("accepted %q whose host %s fails Check: %v", raw, ip, err)
			}
			return
		}
		if ip, ok := inetAton(host); ok {
			t.Fatalf("accepted %q whose host inet_aton reads as %s", raw, ip)
		}
	})
}

// FuzzCheck compares Check with the standard library's own predicates:
// an address Check allows is never loopback, private, link-local,
// multicast or unspecified, in any form.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{
		"8.8.8.8", "127.0.0.1", "::1", "::ffff:10.0.0.1", "fe80::1", "fd00:ec2::254",
		"64:ff9b::7f00:1", "2002:a00:1::", "2001:0:a00:1::1", "2606:4700::1111", "0.0.0.0", "::",
	} {
		a := netip.MustParseAddr(s).As16()
		f.Add(a[:])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var ip netip.Addr
		switch len(b) {
		case 4:
			ip = netip.AddrFrom4([4]byte(b))
		case 16:
			ip = netip.AddrFrom16([16]byte(b))
		default:
			return
		}
		if Check(ip, nil) != nil {
			return
		}
		for _, a := range []netip.Addr{ip, ip.Unmap()} {
			if a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
				a.IsMulticast() || a.IsUnspecified() || a.IsInterfaceLocalMulticast() {
				t.Fatalf("Check allowed %s", ip)
			}
		}
		if ip.Is6() && !ip.Is4In6() && !globalUnicast6.Contains(ip) && !nat64.Contains(ip) {
			t.Fatalf("Check allowed %s, outside global unicast", ip)
		}
	})
}

// inetAton parses s as BSD inet_aton does: one to four parts separated
// by dots, each decimal, octal (leading 0) or hexadecimal (0x), the last
// filling the remaining bytes. glibc's getaddrinfo accepts these forms.
func inetAton(s string) (netip.Addr, bool) {
	s = strings.TrimSuffix(s, ".")
	parts := strings.Split(s, ".")
	if len(parts) == 0 || len(parts) > 4 {
		return netip.Addr{}, false
	}
	vals := make([]uint64, len(parts))
	for i, p := range parts {
		base := 10
		switch {
		case strings.HasPrefix(p, "0x") || strings.HasPrefix(p, "0X"):
			base, p = 16, p[2:]
			if p == "" {
				p = "0"
			}
		case len(p) > 1 && p[0] == '0':
			base, p = 8, p[1:]
		}
		v, err := strconv.ParseUint(p, base, 32)
		if err != nil || p == "" || strings.ContainsAny(p, "+-_") {
			return netip.Addr{}, false
		}
		vals[i] = v
	}
	var n uint64
	last := len(vals) - 1
	for i := 0; i < last; i++ {
		if vals[i] > 255 {
			return netip.Addr{}, false
		}
		n |= vals[i] << (24 - 8*i)
	}
	if vals[last] >= 1<<(8*(4-last)) {
		return netip.Addr{}, false
	}
	n |= vals[last]
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}

func TestInetAton(t *testing.T) {
	for _, s := range []string{"2130706433", "0x7f.1", "017700000001", "127.1", "0177.0.0.1", "127.0.0.1", "0x7f000001"} {
		ip, ok := inetAton(s)
		if !ok || ip != netip.MustParseAddr("127.0.0.1") {
			t.Errorf("inetAton(%q) = %v, %v; want 127.0.0.1", s, ip, ok)
		}
	}
	for _, s := range []string{"example.com", "1.2.3.4.5", "256.1.1.1", "1.2.3.256"} {
		if ip, ok := inetAton(s); ok {
			t.Errorf("inetAton(%q) = %v, want no address", s, ip)
		}
	}
}
