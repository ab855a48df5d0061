package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/tool"
)

// Options configures a [Server].
type Options struct {
	// Config is the effective configuration. Required.
	Config *config.Config
	// Token is the resolved secret clients authenticate with: the token, or
	// the password when gateway.auth.mode is password. Required.
	Token string
	// Version is the gateway's version, shown by / and the RPC.
	Version string
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
	// Logs is the log file logs.tail reads; nil turns logs.tail off.
	Logs *LogHub
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Status returns extra fields for the status method; it may be nil and
	// must be safe to call concurrently. It cannot replace the built-in
	// fields.
	Status func() map[string]any
	// Agent runs turns for chat.send and the OpenAI-compatible API; nil
	// until SetAgent installs one.
	Agent Agent
	// Models reports the LLM providers for models.status; may be nil.
	Models func() any
}

// HTTP limits.
const (
	maxBodyBytes      = 1 << 20
	maxHeaderBytes    = 32 << 10
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 60 * time.Second
	idleTimeout       = 2 * time.Minute
	// shutdownGrace bounds the drain when Serve's context is cancelled.
	shutdownGrace = 10 * time.Second
)

// Server is the gateway's HTTP server. Create it with [New].
type Server struct {
	log     *slog.Logger
	version string
	logs    *LogHub
	now     func() time.Time
	extra   func() map[string]any
	started time.Time
	lock    *lockout
	methods map[string]method
	handler http.Handler
	hs      *http.Server
	// connectTimeout is how long a WebSocket peer has to connect.
	connectTimeout time.Duration

	// auth is the config and secret in force; Reload swaps it.
	auth atomic.Pointer[authState]
	// agent is the agent runtime, nil while no model is configured;
	// agentErr says why it is nil.
	agent    atomic.Pointer[Agent]
	agentErr atomic.Pointer[string]
	models   func() any
	// approvals holds elevated commands waiting for the owner; set before Serve.
	approvals *tool.Approvals
	// channels reports the chat channels' states; set before Serve.
	channels func() any
	// goingAway is closed when shutdown begins: WebSocket connections close
	// with status 1001.
	goingAway     chan struct{}
	goingAwayOnce sync.Once

	// mu guards the fields that follow.
	mu        sync.Mutex
	listeners []net.Addr
	conns     map[*wsConn]struct{} // WebSocket handlers running, from before the upgrade
	closing   bool                 // no new WebSocket handlers
	drained   chan struct{}        // closed once closing and conns is empty
}

type netConnKey struct{}

// authState is a config with its secret. The token is kept for the
// challenge proof; digest for constant-time comparison of presented tokens.
type authState struct {
	cfg    *config.Config
	token  string
	digest [sha256.Size]byte
	// gen counts token changes: a WebSocket authenticated under an older
	// generation is closed.
	gen uint64
}

func newAuthState(cfg *config.Config, token string, gen uint64) *authState {
	return &authState{cfg: cfg, token: token, digest: sha256.Sum256([]byte(token)), gen: gen}
}

// checkToken reports whether presented is the secret, in constant time over
// SHA-256 digests so that neither content nor length leaks. An empty secret
// matches nothing.
func (a *authState) checkToken(presented string) bool {
	if a.token == "" || presented == "" {
		return false
	}
	d := sha256.Sum256([]byte(presented))
	return subtle.ConstantTimeCompare(d[:], a.digest[:]) == 1
}

// New returns a server for opts. It does no I/O; start it with Serve.
func New(opts Options) (*Server, error) {
	if opts.Config == nil {
		return nil, errors.New("gateway: no config")
	}
	if opts.Token == "" {
		return nil, &ExposureError{Bind: opts.Config.Gateway.Bind, Reason: "gateway.auth.token is empty", Fix: fixRotate}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	s := &Server{
		log:       log.With(keyComponent, "gateway"),
		version:   opts.Version,
		logs:      opts.Logs,
		now:       now,
		extra:     opts.Status,
		models:    opts.Models,
		started:   now(),
		lock:      newLockout(),
		goingAway: make(chan struct{}),
		conns:     make(map[*wsConn]struct{}),
		drained:   make(chan struct{}),

		connectTimeout: connectTimeout,
	}
	s.auth.Store(newAuthState(opts.Config, opts.Token, 1))
	if opts.Agent != nil {
		s.SetAgent(opts.Agent, "")
	}
	s.methods = s.methodTable()
	s.handler = s.routes()
	s.hs = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		// Remember each connection so that a shutdown out of time can drop
		// upgraded ones, which net/http no longer tracks.
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, netConnKey{}, c)
		},
	}
	// Shutdown does not wait for hijacked connections: tell the WebSockets.
	s.hs.RegisterOnShutdown(s.goAway)
	return s, nil
}

