package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"gatehouse/internal/config"
	"gatehouse/internal/rpc"
)

func TestWebSocketOrigin(t *testing.T) {
	tg := startGateway(t, nil)
	tests := []struct {
		name       string
		origin     string
		wantStatus int
	}{
		{"no_origin", "", http.StatusSwitchingProtocols},
		{"same_origin", "http://" + tg.addr, http.StatusSwitchingProtocols},
		{"evil_origin", "https://evil.example", http.StatusForbidden},
		{"null_origin", "null", http.StatusForbidden},
		{"other_port", "http://127.0.0.1:1", http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.origin != "" {
				h.Set("Origin", tt.origin)
			}
			conn, resp, err := tg.rawDial(t, h)
			if resp == nil {
				t.Fatalf("dial: no response: %v", err)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("upgrade status: got %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if conn != nil {
				conn.Close(websocket.StatusNormalClosure, "")
			}
		})
	}
}

func TestRPC(t *testing.T) {
	tg := startGateway(t, func(o *Options) {
		o.Config.Channels.Telegram = &config.Channel{Token: config.Secret{Ref: "telegram"}}
		o.Status = func() map[string]any { return map[string]any{"sessions": 3, "version": "overridden"} }
	})
	c := tg.mustDial(t)
	ctx := context.Background()

	if got := c.ServerVersion(); got != "1.2.3-test" {
		t.Errorf("ServerVersion: got %q, want 1.2.3-test", got)
	}

	tg.clock.Advance(90 * time.Second)
	var health rpc.HealthResult
	if err := c.Call(ctx, rpc.MethodHealth, nil, &health); err != nil {
		t.Fatalf("health: %v", err)
	}
	if want := (rpc.HealthResult{OK: true, Version: "1.2.3-test", UptimeSeconds: 90}); health != want {
		t.Errorf("health: got %+v, want %+v", health, want)
	}

	var st rpc.StatusResult
	if err := c.Call(ctx, rpc.MethodStatus, nil, &st); err != nil {
		t.Fatalf("status: %v", err)
	}
	if st.Version != "1.2.3-test" || st.Bind != "loopback" || st.AuthMode != "token" || st.Mode != "local" ||
		st.Port != config.DefaultPort || st.PID == 0 || st.UptimeSeconds != 90 ||
		len(st.Listen) != 1 || st.Listen[0] != tg.addr || strings.Join(st.Channels, ",") != "telegram" ||
		st.StartedAt != "2026-01-02T03:04:05Z" {
		t.Errorf("status: got %+v, want the test gateway's", st)
	}
	var extra map[string]any
	if err := c.Call(ctx, rpc.MethodStatus, nil, &extra); err != nil {
		t.Fatalf("status: %v", err)
	}
	if extra["sessions"] != float64(3) || extra["version"] != "1.2.3-test" {
		t.Errorf("status extras: got sessions=%v version=%v, want 3 and the built-in version", extra["sessions"], extra["version"])
	}

	err := c.Call(ctx, "no.such.method", nil, nil)
	var re *rpc.Error
	if !errors.As(err, &re) || re.Code != rpc.CodeUnknownMethod {
		t.Errorf("unknown method: got %v, want an rpc error %s", err, rpc.CodeUnknownMethod)
	}

	err = c.Call(ctx, rpc.MethodLogsTail, map[string]any{"lines": 1, "bogus": true}, nil)
	if !errors.As(err, &re) || re.Code != rpc.CodeInvalidParams {
		t.Errorf("logs.tail with an unknown param: got %v, want %s", err, rpc.CodeInvalidParams)
	}

	// Calls run concurrently on one connection.
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			var h rpc.HealthResult
			errs <- c.Call(ctx, rpc.MethodHealth, nil, &h)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent health: %v", err)
		}
	}
}

