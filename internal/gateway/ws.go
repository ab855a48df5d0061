package gateway

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"gatehouse/internal/rpc"
)

// WebSocket limits.
const (
	// preAuthReadLimit bounds frames before connect succeeds: a connect
	// request is small, and an unauthenticated peer gets nothing more.
	preAuthReadLimit = 4 << 10
	// readLimit bounds frames after connect.
	readLimit = 1 << 20
	// connectTimeout is how long a peer has to connect after the upgrade.
	connectTimeout = 10 * time.Second
	// wsWriteTimeout bounds writing one frame; a peer that does not read is
	// disconnected.
	wsWriteTimeout = 10 * time.Second
	// maxInflight bounds the requests one connection runs at once; past it
	// the connection is not read until one finishes.
	maxInflight = 16
	// maxClientField bounds client.name and client.version in connect.
	maxClientField = 64
)

// perm is what a caller may do. Every method names the least it needs.
type perm int

const (
	permRead  perm = iota + 1 // read status and health
	permAdmin                 // read config and logs
)

// caller is who is on the other end of a WebSocket connection, attached to
// the context its methods run with after connect.
type caller struct {
	// Remote is the peer's address.
	Remote string
	// Client and Version are what the peer said in connect.
	Client  string
	Version string
	perm    perm
}

type callerKey struct{}

// callerFrom returns the caller of the connection ctx belongs to.
func callerFrom(ctx context.Context) (caller, bool) {
	c, ok := ctx.Value(callerKey{}).(caller)
	return c, ok
}

// wsConn is one WebSocket connection. Its handler (serveWS) owns it and
// every goroutine it starts.
type wsConn struct {
	srv    *Server
	remote string // RemoteAddr
	log    *slog.Logger

	// ctx is the connection's context: methods run with it, and it is
	// cancelled when the connection ends.
	ctx    context.Context
	cancel context.CancelFunc

	// netConn is the connection under the WebSocket, when the server's
	// ConnContext recorded it; closing it ends everything at once.
	netConn net.Conn
	// conn is set after the upgrade, before serve starts the goroutines
	// that use it.
	conn *websocket.Conn
	// gen, guarded by srv.mu, is the auth generation the connection
	// authenticated under; zero before connect.
	gen uint64

	// revoked is closed when the secret it authenticated with was rotated.
	revoked    chan struct{}
	revokeOnce sync.Once

	wmu       sync.Mutex // serializes writes
	seq       atomic.Uint64
	following atomic.Bool
	inflight  chan struct{}
	wg        sync.WaitGroup // the watcher, method calls and the log follower
}

// serveWS upgrades to a WebSocket and serves the RPC on it until the peer
// or the server closes it.
func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	if !originAllowed(r) {
		writeError(w, http.StatusForbidden, rpc.CodeForbidden, "cross-origin WebSocket connections are refused")
		return
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	defer cancel()
	netConn, _ := r.Context().Value(netConnKey{}).(net.Conn)
	c := &wsConn{
		srv:      s,
		netConn:  netConn,
		remote:   r.RemoteAddr,
		log:      s.log.With(keyRemote, r.RemoteAddr),
		ctx:      ctx,
		cancel:   cancel,
		revoked:  make(chan struct{}),
		inflight: make(chan struct{}, maxInflight),
	}
	if !s.addConn(c) {
		writeError(w, http.StatusServiceUnavailable, rpc.CodeUnavailable, "the gateway is shutting down")
		return
	}
	defer s.removeConn(c)

	// The server's read and write timeouts would otherwise stay on the
	// hijacked connection; the handshake and write timeouts below bound it.
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Time{})
	rc.SetWriteDeadline(time.Time{})

	// Accept also refuses an Origin whose host is not the request's Host.
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		c.log.Debug("websocket upgrade refused", keyErr, err)
		return
	}
	s.mu.Lock()
	c.conn = conn
	closing := s.closing
	s.mu.Unlock()
	if closing {
		conn.Close(websocket.StatusGoingAway, "gateway shutting down")
		return
	}
	c.serve()
}

// originAllowed refuses browsers' opaque "null" origin and an Origin whose
// host differs from Host. A request without Origin (the CLI) is allowed.
func originAllowed(r *http.Request) bool {
	origins := r.Header.Values("Origin")
	switch len(origins) {
	case 0:
		return true
	case 1:
	default:
		return false
	}
	if origins[0] == "null" {
		return false
	}
	u, err := url.Parse(origins[0])
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
}

// serve runs the connection: the challenge, connect, then requests until
// the connection ends. It returns when every goroutine it started is done.
func (c *wsConn) serve() {
	c.conn.SetReadLimit(preAuthReadLimit)
	authed := make(chan struct{})
	c.wg.Add(1)
	go c.watch(authed)

	code, reason := c.run(authed)

	c.cancel()
	c.wg.Wait()
	c.conn.Close(code, reason) // a no-op when already closed
}

