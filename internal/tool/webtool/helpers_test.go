package webtool

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"

	"gatehouse/internal/egress"
	"gatehouse/internal/tool"
)

// testNet is the only network a test's egress client sees: a resolver
// that knows the test's fake names, and a dialer that connects to
// loopback and nowhere else, failing the test if asked to go further. A
// broken guard can therefore reach nothing outside 127.0.0.0/8 and ::1.
type testNet struct {
	t     *testing.T
	hosts map[string][]netip.Addr

	mu    sync.Mutex // guards dials
	dials []string
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

// options returns egress options using this network.
func (n *testNet) options() egress.Options {
	return egress.Options{
		Resolver: func(ctx context.Context, host string) ([]netip.Addr, error) {
			if addrs, ok := n.hosts[host]; ok {
				return addrs, nil
			}
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		},
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
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
		},
	}
}

func (n *testNet) dialed() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.dials...)
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

func (s *server) hitCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits
}

func (s *server) port() string {
	return strconv.Itoa(s.Listener.Addr().(*net.TCPAddr).Port)
}

// at returns a URL on host at the server's port.
func (s *server) at(host, path string) string {
	return "http://" + net.JoinHostPort(host, s.port()) + path
}

// run calls t with args given as a JSON object.
func run(t *testing.T, tl tool.Tool, args any) tool.Result {
	t.Helper()
	raw, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	res, err := tl.Run(context.Background(), tool.Call{Args: raw})
	if err != nil {
		t.Fatalf("Run(%s) error: %v", raw, err)
	}
	return res
}

func prefixes(list ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(list))
	for i, s := range list {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}