// config is the configuration in force.
func (s *Server) config() *config.Config { return s.auth.Load().cfg }

// Handler returns the server's HTTP handler, for tests and for serving on a
// listener the caller manages. Serve uses the same handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve serves HTTP on ln until ctx is cancelled or Shutdown is called, and
// returns nil then. On cancel it shuts down: it stops accepting, closes
// WebSocket connections with status 1001 and drains for up to 10 seconds;
// call Shutdown with a context of your own to drain for another time.
// Serve may be called for several listeners.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.mu.Lock()
	s.listeners = append(s.listeners, ln.Addr())
	s.mu.Unlock()
	s.log.Info("gateway listening", keyAddr, ln.Addr().String())

	errc := make(chan error, 1)
	go func() { errc <- s.hs.Serve(ln) }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("serve on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	if err := s.Shutdown(sctx); err != nil {
		s.log.Warn("gateway shutdown cut short", keyErr, err)
	}
	<-errc
	return nil
}

// Shutdown stops the server gracefully: it closes the listeners, closes
// WebSocket connections with status 1001 (going away), and waits for
// requests and connections to finish until ctx is done, when it closes the
// rest at once and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.beginClose()
	err := s.hs.Shutdown(ctx)
	if err == nil {
		select {
		case <-s.drained:
			return nil
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	// Out of time: close what is left without a handshake, and wait for
	// the handlers, which stop promptly once their sockets are gone.
	s.hs.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.closeNow()
	}
	s.mu.Unlock()
	<-s.drained
	return fmt.Errorf("gateway shutdown: %w", err)
}

// beginClose refuses new WebSocket handlers and signals the running ones.
func (s *Server) beginClose() {
	s.mu.Lock()
	if !s.closing {
		s.closing = true
		if len(s.conns) == 0 {
			close(s.drained)
		}
	}
	s.mu.Unlock()
	s.goAway()
}

// goAway tells every WebSocket connection that the server is going away.
func (s *Server) goAway() {
	s.goingAwayOnce.Do(func() { close(s.goingAway) })
}

// Reload swaps in a new config and secret. New requests and connects are
// checked against them at once; WebSocket connections authenticated with a
// different secret are closed. The listen address does not change until the
// gateway restarts. An empty token refuses every client.
func (s *Server) Reload(cfg *config.Config, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.auth.Load()
	if cfg == nil {
		cfg = old.cfg
	}
	gen := old.gen
	if subtle.ConstantTimeCompare(old.digest[:], sha256Sum(token)) != 1 || token == "" {
		gen++
	}
	s.auth.Store(newAuthState(cfg, token, gen))
	if token == "" {
		s.log.Error("gateway reloaded without an auth secret: every client is refused until gatehouse token rotate")
	}
	if gen == old.gen {
		return
	}
	for c := range s.conns {
		if c.gen != 0 && c.gen != gen {
			c.revoke()
		}
	}
}

func sha256Sum(s string) []byte {
	d := sha256.Sum256([]byte(s))
	return d[:]
}

// listenAddrs returns the addresses Serve listens on.
func (s *Server) listenAddrs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.listeners))
	for _, a := range s.listeners {
		out = append(out, a.String())
	}
	return out
}

// addConn registers a WebSocket handler; false when shutting down.
func (s *Server) addConn(c *wsConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) removeConn(c *wsConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	if s.closing && len(s.conns) == 0 {
		close(s.drained)
	}
}
