package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"gatehouse/internal/config"
	"gatehouse/internal/rpc"
)

// testToken is a 256-bit token as onboarding makes them.
const testToken = "7f3c9a1e5b2d4f6081a3c5e7092b4d6f8e0a2c4e6183a5c7e9f1b3d5a7c9e1f3"

// fakeClock is the injected clock: tests move it instead of sleeping.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// syncBuffer is a bytes.Buffer that log handlers may share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// checkGoroutines fails the test if goroutines started during it are still
// running once its cleanups (registered later, so run earlier) are done. It
// waits for the count to settle instead of sleeping a fixed time.
func checkGoroutines(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("goroutines: got %d after the test, want at most %d as before it:\n%s", n, before, buf)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

// testGateway is a gateway serving on 127.0.0.1 with the real Serve.
type testGateway struct {
	srv    *Server
	cfg    *config.Config
	addr   string // host:port
	clock  *fakeClock
	log    *syncBuffer
	client *http.Client

	cancel   context.CancelFunc
	done     chan error
	stopOnce sync.Once
	stopErr  error
}

// startGateway serves a gateway with the test token and clock. mod adjusts
// the options; srvMods adjust the server before it serves.
func startGateway(t *testing.T, mod func(*Options), srvMods ...func(*Server)) *testGateway {
	t.Helper()
	checkGoroutines(t)
	tg := &testGateway{
		cfg:    config.Default(),
		clock:  newFakeClock(),
		log:    &syncBuffer{},
		client: &http.Client{Transport: &http.Transport{}},
		done:   make(chan error, 1),
	}
	opts := Options{
		Config:  tg.cfg,
		Token:   testToken,
		Version: "1.2.3-test",
		Logger:  slog.New(slog.NewJSONHandler(tg.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:     tg.clock.Now,
	}
	if mod != nil {
		mod(&opts)
	}
	srv, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	for _, m := range srvMods {
		m(srv)
	}
	tg.srv = srv
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tg.addr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	tg.cancel = cancel
	go func() { tg.done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		if err := tg.stop(); err != nil {
			t.Errorf("Serve: got %v, want nil", err)
		}
		tg.client.CloseIdleConnections()
	})
	return tg
}

// stop cancels Serve's context and returns what Serve returned.
func (tg *testGateway) stop() error {
	tg.stopOnce.Do(func() {
		tg.cancel()
		tg.stopErr = <-tg.done
	})
	return tg.stopErr
}

func (tg *testGateway) wsURL() string { return "ws://" + tg.addr + "/ws" }

// get makes a GET request with the given bearer token (none if empty) and
// returns the status, headers and body.
func (tg *testGateway) get(t *testing.T, path, token string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+tg.addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return tg.do(t, req)
}

func (tg *testGateway) do(t *testing.T, req *http.Request) (int, http.Header, string) {
	t.Helper()
	resp, err := tg.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// dial connects the real client.
func (tg *testGateway) dial(t *testing.T, token string) (*rpc.Client, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := rpc.Dial(ctx, tg.wsURL(), token, &rpc.DialOptions{HTTPClient: tg.client, ClientVersion: "test"})
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

func (tg *testGateway) mustDial(t *testing.T) *rpc.Client {
	t.Helper()
	c, err := tg.dial(t, testToken)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	return c
}

// rawDial opens a WebSocket without the client's handshake, for tests of
// what a misbehaving peer gets.
func (tg *testGateway) rawDial(t *testing.T, header http.Header) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, tg.wsURL(), &websocket.DialOptions{HTTPClient: tg.client, HTTPHeader: header})
	if err == nil {
		t.Cleanup(func() { conn.CloseNow() })
	}
	return conn, resp, err
}

func readFrame(t *testing.T, conn *websocket.Conn) (rpc.Frame, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, b, err := conn.Read(ctx)
	if err != nil {
		return rpc.Frame{}, err
	}
	f, err := rpc.DecodeFrame(b)
	if err != nil {
		t.Fatalf("DecodeFrame(%s): %v", b, err)
	}
	return f, nil
}

func writeJSONFrame(t *testing.T, conn *websocket.Conn, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := conn.Write(ctx, websocket.MessageText, b); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// hexBits estimates a hex secret's entropy as 4 bits per character.
func hexBits(s string) int {
	for _, r := range strings.ToLower(s) {
		if !strings.ContainsRune("0123456789abcdef", r) {
			return 0
		}
	}
	return 4 * len(s)
}