func TestConfigGetRedacts(t *testing.T) {
	const apiKey = "sk-live-0123456789abcdef"
	tg := startGateway(t, func(o *Options) {
		o.Config.Gateway.Auth.Token = config.Secret{Plain: testToken}
		o.Config.Models.Providers = map[string]config.Provider{"openai": {APIKey: config.Secret{Plain: apiKey}}}
		o.Config.Channels.Telegram = &config.Channel{Token: config.Secret{Ref: "telegram-bot"}}
		o.Config.Channels.Slack = &config.Channel{Token: config.Secret{Env: "SLACK_TOKEN"}, AppToken: config.Secret{Plain: "xapp-secret"}}
	})
	c := tg.mustDial(t)
	var res rpc.ConfigGetResult
	if err := c.Call(context.Background(), rpc.MethodConfigGet, nil, &res); err != nil {
		t.Fatalf("config.get: %v", err)
	}
	got := string(res.Config)
	for _, secret := range []string{testToken, apiKey, "xapp-secret"} {
		if strings.Contains(got, secret) {
			t.Errorf("config.get shows a plaintext secret: %s", got)
		}
	}
	var cfg config.Config
	if err := json.Unmarshal(res.Config, &cfg); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name string
		got  config.Secret
		want config.Secret
	}{
		{"gateway.auth.token", cfg.Gateway.Auth.Token, config.Secret{Plain: config.Redacted}},
		{"models.providers.openai.apiKey", cfg.Models.Providers["openai"].APIKey, config.Secret{Plain: config.Redacted}},
		{"channels.telegram.token", cfg.Channels.Telegram.Token, config.Secret{Ref: "telegram-bot"}},
		{"channels.slack.token", cfg.Channels.Slack.Token, config.Secret{Env: "SLACK_TOKEN"}},
		{"channels.slack.appToken", cfg.Channels.Slack.AppToken, config.Secret{Plain: config.Redacted}},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s: got %#v, want %#v", ck.name, ck.got, ck.want)
		}
	}
	if tg.cfg.Gateway.Auth.Token.Plain != testToken {
		t.Errorf("config.get changed the live config")
	}
}

func TestWebSocketWrongToken(t *testing.T) {
	tg := startGateway(t, nil)
	for i := range lockoutFailures {
		_, err := tg.dial(t, "wrong-token")
		var ae *rpc.AuthError
		if !errors.As(err, &ae) {
			t.Fatalf("dial %d with a wrong token: got %v, want *rpc.AuthError", i+1, err)
		}
	}
	_, err := tg.dial(t, testToken)
	var le *rpc.LockedOutError
	if !errors.As(err, &le) || le.RetryAfter != lockoutDuration {
		t.Fatalf("dial after %d failures: got %v, want *rpc.LockedOutError after %v", lockoutFailures, err, lockoutDuration)
	}
	if status, _, _ := tg.get(t, "/", testToken); status != http.StatusTooManyRequests {
		t.Errorf("GET / after failed connects: got %d, want 429", status)
	}
	tg.clock.Advance(lockoutDuration)
	tg.mustDial(t)
}

func TestWebSocketTokenAuth(t *testing.T) {
	tg := startGateway(t, nil)
	conn, _, err := tg.rawDial(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := readFrame(t, conn)
	if err != nil || ch.Event != rpc.EventChallenge || ch.Seq != 1 {
		t.Fatalf("first frame: got %+v, %v; want the challenge", ch, err)
	}
	var c rpc.Challenge
	if err := json.Unmarshal(ch.Payload, &c); err != nil || len(c.Nonce) != 64 || c.Protocol != 1 {
		t.Fatalf("challenge: got %s, want a 32-byte hex nonce and protocol 1", ch.Payload)
	}
	writeJSONFrame(t, conn, map[string]any{"type": "req", "id": "a", "method": "connect", "params": rpc.ConnectParams{
		Protocol: 1, Client: rpc.ClientInfo{Name: "simple"}, Auth: rpc.ConnectAuth{Token: testToken},
	}})
	res, err := readFrame(t, conn)
	if err != nil || res.ID != "a" || res.OK == nil || !*res.OK {
		t.Fatalf("connect with token: got %+v, %v; want ok", res, err)
	}
	writeJSONFrame(t, conn, map[string]any{"type": "req", "id": "b", "method": "health"})
	res, err = readFrame(t, conn)
	if err != nil || res.ID != "b" || res.OK == nil || !*res.OK {
		t.Fatalf("health: got %+v, %v; want ok", res, err)
	}
}

func TestWebSocketPreAuth(t *testing.T) {
	tests := []struct {
		name       string
		send       func(t *testing.T, conn *websocket.Conn)
		wantCode   string // error code answered first, if any
		wantStatus websocket.StatusCode
	}{
		{"oversized_frame", func(t *testing.T, conn *websocket.Conn) {
			writeJSONFrame(t, conn, map[string]any{"type": "req", "id": "1", "method": "connect",
				"params": map[string]any{"pad": strings.Repeat("x", 8<<10)}})
		}, "", websocket.StatusMessageTooBig},
		{"method_before_connect", func(t *testing.T, conn *websocket.Conn) {
			writeJSONFrame(t, conn, map[string]any{"type": "req", "id": "1", "method": "status"})
		}, rpc.CodeConnectRequired, websocket.StatusPolicyViolation},
		{"garbage", func(t *testing.T, conn *websocket.Conn) {
			ctx := context.Background()
			conn.Write(ctx, websocket.MessageText, []byte("hello"))
		}, "", websocket.StatusPolicyViolation},
		{"no_credentials", func(t *testing.T, conn *websocket.Conn) {
			writeJSONFrame(t, conn, map[string]any{"type": "req", "id": "1", "method": "connect",
				"params": map[string]any{"protocol": 1, "client": map[string]any{"name": "x"}, "auth": map[string]any{}}})
		}, rpc.CodeUnauthorized, websocket.StatusPolicyViolation},
		{"wrong_protocol", func(t *testing.T, conn *websocket.Conn) {
			writeJSONFrame(t, conn, map[string]any{"type": "req", "id": "1", "method": "connect",
				"params": map[string]any{"protocol": 2, "client": map[string]any{"name": "x"}, "auth": map[string]any{"token": testToken}}})
		}, rpc.CodeProtocol, websocket.StatusPolicyViolation},
		{"bad_proof", func(t *testing.T, conn *websocket.Conn) {
			writeJSONFrame(t, conn, map[string]any{"type": "req", "id": "1", "method": "connect",
				"params": map[string]any{"protocol": 1, "client": map[string]any{"name": "x"}, "auth": map[string]any{"proof": rpc.Proof(testToken, "another nonce")}}})
		}, rpc.CodeUnauthorized, websocket.StatusPolicyViolation},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := startGateway(t, nil)
			conn, _, err := tg.rawDial(t, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := readFrame(t, conn); err != nil {
				t.Fatalf("challenge: %v", err)
			}
			tt.send(t, conn)
			if tt.wantCode != "" {
				f, err := readFrame(t, conn)
				if err != nil || f.Error == nil || f.Error.Code != tt.wantCode {
					t.Fatalf("answer: got %+v (%v), want error %s", f, err, tt.wantCode)
				}
			}
			_, err = readFrame(t, conn)
			if got := websocket.CloseStatus(err); got != tt.wantStatus {
				t.Errorf("close status: got %v (%v), want %v", got, err, tt.wantStatus)
			}
		})
	}
}

