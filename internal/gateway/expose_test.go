package gateway

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"gatehouse/internal/config"
)

func TestCheckExposure(t *testing.T) {
	tests := []struct {
		name    string
		bind    string
		custom  string
		mode    string
		secret  string
		wantErr string // the whole message, or "" for none
	}{
		{"loopback_token", "loopback", "", "token", testToken, ""},
		{"loopback_short_token", "loopback", "", "token", "abc123", ""},
		{"loopback_none", "loopback", "", "none", testToken,
			`gateway.auth.mode "none" is not supported, as every route but /healthz needs authentication: run gatehouse config set gateway.auth.mode token`},
		{"lan_none", "lan", "", "none", "",
			`gateway.auth.mode "none" is not supported, as every route but /healthz needs authentication: run gatehouse config set gateway.auth.mode token`},
		{"lan_short_token", "lan", "", "token", "abc123def456",
			`gateway.bind "lan" exposes the gateway beyond this host and needs token auth with at least 128 bits of secret (have: 48 bits): run gatehouse token rotate`},
		{"lan_64_hex_token", "lan", "", "token", testToken, ""},
		{"lan_32_hex_token", "lan", "", "token", testToken[:32], ""},
		{"lan_short_password", "lan", "", "password", "hunter2",
			`gateway.bind "lan" exposes the gateway beyond this host and needs token auth with at least 128 bits of secret (have: 0 bits): run gatehouse config set gateway.auth.mode token, then gatehouse token rotate`},
		{"tailnet_strong_password", "tailnet", "", "password", testToken, ""},
		{"empty_token", "loopback", "", "token", "", "gateway.auth.token is empty: run gatehouse token rotate"},
		{"empty_password", "loopback", "", "password", "", "gateway.auth.password is empty: run gatehouse config set gateway.auth.mode token, then gatehouse token rotate"},
		{"unknown_mode", "loopback", "", "oauth", testToken, `gateway.auth.mode "oauth" is not token or password: run gatehouse config set gateway.auth.mode token`},
		{"unknown_bind", "everywhere", "", "token", testToken, `gateway.bind "everywhere" is not loopback, lan, tailnet or custom: run gatehouse config set gateway.bind loopback`},
		{"custom_loopback_short_token", "custom", "127.0.0.2", "token", "abc", ""},
		{"custom_public_short_token", "custom", "192.0.2.10", "token", "abc",
			`gateway.bind "custom" exposes the gateway beyond this host and needs token auth with at least 128 bits of secret (have: 12 bits): run gatehouse token rotate`},
		{"custom_not_ip", "custom", "example.com", "token", testToken,
			`gateway.customBindHost "example.com" is not an IP address: run gatehouse config set gateway.customBindHost 127.0.0.1 (or the address to listen on)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.Gateway.Bind = tt.bind
			cfg.Gateway.CustomBindHost = tt.custom
			cfg.Gateway.Auth.Mode = tt.mode
			err := CheckExposure(cfg, tt.secret, hexBits)
			got := ""
			if err != nil {
				got = err.Error()
				var ee *ExposureError
				if !errors.As(err, &ee) || ee.Fix == "" || ee.Bind != tt.bind {
					t.Errorf("error: got %#v, want an *ExposureError with Bind %q and a Fix", err, tt.bind)
				}
			}
			if got != tt.wantErr {
				t.Errorf("CheckExposure:\n got %q\nwant %q", got, tt.wantErr)
			}
			if tt.secret != "" && strings.Contains(got, tt.secret) {
				t.Errorf("the error shows the secret: %s", got)
			}
		})
	}
}

func TestListenAddr(t *testing.T) {
	tailnet := func() ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("192.168.1.5"), netip.MustParseAddr("100.101.102.103")}, nil
	}
	noTailnet := func() ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("100.128.0.1")}, nil
	}
	tests := []struct {
		name    string
		bind    string
		custom  string
		port    int
		addrs   func() ([]netip.Addr, error)
		want    string
		wantErr string
	}{
		{"loopback", "loopback", "", 18789, nil, "127.0.0.1:18789", ""},
		{"lan", "lan", "", 8080, nil, "0.0.0.0:8080", ""},
		{"tailnet", "tailnet", "", 18789, tailnet, "100.101.102.103:18789", ""},
		{"tailnet_down", "tailnet", "", 18789, noTailnet, "", "no tailnet address found: is tailscale up?"},
		{"custom_ipv4", "custom", "192.0.2.7", 18789, nil, "192.0.2.7:18789", ""},
		{"custom_ipv6", "custom", "::1", 18789, nil, "[::1]:18789", ""},
		{"custom_empty", "custom", "", 18789, nil, "", `gateway.customBindHost "" is not an IP address: run gatehouse config set gateway.customBindHost 127.0.0.1 (or the address to listen on)`},
		{"bad_port", "loopback", "", 0, nil, "", "gateway.port 0 is not between 1 and 65535: run gatehouse config set gateway.port 18789"},
		{"unknown_bind", "moon", "", 18789, nil, "", `gateway.bind "moon" is not loopback, lan, tailnet or custom: run gatehouse config set gateway.bind loopback`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.Gateway.Bind = tt.bind
			cfg.Gateway.CustomBindHost = tt.custom
			cfg.Gateway.Port = tt.port
			got, err := listenAddr(cfg, tt.addrs)
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if got != tt.want || gotErr != tt.wantErr {
				t.Errorf("listenAddr: got %q, %q; want %q, %q", got, gotErr, tt.want, tt.wantErr)
			}
		})
	}
}

func TestNewRefusesEmptyToken(t *testing.T) {
	if _, err := New(Options{Config: config.Default()}); err == nil {
		t.Error("New without a token: got nil error, want one")
	}
	if _, err := New(Options{Token: testToken}); err == nil {
		t.Error("New without a config: got nil error, want one")
	}
}
