package gateway

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"gatehouse/internal/config"
)

// MinExposedSecretBits is the least entropy, in bits, of the secret of a
// gateway that listens beyond loopback.
const MinExposedSecretBits = 128

// ExposureError says why the gateway refuses to start with its config: Bind
// is gateway.bind, Reason what is wrong (naming the setting) and Fix the
// command that fixes it.
type ExposureError struct {
	Bind   string
	Reason string
	Fix    string
}

func (e *ExposureError) Error() string { return e.Reason + ": run " + e.Fix }

const (
	fixModeToken   = "gatehouse config set gateway.auth.mode token"
	fixRotate      = "gatehouse token rotate"
	fixToTokenAuth = fixModeToken + ", then " + fixRotate
)

// CheckExposure refuses a config that would let anyone reach the gateway
// without a strong secret: auth mode none on any bind, an empty secret, and a
// bind beyond loopback unless auth is token or password with a secret of at
// least 128 bits, as measured by bits. secret is the resolved token or
// password. The error is an [*ExposureError].
func CheckExposure(cfg *config.Config, secret string, bits func(string) int) error {
	g := cfg.Gateway
	mode := g.Auth.Mode
	switch mode {
	case "token", "password":
	case "none":
		return &ExposureError{
			Bind:   g.Bind,
			Reason: `gateway.auth.mode "none" is not supported, as every route but /healthz needs authentication`,
			Fix:    fixModeToken,
		}
	default:
		return &ExposureError{
			Bind:   g.Bind,
			Reason: fmt.Sprintf("gateway.auth.mode %q is not token or password", mode),
			Fix:    fixModeToken,
		}
	}
	if secret == "" {
		if mode == "password" {
			return &ExposureError{Bind: g.Bind, Reason: "gateway.auth.password is empty", Fix: fixToTokenAuth}
		}
		return &ExposureError{Bind: g.Bind, Reason: "gateway.auth.token is empty", Fix: fixRotate}
	}
	exposed, err := exposes(g)
	if err != nil {
		return err
	}
	if !exposed {
		return nil
	}
	have := 0
	if bits != nil {
		have = bits(secret)
	}
	if have >= MinExposedSecretBits {
		return nil
	}
	fix := fixRotate
	if mode == "password" {
		fix = fixToTokenAuth
	}
	return &ExposureError{
		Bind: g.Bind,
		Reason: fmt.Sprintf("gateway.bind %q exposes the gateway beyond this host and needs token auth with at least %d bits of secret (have: %d bits)",
			g.Bind, MinExposedSecretBits, have),
		Fix: fix,
	}
}

// exposes reports whether the bind reaches beyond this host.
func exposes(g config.Gateway) (bool, error) {
	switch g.Bind {
	case "loopback":
		return false, nil
	case "lan", "tailnet":
		return true, nil
	case "custom":
		ip, err := customHost(g)
		if err != nil {
			return false, err
		}
		return !ip.IsLoopback(), nil
	}
	return false, &ExposureError{
		Bind:   g.Bind,
		Reason: fmt.Sprintf("gateway.bind %q is not loopback, lan, tailnet or custom", g.Bind),
		Fix:    "gatehouse config set gateway.bind loopback",
	}
}

func customHost(g config.Gateway) (netip.Addr, error) {
	ip, err := netip.ParseAddr(g.CustomBindHost)
	if err != nil || ip.Zone() != "" {
		return netip.Addr{}, &ExposureError{
			Bind:   g.Bind,
			Reason: fmt.Sprintf("gateway.customBindHost %q is not an IP address", truncate(g.CustomBindHost, 64)),
			Fix:    "gatehouse config set gateway.customBindHost 127.0.0.1 (or the address to listen on)",
		}
	}
	return ip.Unmap(), nil
}

// ListenAddr returns the host:port the gateway listens on: 127.0.0.1 for
// loopback, all addresses for lan, this host's Tailscale address
// (100.64.0.0/10) for tailnet, gateway.customBindHost for custom.
func ListenAddr(cfg *config.Config) (string, error) {
	return listenAddr(cfg, interfaceAddrs)
}

func listenAddr(cfg *config.Config, addrs func() ([]netip.Addr, error)) (string, error) {
	g := cfg.Gateway
	if g.Port < 1 || g.Port > 65535 {
		return "", fmt.Errorf("gateway.port %d is not between 1 and 65535: run gatehouse config set gateway.port %d", g.Port, config.DefaultPort)
	}
	port := strconv.Itoa(g.Port)
	switch g.Bind {
	case "loopback":
		return net.JoinHostPort("127.0.0.1", port), nil
	case "lan":
		return net.JoinHostPort("0.0.0.0", port), nil
	case "tailnet":
		ip, err := tailnetAddr(addrs)
		if err != nil {
			return "", err
		}
		return net.JoinHostPort(ip.String(), port), nil
	case "custom":
		ip, err := customHost(g)
		if err != nil {
			return "", err
		}
		return net.JoinHostPort(ip.String(), port), nil
	}
	_, err := exposes(g)
	return "", err
}

// tailnetRange is the CGNAT range Tailscale assigns addresses from.
var tailnetRange = netip.MustParsePrefix("100.64.0.0/10")

func tailnetAddr(addrs func() ([]netip.Addr, error)) (netip.Addr, error) {
	list, err := addrs()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("list network interfaces: %w", err)
	}
	for _, a := range list {
		if tailnetRange.Contains(a.Unmap()) {
			return a.Unmap(), nil
		}
	}
	return netip.Addr{}, errors.New("no tailnet address found: is tailscale up?")
}

// interfaceAddrs lists the addresses of the interfaces that are up.
func interfaceAddrs() ([]netip.Addr, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if p, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(p.IP); ok {
					out = append(out, ip)
				}
			}
		}
	}
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