func TestReloadRotatesToken(t *testing.T) {
	tg := startGateway(t, nil)
	old := tg.mustDial(t)
	const newToken = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"

	tg.srv.Reload(tg.cfg, newToken)

	if status, _, _ := tg.get(t, "/", testToken); status != http.StatusUnauthorized {
		t.Errorf("GET / with the old token: got %d, want 401", status)
	}
	if status, _, _ := tg.get(t, "/", newToken); status != http.StatusOK {
		t.Errorf("GET / with the new token: got %d, want 200", status)
	}
	var ae *rpc.AuthError
	if _, err := tg.dial(t, testToken); !errors.As(err, &ae) {
		t.Errorf("dial with the old token: got %v, want *rpc.AuthError", err)
	}
	c, err := tg.dial(t, newToken)
	if err != nil {
		t.Fatalf("dial with the new token: %v", err)
	}
	if err := c.Call(context.Background(), rpc.MethodHealth, nil, nil); err != nil {
		t.Errorf("health with the new token: %v", err)
	}
	// The connection made with the old token is closed.
	for range old.Events() {
	}
	var ce *rpc.ClosedError
	if err := old.Err(); !errors.As(err, &ce) || ce.Code != rpc.ClosePolicyViolation {
		t.Errorf("old connection: got %v, want closed with %d", err, rpc.ClosePolicyViolation)
	}
	// The same token again keeps connections.
	tg.srv.Reload(tg.cfg, newToken)
	if err := c.Call(context.Background(), rpc.MethodHealth, nil, nil); err != nil {
		t.Errorf("health after reloading the same token: %v", err)
	}
}

func TestServeShutdown(t *testing.T) {
	tg := startGateway(t, nil)
	c := tg.mustDial(t)
	addr := tg.addr

	if err := tg.stop(); err != nil {
		t.Fatalf("Serve after cancel: got %v, want nil", err)
	}
	for range c.Events() {
	}
	var ce *rpc.ClosedError
	if err := c.Err(); !errors.As(err, &ce) || ce.Code != rpc.CloseGoingAway {
		t.Errorf("connection after shutdown: got %v, want closed with 1001", err)
	}
	var nr *rpc.NotRunningError
	if _, err := tg.dial(t, testToken); !errors.As(err, &nr) || nr.Addr != addr {
		t.Errorf("dial after shutdown: got %v, want *rpc.NotRunningError for %s", err, addr)
	}
}

