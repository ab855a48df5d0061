package rpc

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"
)

// DialOptions configures [Dial]. The zero value (or nil) is valid.
type DialOptions struct {
	// HTTPClient makes the upgrade request; http.DefaultClient when nil.
	HTTPClient *http.Client
	// ClientVersion is sent to the gateway in connect.
	ClientVersion string
}

const (
	// clientReadLimit bounds one frame from the gateway; logs.tail of
	// MaxTailLines long lines is the largest.
	clientReadLimit = 16 << 20
	// eventBuffer is how many events wait for the reader of Events before
	// newer ones are dropped.
	eventBuffer = 256
	// writeTimeout bounds writing one frame.
	writeTimeout = 10 * time.Second
	// handshakeTimeout bounds the dial and the handshake when ctx does not
	// bound them sooner: a server that never sends its challenge must not
	// hang the CLI.
	handshakeTimeout = 15 * time.Second
)

// Client is one authenticated connection to the gateway. Calls may be made
// concurrently; responses are matched to calls by id. A Client owns one
// reader goroutine, which Close stops.
type Client struct {
	conn          *websocket.Conn
	serverVersion string
	events        chan Frame
	nextID        atomic.Uint64

	// life is the connection's context: the reader reads with it and
	// writes derive from it, so a caller's cancelled context never tears
	// down the shared connection. stop cancels it.
	life context.Context
	stop context.CancelFunc
	// done is closed when the reader has stopped.
	done      chan struct{}
	closing   atomic.Bool
	closeOnce sync.Once

	// mu guards the fields that follow.
	mu      sync.Mutex
	pending map[string]chan Frame
	err     error // why the connection ended; set before done is closed
}

