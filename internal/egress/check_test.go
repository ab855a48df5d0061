package egress

import (
	"errors"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	everything := prefixes("0.0.0.0/0", "::/0")
	tests := []struct {
		name  string
		addr  string
		allow []netip.Prefix
		want  Class // "" means allowed
	}{
		// Public unicast.
		{"public_v4", "93.184.215.14", nil, ""},
		{"public_v4_dns", "1.1.1.1", nil, ""},
		{"public_v6", "2606:4700:4700::1111", nil, ""},
		{"public_mapped", "::ffff:8.8.8.8", nil, ""},
		{"nat64_public", "64:ff9b::808:808", nil, ""},
		{"sixtofour_public", "2002:808:808::1", nil, ""},
		{"teredo_public", "2001:0:4136:e378:8000:63bf:f7f7:fbfb", nil, ""}, // server 65.54.227.120, client 8.8.4.4
		{"shared_edge_below", "100.63.255.255", nil, ""},
		{"shared_edge_above", "100.128.0.0", nil, ""},
		{"private_edge_below", "172.15.255.255", nil, ""},
		{"private_edge_above", "172.32.0.0", nil, ""},
		{"benchmark_edge_above", "198.20.0.0", nil, ""},

		// IPv4 special-purpose ranges.
		{"this_network", "0.1.2.3", nil, ClassReserved},
		{"unspecified_v4", "0.0.0.0", nil, ClassUnspecified},
		{"private_10", "10.0.0.1", nil, ClassPrivate},
		{"private_10_top", "10.255.255.255", nil, ClassPrivate},
		{"shared_cgnat", "100.64.0.1", nil, ClassShared},
		{"shared_cgnat_top", "100.127.255.254", nil, ClassShared},
		{"loopback", "127.0.0.1", nil, ClassLoopback},
		{"loopback_other", "127.1.2.3", nil, ClassLoopback},
		{"link_local", "169.254.1.1", nil, ClassLinkLocal},
		{"private_172", "172.16.0.1", nil, ClassPrivate},
		{"private_172_top", "172.31.255.255", nil, ClassPrivate},
		{"ietf_assignments", "192.0.0.8", nil, ClassReserved},
		{"test_net_1", "192.0.2.1", nil, ClassDocumentation},
		{"sixtofour_relay", "192.88.99.1", nil, ClassReserved},
		{"private_192", "192.168.1.1", nil, ClassPrivate},
		{"benchmark", "198.18.0.1", nil, ClassBenchmark},
		{"benchmark_top", "198.19.255.255", nil, ClassBenchmark},
		{"test_net_2", "198.51.100.7", nil, ClassDocumentation},
		{"test_net_3", "203.0.113.9", nil, ClassDocumentation},
		{"multicast", "224.0.0.1", nil, ClassMulticast},
		{"multicast_top", "239.255.255.255", nil, ClassMulticast},
		{"reserved_240", "240.0.0.1", nil, ClassReserved},
		{"broadcast", "255.255.255.255", nil, ClassBroadcast},

		// Cloud metadata.
		{"metadata_aws", "169.254.169.254", nil, ClassMetadata},
		{"metadata_ecs", "169.254.170.2", nil, ClassMetadata},
		{"metadata_aws_v6", "fd00:ec2::254", nil, ClassMetadata},
		{"metadata_alibaba", "100.100.100.200", nil, ClassMetadata},
		{"metadata_oracle", "192.0.0.192", nil, ClassMetadata},
		{"metadata_azure_wireserver", "168.63.129.16", nil, ClassMetadata},
		{"metadata_mapped", "::ffff:169.254.169.254", nil, ClassMetadata},

		// IPv6 special-purpose ranges.
		{"unspecified_v6", "::", nil, ClassUnspecified},
		{"loopback_v6", "::1", nil, ClassLoopback},
		{"ula", "fd12:3456::1", nil, ClassPrivate},
		{"ula_fc", "fc00::1", nil, ClassPrivate},
		{"site_local", "fec0::1", nil, ClassPrivate},
		{"link_local_v6", "fe80::1", nil, ClassLinkLocal},
		{"link_local_v6_zone", "fe80::1%eth0", nil, ClassLinkLocal},
		{"global_with_zone", "2606:4700::1%eth0", nil, ClassInvalid},
		{"multicast_v6", "ff02::1", nil, ClassMulticast},
		{"documentation_v6", "2001:db8::1", nil, ClassDocumentation},
		{"documentation_3fff", "3fff::1", nil, ClassDocumentation},
		{"benchmark_v6", "2001:2::1", nil, ClassBenchmark},
		{"ietf_v6", "2001:10::1", nil, ClassReserved},
		{"discard_v6", "100::1", nil, ClassReserved},
		{"srv6", "5f00::1", nil, ClassReserved},
		{"nat64_local_use", "64:ff9b:1::a00:1", nil, ClassReserved},
		{"outside_2000_3", "4000::1", nil, ClassReserved},
		{"translated_siit", "::ffff:0:a00:1", nil, ClassReserved},

		// IPv6 forms carrying a refused IPv4 address.
		{"mapped_private", "::ffff:10.0.0.1", nil, ClassPrivate},
		{"mapped_loopback", "::ffff:127.0.0.1", nil, ClassLoopback},
		{"compatible_private", "::10.0.0.1", nil, ClassReserved},
		{"compatible_loopback", "::127.0.0.1", nil, ClassReserved},
		{"nat64_private", "64:ff9b::10.0.0.1", nil, ClassPrivate},
		{"nat64_metadata", "64:ff9b::169.254.169.254", nil, ClassMetadata},
		{"nat64_loopback", "64:ff9b::7f00:1", nil, ClassLoopback},
		{"sixtofour_private", "2002:a00:1::1", nil, ClassPrivate},
		{"sixtofour_loopback", "2002:7f00:1::", nil, ClassLoopback},
		{"teredo_private_server", "2001:0:a00:1::1", nil, ClassPrivate},
		{"teredo_loopback_client", "2001:0:4136:e378:8000:63bf:80ff:fffe", nil, ClassLoopback}, // ^7f.0.0.1

		// The owner's allow list.
		{"allowed_private", "10.0.0.1", prefixes("10.0.0.0/8"), ""},
		{"allowed_private_narrow", "192.168.1.5", prefixes("192.168.1.0/24"), ""},
		{"other_private_still_refused", "192.168.2.5", prefixes("192.168.1.0/24"), ClassPrivate},
		{"allowed_loopback", "127.0.0.1", prefixes("127.0.0.0/8"), ""},
		{"allowed_loopback_v6", "::1", prefixes("::1/128"), ""},
		{"allowed_mapped", "::ffff:10.0.0.1", prefixes("10.0.0.0/8"), ""},
		{"allowed_cgnat", "100.101.102.103", prefixes("100.64.0.0/10"), ""},
		{"allowed_ula", "fd7a:115c:a1e0::1", prefixes("fd7a:115c:a1e0::/48"), ""},
		{"allow_all_metadata", "169.254.169.254", everything, ClassMetadata},
		{"allow_all_metadata_in_cgnat", "100.100.100.200", everything, ClassMetadata},
		{"allow_all_metadata_oracle", "192.0.0.192", everything, ClassMetadata},
		{"allow_all_metadata_v6", "fd00:ec2::254", everything, ClassMetadata},
		{"allow_all_link_local", "169.254.1.1", everything, ClassLinkLocal},
		{"allow_all_link_local_v6", "fe80::1", everything, ClassLinkLocal},
		{"allow_all_unspecified", "0.0.0.0", everything, ClassUnspecified},
		{"allow_all_broadcast", "255.255.255.255", everything, ClassBroadcast},
		{"allow_all_multicast", "224.0.0.251", everything, ClassMulticast},
		{"allow_all_reserved", "240.0.0.1", everything, ClassReserved},
		{"allow_all_nat64_private", "64:ff9b::10.0.0.1", everything, ClassPrivate},
		{"allow_exact_metadata", "169.254.169.254", prefixes("169.254.169.254/32"), ClassMetadata},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(netip.MustParseAddr(tt.addr), tt.allow)
			var got Class
			var ae *AddrError
			if errors.As(err, &ae) {
				got = ae.Class
			} else if err != nil {
				t.Fatalf("Check(%s) = %v, not an *AddrError", tt.addr, err)
			}
			if got != tt.want {
				t.Errorf("Check(%s, %v) class = %q (%v), want %q", tt.addr, tt.allow, got, err, tt.want)
			}
		})
	}
}