func TestShutdownDeadlineClosesStragglers(t *testing.T) {
	tg := startGateway(t, nil)
	// A raw peer that never answers the close handshake.
	conn, _, err := tg.rawDial(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readFrame(t, conn); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := tg.srv.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown with a done context: got %v, want context.Canceled", err)
	}
}

func TestLogsTail(t *testing.T) {
	hub, err := OpenLogHub(t.TempDir()+"/gateway.log", 1<<20, 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hub.Close() })
	for _, l := range []string{`{"n":1}`, `{"n":2}`, `{"n":3}`} {
		hub.Write([]byte(l + "\n"))
	}
	tg := startGateway(t, func(o *Options) { o.Logs = hub })
	c := tg.mustDial(t)
	ctx := context.Background()

	var res rpc.LogsTailResult
	if err := c.Call(ctx, rpc.MethodLogsTail, rpc.LogsTailParams{Lines: 2}, &res); err != nil {
		t.Fatalf("logs.tail: %v", err)
	}
	if got, want := strings.Join(res.Lines, " "), `{"n":2} {"n":3}`; got != want {
		t.Errorf("logs.tail lines=2: got %s, want %s", got, want)
	}

	if err := c.Call(ctx, rpc.MethodLogsTail, rpc.LogsTailParams{Follow: true}, &res); err != nil {
		t.Fatalf("logs.tail follow: %v", err)
	}
	if len(res.Lines) != 3 {
		t.Errorf("logs.tail follow: got %d lines, want 3", len(res.Lines))
	}
	hub.Write([]byte(`{"n":4}` + "\n"))
	select {
	case ev, ok := <-c.Events():
		if !ok {
			t.Fatalf("events closed: %v", c.Err())
		}
		var le rpc.LogEvent
		if err := json.Unmarshal(ev.Payload, &le); err != nil || ev.Event != rpc.EventLog || le.Line != `{"n":4}` {
			t.Errorf("event: got %s %s, want log {\"n\":4}", ev.Event, ev.Payload)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no log event within 10s")
	}
}

func TestLogsTailWithoutLogFile(t *testing.T) {
	tg := startGateway(t, nil)
	c := tg.mustDial(t)
	err := c.Call(context.Background(), rpc.MethodLogsTail, nil, nil)
	var re *rpc.Error
	if !errors.As(err, &re) || re.Code != rpc.CodeUnavailable {
		t.Errorf("logs.tail without a log file: got %v, want %s", err, rpc.CodeUnavailable)
	}
}

// TestTokenNeverLogged logs requests that carry the token everywhere a
// careless server would log it, at debug level, and searches the output.
func TestTokenNeverLogged(t *testing.T) {
	tg := startGateway(t, nil)
	tg.get(t, "/", testToken)
	tg.get(t, "/?token="+testToken, testToken)
	tg.get(t, "/nope?access_token="+testToken, "")
	for range lockoutFailures {
		tg.get(t, "/", testToken+"x")
	}
	tg.clock.Advance(lockoutDuration)
	conn, _, err := tg.rawDial(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	readFrame(t, conn)
	writeJSONFrame(t, conn, map[string]any{"type": "req", "id": "1", "method": "connect", "params": rpc.ConnectParams{
		Protocol: 1, Client: rpc.ClientInfo{Name: "simple"}, Auth: rpc.ConnectAuth{Token: testToken},
	}})
	readFrame(t, conn)
	conn.Close(websocket.StatusNormalClosure, "")
	tg.mustDial(t).Call(context.Background(), rpc.MethodStatus, nil, nil)
	if err := tg.stop(); err != nil {
		t.Fatal(err)
	}

	out := tg.log.String()
	if !strings.Contains(out, `"msg":"http request"`) || !strings.Contains(out, "client locked out") {
		t.Fatalf("log: got %s, want request and lockout records", out)
	}
	if strings.Contains(out, testToken) || strings.Contains(out, testToken[:16]) {
		t.Errorf("the token appears in the log:\n%s", out)
	}
}

func TestWebSocketConnectTimeout(t *testing.T) {
	// A real timer, kept short: the clock is not injected into timers.
	tg := startGateway(t, nil, func(s *Server) { s.connectTimeout = 20 * time.Millisecond })
	conn, _, err := tg.rawDial(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readFrame(t, conn); err != nil {
		t.Fatalf("challenge: %v", err)
	}
	_, err = readFrame(t, conn)
	if got := websocket.CloseStatus(err); got != websocket.StatusPolicyViolation {
		t.Errorf("close status without connect: got %v (%v), want %v", got, err, websocket.StatusPolicyViolation)
	}
}