// watch closes the connection when connect does not come in time, when the
// server goes away, or when the secret is rotated.
func (c *wsConn) watch(authed <-chan struct{}) {
	defer c.wg.Done()
	t := time.NewTimer(c.srv.connectTimeout)
	defer t.Stop()
	deadline := t.C
	for {
		select {
		case <-authed:
			authed, deadline = nil, nil
		case <-deadline:
			c.conn.Close(websocket.StatusPolicyViolation, "connect timed out")
			return
		case <-c.srv.goingAway:
			c.conn.Close(websocket.StatusGoingAway, "gateway shutting down")
			return
		case <-c.revoked:
			c.conn.Close(websocket.StatusPolicyViolation, "token rotated")
			return
		case <-c.ctx.Done():
			return
		}
	}
}

func (c *wsConn) revoke() { c.revokeOnce.Do(func() { close(c.revoked) }) }

// closeNow drops the connection without a handshake, and without waiting:
// a close handshake in progress would wait for the peer. srv.mu is held.
func (c *wsConn) closeNow() {
	if c.netConn != nil {
		c.netConn.Close()
	}
	// Without the net.Conn (a handler served by another server), cancelling
	// makes the pending read close the socket.
	c.cancel()
}

// run serves the connection and returns the close status to end it with.
func (c *wsConn) run(authed chan<- struct{}) (websocket.StatusCode, string) {
	nonce, err := newNonce()
	if err != nil {
		c.log.Error("websocket challenge", keyErr, err)
		return websocket.StatusInternalError, "internal error"
	}
	if err := c.sendEvent(rpc.EventChallenge, rpc.Challenge{Nonce: nonce, Protocol: rpc.ProtocolVersion}); err != nil {
		return websocket.StatusNormalClosure, ""
	}
	who, code, reason := c.connect(nonce)
	if code != 0 {
		return code, reason
	}
	close(authed)
	ctx := context.WithValue(c.ctx, callerKey{}, who)
	c.conn.SetReadLimit(readLimit)
	c.log.Info("rpc client connected", keyClient, who.Client, keyVersion, who.Version)

	for {
		typ, b, err := c.conn.Read(c.ctx)
		if err != nil {
			return websocket.StatusNormalClosure, ""
		}
		if typ != websocket.MessageText {
			return websocket.StatusUnsupportedData, "text frames only"
		}
		f, err := rpc.DecodeFrame(b)
		if err != nil || f.Type != rpc.TypeRequest {
			return websocket.StatusProtocolError, "invalid frame"
		}
		if f.Method == rpc.MethodConnect {
			c.replyError(f.ID, rpc.CodeInvalidRequest, "already connected")
			continue
		}
		select {
		case c.inflight <- struct{}{}:
		case <-c.ctx.Done():
			return websocket.StatusNormalClosure, ""
		}
		c.wg.Add(1)
		go c.call(ctx, f)
	}
}

// connect reads the connect request and checks its proof. On failure it
// has answered the peer and returns the close status.
func (c *wsConn) connect(nonce string) (caller, websocket.StatusCode, string) {
	s := c.srv
	typ, b, err := c.conn.Read(c.ctx)
	if err != nil {
		// Too big, timed out or gone; the library has closed the socket.
		return caller{}, websocket.StatusPolicyViolation, ""
	}
	f, err := rpc.DecodeFrame(b)
	if typ != websocket.MessageText || err != nil || f.Type != rpc.TypeRequest {
		return caller{}, websocket.StatusPolicyViolation, "connect required"
	}
	if f.Method != rpc.MethodConnect {
		c.replyError(f.ID, rpc.CodeConnectRequired, "the first request must be connect")
		return caller{}, websocket.StatusPolicyViolation, "connect required"
	}
	var p rpc.ConnectParams
	if err := decodeParams(f.Params, &p); err != nil {
		c.replyError(f.ID, rpc.CodeInvalidParams, "invalid connect params")
		return caller{}, websocket.StatusPolicyViolation, "invalid connect"
	}
	if p.Protocol != rpc.ProtocolVersion {
		c.replyError(f.ID, rpc.CodeProtocol, fmt.Sprintf("this gateway speaks protocol %d: run the same gatehouse version on both ends", rpc.ProtocolVersion))
		return caller{}, websocket.StatusPolicyViolation, "unsupported protocol"
	}
	if !printable(p.Client.Name, maxClientField) || !printable(p.Client.Version, maxClientField) {
		c.replyError(f.ID, rpc.CodeInvalidParams, fmt.Sprintf("client name and version are printable ASCII of at most %d bytes", maxClientField))
		return caller{}, websocket.StatusPolicyViolation, "invalid connect"
	}
	if wait, locked := s.lock.locked(clientKey(c.remote), s.now()); locked {
		c.replyError(f.ID, rpc.CodeLockedOut, fmt.Sprintf("too many failed authentication attempts from this address: retry after %d seconds", int(wait.Seconds()+0.999)))
		return caller{}, websocket.StatusPolicyViolation, "locked out"
	}
	st := s.auth.Load()
	if !st.checkConnect(nonce, p.Auth) || !c.setGen(st.gen) {
		s.failAuth(c.remote)
		c.replyError(f.ID, rpc.CodeUnauthorized, "the token was refused: run gatehouse doctor")
		return caller{}, websocket.StatusPolicyViolation, "unauthorized"
	}
	if err := c.reply(f.ID, rpc.ConnectResult{Protocol: rpc.ProtocolVersion, Server: rpc.ServerInfo{Version: s.version}}); err != nil {
		return caller{}, websocket.StatusNormalClosure, ""
	}
	return caller{Remote: c.remote, Client: p.Client.Name, Version: p.Client.Version, perm: permAdmin}, 0, ""
}

