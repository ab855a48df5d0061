package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/rpc"
)

var securityHeaders = map[string]string{
	"X-Content-Type-Options":  "nosniff",
	"X-Frame-Options":         "DENY",
	"Referrer-Policy":         "no-referrer",
	"Content-Security-Policy": "default-src 'none'",
	"Cache-Control":           "no-store",
}

func checkSecurityHeaders(t *testing.T, h http.Header) {
	t.Helper()
	for k, want := range securityHeaders {
		if got := h.Get(k); got != want {
			t.Errorf("header %s: got %q, want %q", k, got, want)
		}
	}
}

func TestHealthz(t *testing.T) {
	tg := startGateway(t, nil)
	status, h, body := tg.get(t, "/healthz", "")
	if status != http.StatusOK {
		t.Errorf("GET /healthz: got %d, want 200", status)
	}
	if body != `{"ok":true}` {
		t.Errorf("GET /healthz body: got %q, want %q", body, `{"ok":true}`)
	}
	checkSecurityHeaders(t, h)

	req, _ := http.NewRequest(http.MethodPost, "http://"+tg.addr+"/healthz", nil)
	if status, _, _ := tg.do(t, req); status != http.StatusMethodNotAllowed {
		t.Errorf("POST /healthz: got %d, want 405", status)
	}
}

func TestHTTPAuth(t *testing.T) {
	tg := startGateway(t, nil)
	tests := []struct {
		name       string
		path       string
		header     string // Authorization
		wantStatus int
		wantCode   string // error code, or "" for success
	}{
		{"no_token", "/", "", http.StatusUnauthorized, "unauthorized"},
		{"right_token", "/", "Bearer " + testToken, http.StatusOK, ""},
		{"scheme_case_insensitive", "/", "bearer " + testToken, http.StatusOK, ""},
		{"wrong_token", "/", "Bearer " + strings.Repeat("0", 64), http.StatusUnauthorized, "unauthorized"},
		{"token_prefix", "/", "Bearer " + testToken[:32], http.StatusUnauthorized, "unauthorized"},
		{"basic_scheme", "/", "Basic " + testToken, http.StatusUnauthorized, "unauthorized"},
		{"token_in_query", "/?token=" + testToken, "", http.StatusUnauthorized, "unauthorized"},
		{"access_token_in_query", "/?access_token=" + testToken, "", http.StatusUnauthorized, "unauthorized"},
		{"token_as_other_query_value", "/?x=" + testToken, "", http.StatusUnauthorized, "unauthorized"},
		{"header_and_token_in_query", "/?token=" + testToken, "Bearer " + testToken, http.StatusUnauthorized, "unauthorized"},
		{"header_and_secret_query_value", "/?q=" + url.QueryEscape(testToken), "Bearer " + testToken, http.StatusUnauthorized, "unauthorized"},
		{"header_and_harmless_query", "/?verbose=1", "Bearer " + testToken, http.StatusOK, ""},
		{"unknown_path_without_token", "/admin", "", http.StatusUnauthorized, "unauthorized"},
		{"unknown_path", "/admin", "Bearer " + testToken, http.StatusNotFound, "not_found"},
		{"healthz_subpath_needs_auth", "/healthz/x", "", http.StatusUnauthorized, "unauthorized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, "http://"+tg.addr+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			status, h, body := tg.do(t, req)
			if status != tt.wantStatus {
				t.Errorf("status: got %d, want %d (body %s)", status, tt.wantStatus, body)
			}
			checkSecurityHeaders(t, h)
			if got := h.Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type: got %q, want application/json", got)
			}
			if tt.wantCode == "" {
				var root rootResponse
				if err := json.Unmarshal([]byte(body), &root); err != nil || root.Name != "gatehouse" || root.Version != "1.2.3-test" {
					t.Errorf("body: got %s, want name gatehouse and version 1.2.3-test", body)
				}
				return
			}
			var e errorResponse
			if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.Code != tt.wantCode {
				t.Errorf("body: got %s, want error code %s", body, tt.wantCode)
			}
			if tt.wantCode == "unauthorized" && h.Get("WWW-Authenticate") != "Bearer" {
				t.Errorf("WWW-Authenticate: got %q, want Bearer", h.Get("WWW-Authenticate"))
			}
		})
	}
}

func TestHostCheck(t *testing.T) {
	tg := startGateway(t, func(o *Options) {
		o.Config.Gateway.AllowedHosts = []string{"gw.tailnet-example.ts.net"}
	})
	tests := []struct {
		name       string
		host       string
		wantStatus int
	}{
		{"ip", tg.addr, http.StatusOK},
		{"localhost", "localhost", http.StatusOK},
		{"ipv6_loopback", "[::1]:18789", http.StatusOK},
		{"rebound_name", "evil.example:18789", http.StatusForbidden},
		{"lan_ip", "192.168.1.2", http.StatusForbidden},
		{"allowed_proxy_name", "GW.tailnet-example.ts.net", http.StatusOK},
		{"allowed_proxy_name_with_port", "gw.tailnet-example.ts.net:443", http.StatusOK},
		{"other_proxy_name", "other.tailnet-example.ts.net", http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, "http://"+tg.addr+"/", nil)
			req.Host = tt.host
			req.Header.Set("Authorization", "Bearer "+testToken)
			if status, _, body := tg.do(t, req); status != tt.wantStatus {
				t.Errorf("GET / with Host %s: got %d (%s), want %d", tt.host, status, body, tt.wantStatus)
			}
		})
	}
}

