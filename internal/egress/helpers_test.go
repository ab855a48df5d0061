package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// testNet is the only network a test client sees: a resolver that knows
// the test's fake names, and a dialer that connects to loopback and
// nowhere else, failing the test if asked to go further. A broken guard
// can therefore reach nothing outside 127.0.0.0/8 and ::1.
type testNet struct {
	t     *testing.T
	hosts map[string][]netip.Addr

	mu      sync.Mutex // guards the fields that follow
	dials   []string
	lookups []string
}

func newTestNet(t *testing.T, hosts map[string]string) *testNet {
	t.Helper()
	n := &testNet{t: t, hosts: make(map[string][]netip.Addr)}
	for name, list := range hosts {
		for _, a := range strings.Split(list, ",") {
			n.hosts[name] = append(n.hosts[name], netip.MustParseAddr(a))
		}
	}
	return n
}

// options returns Options using this network; more may be set on the result.
func (n *testNet) options() Options {
	return Options{Resolver: n.resolve, Dial: n.dial}
}

func (n *testNet) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	n.mu.Lock()
	n.lookups = append(n.lookups, host)
	n.mu.Unlock()
	if addrs, ok := n.hosts[host]; ok {
		return addrs, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func (n *testNet) dial(ctx context.Context, network, addr string) (net.Conn, error) {
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

func (n *testNet) dialed() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.dials...)
}

func (n *testNet) lookedUp() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.lookups...)
}

// server is an httptest server on 127.0.0.1 that counts its requests.
type server struct {
	*httptest.Server
	mu   sync.Mutex
	hits int
}

func newServer(t *testing.T, h http.HandlerFunc) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hits++
		s.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) port() int {
	return s.Listener.Addr().(*net.TCPAddr).Port
}

func (s *server) hitCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits
}

// at returns a URL on host at the server's port.
func (s *server) at(host, path string) string {
	return "http://" + net.JoinHostPort(host, strconv.Itoa(s.port())) + path
}

func text(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(w, body)
	}
}

// redirector answers /to?u=URL with a 302 to URL, and everything else
// with "final".
func redirector() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/to" {
			w.Header().Set("Location", r.URL.Query().Get("u"))
			w.WriteHeader(http.StatusFound)
			return
		}
		fmt.Fprint(w, "final")
	}
}

func prefixes(list ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(list))
	for i, s := range list {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}