// Dial connects to the gateway at rawURL (ws://127.0.0.1:18789/ws) and
// authenticates with token by answering the gateway's challenge: the token
// itself is not sent. ctx bounds the dial and the handshake only, which
// also time out after 15 seconds.
//
// Errors to branch on: [*NotRunningError] when nothing listens,
// [*AuthError] when the token is refused, [*LockedOutError] when the
// gateway refuses this address after failed attempts.
func Dial(ctx context.Context, rawURL, token string, opts *DialOptions) (*Client, error) {
	var o DialOptions
	if opts != nil {
		o = *opts
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return nil, errors.New("invalid gateway URL: want ws://HOST:PORT/ws (check gateway.remote.url)")
	}
	switch u.Scheme {
	case "ws", "wss":
	default:
		return nil, fmt.Errorf("gateway URL scheme %q: want ws or wss (check gateway.remote.url)", u.Scheme)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		// Credentials never travel in a URL, where they end up in logs.
		return nil, errors.New("the gateway URL must not hold credentials, a query or a fragment: the token is read from the config")
	}
	if token == "" {
		return nil, ErrNoToken
	}
	addr := u.Host
	hctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()

	conn, resp, err := websocket.Dial(hctx, u.String(), &websocket.DialOptions{
		HTTPClient:      o.HTTPClient,
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		return nil, dialError(addr, resp, err)
	}
	conn.SetReadLimit(clientReadLimit)

	life, stop := context.WithCancel(context.WithoutCancel(ctx))
	c := &Client{
		conn:    conn,
		events:  make(chan Frame, eventBuffer),
		life:    life,
		stop:    stop,
		done:    make(chan struct{}),
		pending: make(map[string]chan Frame),
	}
	if err := c.handshake(hctx, addr, token, o.ClientVersion); err != nil {
		stop()
		conn.CloseNow()
		return nil, err
	}
	go c.read()
	return c, nil
}

// dialError turns a failed upgrade into an error the CLI can branch on.
func dialError(addr string, resp *http.Response, err error) error {
	if resp != nil {
		switch resp.StatusCode {
		case http.StatusUnauthorized:
			return &AuthError{}
		case http.StatusTooManyRequests:
			return &LockedOutError{RetryAfter: retryAfter(resp.Header.Get("Retry-After"))}
		case http.StatusSwitchingProtocols:
			// Upgraded, but the handshake response was wrong.
		default:
			return fmt.Errorf("the server at %s answered HTTP %d to the WebSocket upgrade: is it a gatehouse gateway?", addr, resp.StatusCode)
		}
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return &NotRunningError{Addr: addr}
	}
	return fmt.Errorf("connect to the gateway at %s: %w", addr, err)
}

func retryAfter(v string) time.Duration {
	secs, err := strconv.Atoi(v)
	if err != nil || secs < 0 {
		return 0
	}
	return time.Duration(secs) * time.Second
}

// handshake reads the challenge and answers it with connect.
func (c *Client) handshake(ctx context.Context, addr, token, version string) error {
	f, err := c.readFrame(ctx)
	if err != nil {
		return fmt.Errorf("read the gateway's challenge: %w", err)
	}
	var ch Challenge
	if f.Type != TypeEvent || f.Event != EventChallenge || json.Unmarshal(f.Payload, &ch) != nil {
		return fmt.Errorf("the server at %s sent no connect challenge: is it a gatehouse gateway?", addr)
	}
	if ch.Protocol != ProtocolVersion {
		return fmt.Errorf("the gateway speaks protocol %d and this client %d: run the same gatehouse version on both ends", ch.Protocol, ProtocolVersion)
	}
	if n, err := hex.DecodeString(ch.Nonce); err != nil || len(n) != 32 {
		return errors.New("the gateway sent an invalid challenge nonce")
	}
	params, err := json.Marshal(ConnectParams{
		Protocol: ProtocolVersion,
		Client:   ClientInfo{Name: ClientName, Version: version},
		Auth:     ConnectAuth{Proof: Proof(token, ch.Nonce)},
	})
	if err != nil {
		return fmt.Errorf("encode connect: %w", err)
	}
	id := c.newID()
	if err := c.write(Frame{Type: TypeRequest, ID: id, Method: MethodConnect, Params: params}); err != nil {
		return fmt.Errorf("send connect: %w", err)
	}
	res, err := c.readFrame(ctx)
	if err != nil {
		return fmt.Errorf("read the connect response: %w", err)
	}
	if res.Type != TypeResponse || res.ID != id {
		return errors.New("the gateway answered connect out of order")
	}
	if !*res.OK {
		switch res.Error.Code {
		case CodeUnauthorized:
			return &AuthError{}
		case CodeLockedOut:
			return &LockedOutError{}
		}
		return &Error{Code: res.Error.Code, Message: res.Error.Message}
	}
	var cr ConnectResult
	if err := json.Unmarshal(res.Payload, &cr); err != nil {
		return fmt.Errorf("decode the connect response: %w", err)
	}
	c.serverVersion = cr.Server.Version
	return nil
}

// readFrame reads and decodes one frame; only the handshake calls it, before
// the reader goroutine starts.
func (c *Client) readFrame(ctx context.Context) (Frame, error) {
	typ, b, err := c.conn.Read(ctx)
	if err != nil {
		return Frame{}, connError(err)
	}
	if typ != websocket.MessageText {
		return Frame{}, errors.New("the gateway sent a binary frame")
	}
	return DecodeFrame(b)
}

// ServerVersion is the gateway's version, as it said in connect.
func (c *Client) ServerVersion() string { return c.serverVersion }

// Events delivers the events the gateway sends after connect, such as log
// while following logs. The channel is closed when the connection ends (see
// [Client.Err]). When it holds 256 unread events, newer ones are dropped.
func (c *Client) Events() <-chan Frame { return c.events }

// Err reports why the connection ended: nil while it is open, [ErrClosed]
// after Close, a [*ClosedError] when the gateway closed it.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Call invokes method with params (nil, or a value that encodes as a JSON
// object) and decodes the payload into result unless result is nil. A
// method's failure is an [*Error]. Cancelling ctx abandons the call but
// keeps the connection.
func (c *Client) Call(ctx context.Context, method string, params, result any) error {
	var raw json.RawMessage
	if params != nil {
		b, err := json.Marshal(params)
		if err != nil {
			return fmt.Errorf("encode %s params: %w", method, err)
		}
		raw = b
	}
	id := c.newID()
	ch := make(chan Frame, 1)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return err
	}
	c.pending[id] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}()

	if err := c.write(Frame{Type: TypeRequest, ID: id, Method: method, Params: raw}); err != nil {
		select {
		case <-c.done:
			return c.Err()
		default:
			return fmt.Errorf("send %s: %w", method, err)
		}
	}
	select {
	case f := <-ch:
		if !*f.OK {
			return &Error{Code: f.Error.Code, Message: f.Error.Message}
		}
		if result == nil || f.Payload == nil {
			return nil
		}
		if err := json.Unmarshal(f.Payload, result); err != nil {
			return fmt.Errorf("decode %s result: %w", method, err)
		}
		return nil
	case <-c.done:
		return c.Err()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close closes the connection and waits for the reader to stop.
func (c *Client) Close() error {
	var err error
	c.closeOnce.Do(func() {
		c.closing.Store(true)
		err = c.conn.Close(websocket.StatusNormalClosure, "")
		c.stop()
		<-c.done
	})
	if err != nil && !errors.Is(err, net.ErrClosed) && websocket.CloseStatus(err) == -1 {
		return fmt.Errorf("close the gateway connection: %w", err)
	}
	return nil
}

func (c *Client) newID() string { return strconv.FormatUint(c.nextID.Add(1), 10) }

func (c *Client) write(f Frame) error {
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.life, writeTimeout)
	defer cancel()
	return c.conn.Write(ctx, websocket.MessageText, b)
}

// read is the reader goroutine: it hands responses to their calls and
// events to Events until the connection ends.
func (c *Client) read() {
	var err error
	defer func() {
		if c.closing.Load() {
			err = ErrClosed
		}
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
		close(c.events)
		close(c.done)
	}()
	for {
		typ, b, rerr := c.conn.Read(c.life)
		if rerr != nil {
			err = connError(rerr)
			return
		}
		if typ != websocket.MessageText {
			err = errors.New("the gateway sent a binary frame")
			c.conn.Close(websocket.StatusUnsupportedData, "text frames only")
			return
		}
		f, derr := DecodeFrame(b)
		if derr != nil {
			err = fmt.Errorf("the gateway sent an invalid frame: %w", derr)
			c.conn.Close(websocket.StatusProtocolError, "invalid frame")
			return
		}
		switch f.Type {
		case TypeResponse:
			c.mu.Lock()
			ch, ok := c.pending[f.ID]
			delete(c.pending, f.ID)
			c.mu.Unlock()
			if ok {
				ch <- f // buffered; each id is answered once
			}
		case TypeEvent:
			select {
			case c.events <- f:
			default: // the consumer is behind; drop rather than stall responses
			}
		}
	}
}

// connError maps a read error to a [*ClosedError] when the gateway closed
// the connection with a status.
func connError(err error) error {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return &ClosedError{Code: int(ce.Code), Reason: ce.Reason}
	}
	return err
}