func TestLockout(t *testing.T) {
	wrong := strings.Repeat("ab", 32)
	type step struct {
		advance    time.Duration
		token      string
		times      int
		wantStatus int
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"ten_failures_lock_even_the_right_token", []step{
			{token: wrong, times: 10, wantStatus: http.StatusUnauthorized},
			{token: testToken, times: 1, wantStatus: http.StatusTooManyRequests},
			{advance: 4*time.Minute + 59*time.Second, token: testToken, times: 1, wantStatus: http.StatusTooManyRequests},
			{advance: time.Second, token: testToken, times: 1, wantStatus: http.StatusOK},
		}},
		{"eleventh_bad_token_gets_429", []step{
			{token: wrong, times: 10, wantStatus: http.StatusUnauthorized},
			{token: wrong, times: 1, wantStatus: http.StatusTooManyRequests},
		}},
		{"failures_outside_the_window_do_not_add_up", []step{
			{token: wrong, times: 9, wantStatus: http.StatusUnauthorized},
			{advance: 61 * time.Second, token: wrong, times: 1, wantStatus: http.StatusUnauthorized},
			{token: testToken, times: 1, wantStatus: http.StatusOK},
		}},
		{"missing_token_does_not_count", []step{
			{token: "", times: 20, wantStatus: http.StatusUnauthorized},
			{token: testToken, times: 1, wantStatus: http.StatusOK},
		}},
		{"success_does_not_reset", []step{
			{token: wrong, times: 5, wantStatus: http.StatusUnauthorized},
			{token: testToken, times: 1, wantStatus: http.StatusOK},
			{token: wrong, times: 5, wantStatus: http.StatusUnauthorized},
			{token: testToken, times: 1, wantStatus: http.StatusTooManyRequests},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := startGateway(t, nil)
			for i, st := range tt.steps {
				tg.clock.Advance(st.advance)
				for n := range st.times {
					status, _, _ := tg.get(t, "/", st.token)
					if status != st.wantStatus {
						t.Fatalf("step %d, request %d: got %d, want %d", i, n+1, status, st.wantStatus)
					}
				}
			}
		})
	}
}

func TestLockedOutResponse(t *testing.T) {
	tg := startGateway(t, nil)
	for range lockoutFailures {
		tg.get(t, "/", "wrong")
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+tg.addr+"/", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("X-Forwarded-For", "203.0.113.9") // not trusted
	status, h, body := tg.do(t, req)
	if status != http.StatusTooManyRequests {
		t.Fatalf("status: got %d, want 429", status)
	}
	if got := h.Get("Retry-After"); got != "300" {
		t.Errorf("Retry-After: got %q, want 300", got)
	}
	var e errorResponse
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.Code != "locked_out" {
		t.Errorf("body: got %s, want error code locked_out", body)
	}
	checkSecurityHeaders(t, h)
	if status, _, _ := tg.get(t, "/healthz", ""); status != http.StatusOK {
		t.Errorf("GET /healthz while locked out: got %d, want 200", status)
	}
	if n := strings.Count(tg.log.String(), "client locked out"); n != 1 {
		t.Errorf("lockout logged %d times, want once", n)
	}
}

func TestLockoutBounded(t *testing.T) {
	clock := newFakeClock()
	l := newLockout()
	l.maxClients = 8
	for i := range 20 {
		l.fail("10.0.0."+string(rune('a'+i)), clock.Now())
	}
	if got := l.len(); got != 8 {
		t.Errorf("tracked clients: got %d, want %d", got, 8)
	}
	clock.Advance(2 * lockoutWindow)
	l.fail("10.0.1.1", clock.Now())
	if got := l.len(); got != 1 {
		t.Errorf("tracked clients after the window: got %d, want 1", got)
	}
}

func TestClientKey(t *testing.T) {
	tests := []struct {
		remote string
		want   string
	}{
		{"127.0.0.1:5555", "127.0.0.1"},
		{"[::1]:5555", "::1"},
		{"[::ffff:192.0.2.1]:80", "192.0.2.1"},
		{"[2001:db8:1:2:3:4:5:6]:80", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff::1]:80", "2001:db8:1:2::/64"},
		{"garbage", "garbage"},
	}
	for _, tt := range tests {
		t.Run(tt.remote, func(t *testing.T) {
			if got := clientKey(tt.remote); got != tt.want {
				t.Errorf("clientKey(%q): got %q, want %q", tt.remote, got, tt.want)
			}
		})
	}
}

// TestHandler serves Handler on an httptest server, as a caller that runs
// its own listener would.
func TestHandler(t *testing.T) {
	checkGoroutines(t)
	srv, err := New(Options{Config: config.Default(), Token: testToken, Version: "v"})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	client := ts.Client()
	defer client.CloseIdleConnections()

	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /: got %d, want 200", resp.StatusCode)
	}
	c, err := rpc.Dial(context.Background(), "ws"+strings.TrimPrefix(ts.URL, "http")+"/ws", testToken, &rpc.DialOptions{HTTPClient: client})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	if err := c.Call(context.Background(), rpc.MethodHealth, nil, nil); err != nil {
		t.Errorf("health: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := c.Call(context.Background(), rpc.MethodHealth, nil, nil); !errors.Is(err, rpc.ErrClosed) {
		t.Errorf("Call after Close: got %v, want rpc.ErrClosed", err)
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}
