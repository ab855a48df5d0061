// Package egresstest is the network of egress tests: a resolver that knows
// the test's fake names, a dialer that reaches loopback and nowhere else
// (failing the test if asked to go further), and counting httptest
// servers on 127.0.0.1. With it a broken guard can reach nothing outside
// 127.0.0.0/8 and ::1.
package egresstest

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Net is a test's whole network. Use Resolve and Dial as egress.Options'
// Resolver and Dial.
type Net struct {
	t     testing.TB
	hosts map[string][]netip.Addr

	mu      sync.Mutex // guards the fields that follow
	dials   []string
	lookups []string
}

// NewNet returns a network where each name of hosts resolves to its
// comma-separated addresses.
func NewNet(t testing.TB, hosts map[string]string) *Net {
	t.Helper()
	n := &Net{t: t, hosts: make(map[string][]netip.Addr)}
	for name, list := range hosts {
		for _, a := range strings.Split(list, ",") {
			n.hosts[name] = append(n.hosts[name], netip.MustParseAddr(a))
		}
	}
	return n
}

// Resolve answers from the test's names only.
func (n *Net) Resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	n.mu.Lock()
	n.lookups = append(n.lookups, host)
	n.mu.Unlock()
	if addrs, ok := n.hosts[host]; ok {
		return addrs, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// Dial connects to loopback addresses only; anything else fails the test
// and is never dialled.
func (n *Net) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Unmap().IsLoopback() {
		n.t.Errorf("dial %s %s: tests may only dial loopback addresses", network, addr)
		return nil, errors.New("test dialer: only loopback addresses are dialed in tests")
	}
	n.mu.Lock()
	n.dials = append(n.dials, addr)
	n.mu.Unlock()
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

// Dialed returns the addresses dialled so far.
func (n *Net) Dialed() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.dials...)
}

// LookedUp returns the names resolved so far.
func (n *Net) LookedUp() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.lookups...)
}

// Server is an httptest server on 127.0.0.1 that counts its requests.
type Server struct {
	*httptest.Server
	mu   sync.Mutex
	hits int
}

// NewServer starts a server for h, closed when the test ends.
func NewServer(t testing.TB, h http.HandlerFunc) *Server {
	t.Helper()
	s := &Server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hits++
		s.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

// Port is the server's TCP port.
func (s *Server) Port() int { return s.Listener.Addr().(*net.TCPAddr).Port }

// Hits counts the requests served.
func (s *Server) Hits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits
}

// At returns a URL on host at the server's port.
func (s *Server) At(host, path string) string {
	return "http://" + net.JoinHostPort(host, strconv.Itoa(s.Port())) + path
}
