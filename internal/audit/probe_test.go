package audit

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/coder/websocket"

	"gatehouse/internal/state"
)

// serveOnLoopback starts h on 127.0.0.1 and points d's config at it.
func serveOnLoopback(t *testing.T, d state.Dir, h http.Handler) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	setConfig(t, d, "gateway.port", port)
}

// leakyGateway is everything the probes look for: routes without auth, a
// WebSocket that takes any Origin and answers before connect, no lockout
// and no Host check.
func leakyGateway(t *testing.T) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"ok":true}`)) })
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := r.Context()
		c.Write(ctx, websocket.MessageText, []byte(`{"type":"event","event":"connect.challenge","payload":{"nonce":"x"}}`))
		if _, _, err := c.Read(ctx); err != nil {
			return
		}
		c.Write(ctx, websocket.MessageText, []byte(`{"type":"res","id":"audit-1","ok":true,"payload":{"version":"x"}}`))
		c.Read(ctx)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"name":"leaky"}`)) })
	return mux
}

// TestDeepCatchesLeakyGateway: a gateway that is open in every way the
// probes test is caught by each of them.
func TestDeepCatchesLeakyGateway(t *testing.T) {
	d, home := newState(t)
	serveOnLoopback(t, d, leakyGateway(t))
	o := testOptions(t, d, home)
	o.Deep = true
	rep := mustRun(t, o)
	for id, sev := range map[string]Severity{
		CheckProbeUnauth:   SeverityCritical,
		CheckProbeWSOrigin: SeverityCritical,
		CheckProbeWSUnauth: SeverityCritical,
		CheckProbeHost:     SeverityWarn,
		CheckProbeLockout:  SeverityWarn,
	} {
		fs := rep.FindingsOf(id)
		if len(fs) == 0 || fs[0].Severity != sev {
			t.Errorf("%s: %+v, want a %s finding", id, fs, sev)
		}
	}
	if c, _ := rep.Check(CheckGatewayRunning); c.Status != StatusPass {
		t.Errorf("gateway.running = %+v", c)
	}
	var insecure int
	for _, p := range rep.Probes {
		if !p.Secure {
			insecure++
		}
		if !strings.Contains(p.Request, "127.0.0.1") {
			t.Errorf("probe %q does not target loopback", p.Request)
		}
	}
	if insecure == 0 {
		t.Errorf("no probe reported as insecure: %+v", rep.Probes)
	}
	if t.Failed() {
		t.Log(dump(rep))
	}
}

// lockingGateway answers as Gatehouse does: 401 without the right token,
// and 429 for an address after ten wrong ones.
func lockingGateway(t *testing.T) (http.Handler, func() []string) {
	var mu sync.Mutex
	fails := map[string]int{}
	var seen []string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			w.Write([]byte(`{"ok":true}`))
			return
		}
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, host)
		if !strings.HasPrefix(r.Host, "127.0.0.1:") {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		if fails[host] >= lockoutAttempts {
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		if r.Header.Get("Authorization") != "" {
			fails[host]++
		}
		if r.URL.Path == "/ws" && r.Header.Get("Origin") != "" {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
	})
	return h, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}

// TestDeepLockoutSparesOwner: the lockout probe trips the lockout from an
// address of its own, never from 127.0.0.1, which the owner's CLI uses.
func TestDeepLockoutSparesOwner(t *testing.T) {
	d, home := newState(t)
	h, seen := lockingGateway(t)
	serveOnLoopback(t, d, h)
	o := testOptions(t, d, home)
	o.Deep = true
	rep := mustRun(t, o)
	c, _ := rep.Check(CheckProbeLockout)
	if c.Status != StatusPass {
		t.Fatalf("probe.lockout = %+v\n%s", c, dump(rep))
	}
	bad := 0
	for _, ip := range seen() {
		if ip != "127.0.0.1" {
			bad++
		}
	}
	if bad < lockoutAttempts {
		t.Errorf("only %d requests came from a spare loopback address", bad)
	}
	for _, id := range []string{CheckProbeUnauth, CheckProbeHost, CheckProbeWSOrigin} {
		if c, _ := rep.Check(id); c.Status != StatusPass {
			t.Errorf("%s = %+v, want pass", id, c)
		}
	}
}

func TestDeepNoGatewaySkips(t *testing.T) {
	d, home := newState(t)
	setConfig(t, d, "gateway.port", strconv.Itoa(closedPort(t)))
	o := testOptions(t, d, home)
	o.Deep = true
	rep := mustRun(t, o)
	for _, id := range append(gatewayChecks(), CheckGatewayRunning) {
		c, ok := rep.Check(id)
		if !ok || c.Status != StatusSkip || !strings.Contains(c.Reason, "no gateway answers") {
			t.Errorf("%s = %+v, want skipped because no gateway answers", id, c)
		}
	}
	if len(rep.Probes) != 0 {
		t.Errorf("probes sent to nothing: %+v", rep.Probes)
	}
}

// TestDeepNeverProbesBeyondLoopback: a gateway bound to a non-loopback
// address is not probed at all.
func TestDeepNeverProbesBeyondLoopback(t *testing.T) {
	d, home := newState(t)
	setConfig(t, d, "gateway.customBindHost", "192.0.2.10", "gateway.bind", "custom")
	o := testOptions(t, d, home)
	o.Deep = true
	rep := mustRun(t, o)
	if c, _ := rep.Check(CheckGatewayRunning); c.Status != StatusSkip || !strings.Contains(c.Reason, "loopback only") {
		t.Errorf("gateway.running = %+v", c)
	}
	if len(rep.Probes) != 0 {
		t.Errorf("probes: %+v", rep.Probes)
	}
}

func TestLoopbackTransportRefusesOtherAddresses(t *testing.T) {
	tr := loopbackTransport(nil, 0)
	if _, err := tr.DialContext(context.Background(), "tcp", "192.0.2.1:80"); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("dial 192.0.2.1 = %v, want a refusal", err)
	}
}

func TestSpareLoopback(t *testing.T) {
	for range 100 {
		a, err := spareLoopback()
		if err != nil {
			t.Fatal(err)
		}
		if !a.IsLoopback() || a.String() == "127.0.0.1" {
			t.Fatalf("spare address %s", a)
		}
	}
}