// setGen records the auth generation the connection authenticated under,
// unless the secret was rotated since it was checked.
func (c *wsConn) setGen(gen uint64) bool {
	c.srv.mu.Lock()
	defer c.srv.mu.Unlock()
	if c.srv.auth.Load().gen != gen {
		return false
	}
	c.gen = gen
	return true
}

// checkConnect checks a connect's auth: the proof for nonce, or else the
// token. Both comparisons are constant-time.
func (a *authState) checkConnect(nonce string, auth rpc.ConnectAuth) bool {
	if a.token == "" {
		return false
	}
	if auth.Proof != "" {
		got, err := hex.DecodeString(auth.Proof)
		if err != nil || len(got) != sha256.Size {
			return false
		}
		mac := hmac.New(sha256.New, []byte(a.token))
		mac.Write([]byte(nonce))
		return hmac.Equal(mac.Sum(nil), got)
	}
	return a.checkToken(auth.Token)
}

// call runs one request and answers it.
func (c *wsConn) call(ctx context.Context, f rpc.Frame) {
	defer c.wg.Done()
	defer func() { <-c.inflight }()
	req := &request{conn: c, params: f.Params}
	res, err := c.invoke(ctx, f.Method, req)
	if err != nil {
		var re *rpc.Error
		if !errors.As(err, &re) {
			c.log.Warn("rpc method failed", keyRPC, f.Method, keyErr, err)
			re = &rpc.Error{Code: rpc.CodeInternal, Message: "internal error; see the gateway log"}
		}
		// Rebuilt, not wrapped: nothing but code and message leaves.
		c.replyError(f.ID, re.Code, re.Message)
		return
	}
	err = c.reply(f.ID, res)
	if req.after != nil {
		req.after(err == nil)
	}
}

// invoke looks up and runs a method, turning a panic into an error.
func (c *wsConn) invoke(ctx context.Context, name string, req *request) (res any, err error) {
	m, ok := c.srv.methods[name]
	if !ok {
		return nil, &rpc.Error{Code: rpc.CodeUnknownMethod, Message: fmt.Sprintf("unknown method %q", name)}
	}
	if who, _ := callerFrom(ctx); who.perm < m.perm {
		return nil, &rpc.Error{Code: rpc.CodeForbidden, Message: fmt.Sprintf("method %q needs more permission", name)}
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in %s: %v", name, p)
		}
	}()
	return m.fn(ctx, req)
}

func (c *wsConn) reply(id string, v any) error {
	payload, err := json.Marshal(v)
	if err != nil {
		c.log.Warn("rpc result encoding", keyErr, err)
		return c.replyError(id, rpc.CodeInternal, "internal error; see the gateway log")
	}
	ok := true
	return c.write(rpc.Frame{Type: rpc.TypeResponse, ID: id, OK: &ok, Payload: payload})
}

func (c *wsConn) replyError(id, code, msg string) error {
	ok := false
	return c.write(rpc.Frame{Type: rpc.TypeResponse, ID: id, OK: &ok, Error: &rpc.Error{Code: code, Message: msg}})
}

func (c *wsConn) sendEvent(name string, v any) error {
	payload, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.write(rpc.Frame{Type: rpc.TypeEvent, Event: name, Payload: payload, Seq: c.seq.Add(1)})
}

func (c *wsConn) write(f rpc.Frame) error {
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	ctx, cancel := context.WithTimeout(c.ctx, wsWriteTimeout)
	defer cancel()
	return c.conn.Write(ctx, websocket.MessageText, b)
}

// decodeParams decodes params strictly into v; absent params decode as {}.
func decodeParams(params json.RawMessage, v any) error {
	if params == nil {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(params))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after params")
	}
	return nil
}

func printable(s string, max int) bool {
	if len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func newNonce() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random nonce: %w", err)
	}
	return hex.EncodeToString(b), nil
}
