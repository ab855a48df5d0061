package egress

import (
	"gatehouse/internal/egress/egresstest"

	"fmt"
	"net/http"
	"net/netip"
	"testing"
)

// testNet is the only network a test client sees (see egresstest).
type testNet struct{ *egresstest.Net }

func newTestNet(t *testing.T, hosts map[string]string) *testNet {
	t.Helper()
	return &testNet{egresstest.NewNet(t, hosts)}
}

// options returns Options using this network; more may be set on the result.
func (n *testNet) options() Options   { return Options{Resolver: n.Resolve, Dial: n.Dial} }
func (n *testNet) dialed() []string   { return n.Dialed() }
func (n *testNet) lookedUp() []string { return n.LookedUp() }

// server is a counting httptest server on 127.0.0.1.
type server struct{ *egresstest.Server }

func newServer(t *testing.T, h http.HandlerFunc) *server {
	t.Helper()
	return &server{egresstest.NewServer(t, h)}
}

func (s *server) port() int                   { return s.Port() }
func (s *server) hitCount() int               { return s.Hits() }
func (s *server) at(host, path string) string { return s.At(host, path) }

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
