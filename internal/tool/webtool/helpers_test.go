package webtool

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"strconv"
	"testing"

	"gatehouse/internal/egress"
	"gatehouse/internal/egress/egresstest"
	"gatehouse/internal/tool"
)

// testNet is the only network a test's egress client sees (see egresstest).
type testNet struct{ *egresstest.Net }

func newTestNet(t *testing.T, hosts map[string]string) *testNet {
	t.Helper()
	return &testNet{egresstest.NewNet(t, hosts)}
}

// options returns egress options using this network.
func (n *testNet) options() egress.Options {
	return egress.Options{Resolver: n.Resolve, Dial: n.Dial}
}

func (n *testNet) dialed() []string { return n.Dialed() }

// server is a counting httptest server on 127.0.0.1.
type server struct{ *egresstest.Server }

func newServer(t *testing.T, h http.HandlerFunc) *server {
	t.Helper()
	return &server{egresstest.NewServer(t, h)}
}

func (s *server) hitCount() int               { return s.Hits() }
func (s *server) port() string                { return strconv.Itoa(s.Port()) }
func (s *server) at(host, path string) string { return s.At(host, path) }

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