func TestCheck_invalid(t *testing.T) {
	var ae *AddrError
	if err := Check(netip.Addr{}, nil); !errors.As(err, &ae) || ae.Class != ClassInvalid {
		t.Errorf("Check(zero Addr) = %v, want class %q", err, ClassInvalid)
	}
}

func TestAddrError_messages(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"private", Check(netip.MustParseAddr("10.0.0.1"), nil),
			"10.0.0.1 is a private address (in 10.0.0.0/8, RFC 1918)"},
		{"mapped", Check(netip.MustParseAddr("::ffff:10.0.0.1"), nil),
			"::ffff:10.0.0.1 is a private address (IPv4-mapped 10.0.0.1, in 10.0.0.0/8, RFC 1918)"},
		{"metadata", Check(netip.MustParseAddr("169.254.169.254"), nil),
			"169.254.169.254 is a cloud metadata address (in 169.254.169.254/32, AWS, GCP, Azure, OpenStack and others)"},
		{"resolved", &AddrError{Addr: netip.MustParseAddr("127.0.0.1"), Host: "evil.test", Class: ClassLoopback, Prefix: netip.MustParsePrefix("127.0.0.0/8")},
			"evil.test resolves to 127.0.0.1, a loopback address (in 127.0.0.0/8)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err == nil || tt.err.Error() != tt.want {
				t.Errorf("error = %v\nwant    %s", tt.err, tt.want)
			}
		})
	}
}

func TestClass_Allowable(t *testing.T) {
	for _, c := range []Class{ClassLoopback, ClassPrivate, ClassShared} {
		if !c.Allowable() {
			t.Errorf("%q.Allowable() = false, want true", c)
		}
	}
	for _, c := range []Class{ClassInvalid, ClassUnspecified, ClassLinkLocal, ClassMetadata, ClassMulticast,
		ClassBroadcast, ClassDocumentation, ClassBenchmark, ClassReserved} {
		if c.Allowable() {
			t.Errorf("%q.Allowable() = true, want false", c)
		}
	}
}

func TestCheckURL(t *testing.T) {
	tests := []struct {
		name    string
		url     string
		allow   []netip.Prefix
		wantErr string // "" means allowed
	}{
		{"https", "https://example.com/page?q=1", nil, ""},
		{"http_port", "http://example.com:8080/", nil, ""},
		{"public_literal", "http://93.184.215.14/", nil, ""},
		{"name_with_digits", "http://1password.com/", nil, ""},
		{"name_ending_in_digits_label", "http://host.example1.com/", nil, ""},
		{"allowed_private_literal", "http://10.1.2.3/", prefixes("10.0.0.0/8"), ""},
		{"file", "file:///etc/passwd", nil, `scheme "file" is not allowed`},
		{"gopher", "gopher://example.com:70/_x", nil, `scheme "gopher" is not allowed`},
		{"ftp", "ftp://example.com/", nil, `scheme "ftp" is not allowed`},
		{"javascript", "javascript:alert(1)", nil, `scheme "javascript" is not allowed`},
		{"relative", "/etc/passwd", nil, "not an absolute URL"},
		{"opaque", "http:example.com", nil, "not an absolute URL with a host"},
		{"no_host", "http:///path", nil, "no host"},
		{"userinfo", "http://user:pass@example.com/", nil, "user name or password"},
		{"user_only", "https://token@example.com/", nil, "user name or password"},
		{"port_zero", "http://example.com:0/", nil, "not a port number"},
		{"port_too_big", "http://example.com:70000/", nil, "not a port number"},
		{"loopback", "http://127.0.0.1/", nil, "loopback address"},
		{"loopback_v6", "http://[::1]:8080/", nil, "loopback address"},
		{"metadata", "http://169.254.169.254/latest/meta-data/", nil, "cloud metadata address"},
		{"mapped_private", "http://[::ffff:10.0.0.1]/", nil, "private address"},
		{"zone", "http://[fe80::1%25eth0]/", nil, "link-local address"},
		{"decimal", "http://2130706433/", nil, "ends in a number"},
		{"hex_short", "http://0x7f.1/", nil, "ends in a number"},
		{"octal", "http://017700000001/", nil, "ends in a number"},
		{"short_dotted", "http://127.1/", nil, "ends in a number"},
		{"octal_dotted", "http://0177.0.0.1/", nil, "ends in a number"},
		{"zero_padded", "http://127.000.000.001/", nil, "ends in a number"},
		{"hex_dotted", "http://0x7f.0x0.0x0.0x1/", nil, "ends in a number"},
		{"trailing_dot", "http://127.0.0.1./", nil, "ends in a number"},
		{"bare_hex", "http://0x/", nil, "ends in a number"},
		{"uppercase_hex", "http://0X7F000001/", nil, "ends in a number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := url.Parse(tt.url)
			if err != nil {
				t.Fatalf("url.Parse(%q): %v", tt.url, err)
			}
			err = CheckURL(u, tt.allow)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("CheckURL(%q) = %v, want nil", tt.url, err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("CheckURL(%q) = %v, want an error containing %q", tt.url, err, tt.wantErr)
			}
		})
	}
}

func TestCheckURL_nil(t *testing.T) {
	if err := CheckURL(nil, nil); err == nil {
		t.Error("CheckURL(nil) = nil, want an error")
	}
}

func TestParsePrefixes(t *testing.T) {
	got, err := ParsePrefixes([]string{"192.168.1.7/24", " 10.0.0.0/8 ", "fd00::/8", "192.168.5.5", "::ffff:10.1.1.1"})
	if err != nil {
		t.Fatal(err)
	}
	want := prefixes("192.168.1.0/24", "10.0.0.0/8", "fd00::/8", "192.168.5.5/32", "10.1.1.1/32")
	if len(got) != len(want) {
		t.Fatalf("ParsePrefixes = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("ParsePrefixes[%d] = %v, want %v", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "lan", "", "fe80::1%eth0", "10.0.0.0/8/8"} {
		if _, err := ParsePrefixes([]string{bad}); err == nil || !strings.Contains(err.Error(), "CIDR") {
			t.Errorf("ParsePrefixes(%q) = %v, want an error naming CIDR", bad, err)
		}
	}
}
