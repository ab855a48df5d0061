package discord

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"gatehouse/internal/channel"
)

const (
	// apiVersion is the gateway and HTTP API version spoken.
	apiVersion = "10"
	// maxGatewayMessage bounds one gateway message; GUILD_CREATE of a
	// large guild is the biggest the adapter's intents bring.
	maxGatewayMessage = 16 << 20
	// writeTimeout bounds one gateway write.
	writeTimeout = 10 * time.Second
	// dispatchQueue is how many dispatches the reader may read ahead of
	// the sink.
	dispatchQueue = 64
	maxSinkWait   = 30 * time.Second
)

// session is what a RESUME needs. Run owns it across connections.
type session struct {
	id        string // session_id from READY; "" for none
	resumeURL string // resume_gateway_url from READY, with the query added
	botID     string // the bot's user id, from READY
	// seq is the last sequence number handled: the sink returned nil for
	// it and every message before it. Heartbeats and RESUME send it, so a
	// resumed session replays what the inbox has not recorded.
	seq atomic.Int64
}

func (s *session) resumable() bool { return s.id != "" && s.resumeURL != "" }

func (s *session) reset() {
	s.id, s.resumeURL = "", ""
	s.seq.Store(0)
}

// errReconnect is the gateway's RECONNECT (op 7): resume on a new
// connection.
var errReconnect = errors.New("discord: the gateway asked for a reconnect")

// errZombie is a connection whose heartbeat went unacknowledged.
var errZombie = errors.New("discord: the gateway did not acknowledge a heartbeat: reconnecting")

// invalidSessionError is INVALID_SESSION (op 9).
type invalidSessionError struct {
	resumable bool
}

func (e *invalidSessionError) Error() string {
	return fmt.Sprintf("discord: the gateway invalidated the session (resumable %t)", e.resumable)
}

// closedError is a close code after which the adapter reconnects.
type closedError struct {
	code   websocket.StatusCode
	reason string
}

func (e *closedError) Error() string {
	if e.reason == "" {
		return fmt.Sprintf("discord: the gateway closed the connection (close %d)", int(e.code))
	}
	return fmt.Sprintf("discord: the gateway closed the connection (close %d: %s)", int(e.code), e.reason)
}

// Run connects to the gateway and hands each message for the bot to sink,
// in order, until ctx ends, reconnecting and resuming by itself. It counts
// a message as received only once sink returned nil for it (sink is
// retried until then), so a resume after a lost connection replays what
// the inbox has not recorded. Run returns an *AuthError when the token is
// refused, an *IntentsError when the Message Content intent is not
// enabled, a *GatewayError for the other close codes that forbid
// reconnecting, and nil when ctx ends.
func (a *Adapter) Run(ctx context.Context, sink channel.Sink) error {
	defer a.health.Set(false, nil)
	gw := a.gatewayURL
	if gw == "" {
		var err error
		if gw, err = a.discoverGateway(ctx); err != nil {
			return channel.IgnoreCancel(ctx, err)
		}
	}
	gw, err := withQuery(gw)
	if err != nil {
		return fmt.Errorf("%s: gateway URL: %w", label(a.account), err)
	}
	var sess session
	backoff := a.minBackoff
	for {
		up, err := a.connect(ctx, gw, &sess, sink)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, errReconnect) {
			a.health.Set(false, nil) // routine: Discord moves bots between servers
		} else {
			a.health.Set(false, err)
		}
		var (
			auth    *AuthError
			intents *IntentsError
			fatal   *GatewayError
		)
		if errors.As(err, &auth) || errors.As(err, &intents) || errors.As(err, &fatal) {
			a.log.Error("channel stopped", logKeyError, err)
			return err
		}
		if up {
			backoff = a.minBackoff
		}
		wait := jitter(backoff)
		backoff = min(2*backoff, a.maxBackoff)
		var inv *invalidSessionError
		var closed *closedError
		switch {
		case errors.As(err, &inv) && !inv.resumable:
			sess.reset()
			// Discord asks for a random wait of 1–5 s before a new IDENTIFY.
			wait = max(wait, a.reidentifyWait/5+rand.N(a.reidentifyWait*4/5+1))
		case errors.As(err, &closed) && (closed.code == 4007 || closed.code == 4009):
			sess.reset() // invalid seq, session timed out: identify anew
		}
		a.log.Warn("gateway connection lost", logKeyResumed, sess.resumable(), logKeyRetryIn, wait, logKeyError, err)
		if !channel.Sleep(ctx, wait) {
			return nil
		}
	}
}

// gatewayBot is GET /gateway/bot's answer.
type gatewayBot struct {
	URL               string `json:"url"`
	SessionStartLimit struct {
		Remaining  int   `json:"remaining"`
		ResetAfter int64 `json:"reset_after"` // milliseconds
	} `json:"session_start_limit"`
}

// discoverGateway asks the HTTP API for the gateway's address, waiting out
// the daily session start limit if it is spent.
func (a *Adapter) discoverGateway(ctx context.Context) (string, error) {
	var gb gatewayBot
	err := a.retry(ctx, "get gateway", func() error {
		return a.call(ctx, "get gateway", http.MethodGet, "/gateway/bot", nil, &gb)
	})
	if err != nil {
		return "", err
	}
	if err := checkURL(gb.URL, "wss", "ws"); err != nil {
		return "", fmt.Errorf("%s: GET /gateway/bot answered the gateway URL %q: %v: check channels.discord.apiBaseUrl", label(a.account), gb.URL, err)
	}
	if gb.SessionStartLimit.Remaining == 0 && gb.SessionStartLimit.ResetAfter > 0 {
		wait := time.Duration(gb.SessionStartLimit.ResetAfter) * time.Millisecond
		a.log.Warn("daily gateway session limit reached: waiting", logKeyRetryIn, wait)
		if !channel.Sleep(ctx, wait) {
			return "", ctx.Err()
		}
	}
	return gb.URL, nil
}

// withQuery adds the version and encoding the gateway must speak to raw.
func withQuery(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("parse %q: %w", raw, err)
	}
	q := u.Query()
	q.Set("v", apiVersion)
	q.Set("encoding", "json")
	q.Del("compress")
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// conn is one gateway connection.
type conn struct {
	a      *Adapter
	ws     *websocket.Conn
	sess   *session
	acked  atomic.Bool // a HEARTBEAT_ACK came since the last heartbeat
	zombie atomic.Bool // the heartbeat found no ACK and closed ws
	up     bool        // READY or RESUMED received; the main loop's only
}

type identifyData struct {
	Token      string             `json:"token"`
	Intents    int                `json:"intents"`
	Properties identifyProperties `json:"properties"`
}

type identifyProperties struct {
	OS      string `json:"os"`
	Browser string `json:"browser"`
	Device  string `json:"device"`
}

type resumeData struct {
	Token     string `json:"token"`
	SessionID string `json:"session_id"`
	Seq       int64  `json:"seq"`
}

// connect runs one gateway connection until it ends, delivering its
// messages to sink. up reports whether the session came up on it.
func (a *Adapter) connect(ctx context.Context, gw string, sess *session, sink channel.Sink) (up bool, err error) {
	resume := sess.resumable()
	target := gw
	if resume {
		target = sess.resumeURL
	}
	hctx, cancel := context.WithTimeout(ctx, a.helloTimeout)
	defer cancel()
	ws, resp, err := websocket.Dial(hctx, target, &websocket.DialOptions{
		HTTPClient: a.http,
		HTTPHeader: http.Header{"User-Agent": {userAgent}},
	})
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		return false, a.transportError("connect to gateway", err)
	}
	defer ws.CloseNow()
	ws.SetReadLimit(maxGatewayMessage)
	c := &conn{a: a, ws: ws, sess: sess}

	p, err := c.read(hctx)
	if err != nil {
		return false, c.readError(ctx, err)
	}
	var h hello
	if p.Op != opHello || json.Unmarshal(p.D, &h) != nil || h.HeartbeatInterval <= 0 {
		return false, fmt.Errorf("discord: the gateway's first message is not HELLO (op %d)", p.Op)
	}
	if resume {
		err = c.send(hctx, opResume, resumeData{Token: a.token, SessionID: sess.id, Seq: sess.seq.Load()})
	} else {
		err = c.send(hctx, opIdentify, identifyData{
			Token:      a.token,
			Intents:    intents,
			Properties: identifyProperties{OS: runtime.GOOS, Browser: "gatehouse", Device: "gatehouse"},
		})
	}
	if err != nil {
		return false, c.readError(ctx, err)
	}

	// The reader reads until the connection ends, answering heartbeat
	// requests and ACKs itself, and queues dispatches for this goroutine,
	// which hands them to sink in order. The heartbeat goroutine beats.
	// Both stop when the connection closes or cctx ends.
	cctx, stop := context.WithCancel(ctx)
	dispatches := make(chan payload, dispatchQueue)
	var readErr error // set before dispatches is closed
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(dispatches)
		readErr = c.readLoop(cctx, dispatches)
	})
	wg.Go(func() { c.heartbeat(cctx, time.Duration(h.HeartbeatInterval)*time.Millisecond) })
	defer func() {
		stop()
		ws.CloseNow()
		wg.Wait()
	}()
	for {
		select {
		case <-ctx.Done():
			// A normal close ends the session: Discord shows the bot offline.
			ws.Close(websocket.StatusNormalClosure, "")
			return c.up, ctx.Err()
		case p, ok := <-dispatches:
			if !ok {
				return c.up, readErr
			}
			if err := c.dispatch(ctx, p, sink); err != nil {
				return c.up, err
			}
		}
	}
}

// readLoop reads the gateway until the connection ends and returns why.
// It queues dispatches on out.
func (c *conn) readLoop(ctx context.Context, out chan<- payload) error {
	// Reads are not bound to ctx: a canceled read would drop the
	// connection before connect's normal close.
	rctx := context.WithoutCancel(ctx)
	for {
		p, err := c.read(rctx)
		if err != nil {
			if errors.Is(err, errBadDispatch) {
				c.a.log.Warn("gateway message skipped", logKeyError, err)
				continue
			}
			return c.readError(ctx, err)
		}
		switch p.Op {
		case opDispatch:
			select {
			case out <- p:
			case <-ctx.Done():
				return ctx.Err()
			}
		case opHeartbeat:
			if err := c.beat(ctx); err != nil {
				return c.readError(ctx, err)
			}
		case opHeartbeatACK:
			c.acked.Store(true)
		case opReconnect:
			return errReconnect
		case opInvalidSession:
			var resumable bool
			json.Unmarshal(p.D, &resumable) // anything but true is false
			return &invalidSessionError{resumable: resumable}
		}
	}
}

// errBadDispatch marks a gateway message that is not a valid payload.
var errBadDispatch = errors.New("discord: malformed gateway payload")

// read reads one gateway message.
func (c *conn) read(ctx context.Context) (payload, error) {
	typ, b, err := c.ws.Read(ctx)
	if err != nil {
		return payload{}, err
	}
	if typ != websocket.MessageText {
		return payload{}, fmt.Errorf("%w: binary message (compression is not asked for)", errBadDispatch)
	}
	p, err := decodePayload(b)
	if err != nil {
		return payload{}, fmt.Errorf("%w: %w", errBadDispatch, err)
	}
	return p, nil
}

// readError maps a connection's end to the adapter's errors.
func (c *conn) readError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if c.zombie.Load() {
		return errZombie
	}
	code := websocket.CloseStatus(err)
	switch code {
	case -1:
		return c.a.transportError("read from gateway", err)
	case 4004:
		return &AuthError{Account: c.a.account, Source: "gateway close 4004"}
	case 4014:
		return &IntentsError{Account: c.a.account}
	case 4010, 4011, 4012, 4013:
		return &GatewayError{Account: c.a.account, Code: int(code)}
	}
	var ce websocket.CloseError
	errors.As(err, &ce)
	return &closedError{code: code, reason: c.a.redact(ce.Reason)}
}

// send writes one gateway message.
func (c *conn) send(ctx context.Context, op int, d any) error {
	b, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("discord: encode op %d: %w", op, err)
	}
	msg, err := json.Marshal(payload{Op: op, D: b})
	if err != nil {
		return fmt.Errorf("discord: encode op %d: %w", op, err)
	}
	wctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	return c.ws.Write(wctx, websocket.MessageText, msg)
}

// beat sends a heartbeat with the last sequence number handled (null
// before the first).
func (c *conn) beat(ctx context.Context) error {
	if seq := c.sess.seq.Load(); seq > 0 {
		return c.send(ctx, opHeartbeat, seq)
	}
	return c.send(ctx, opHeartbeat, nil)
}

// heartbeat beats every interval, the first after a random part of it,
// as Discord asks. A beat that finds the previous one unacknowledged
// closes the connection without a close frame, which keeps the session
// resumable.
func (c *conn) heartbeat(ctx context.Context, interval time.Duration) {
	c.acked.Store(true)
	t := time.NewTimer(rand.N(interval) + 1)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !c.acked.Swap(false) {
			c.zombie.Store(true)
			c.ws.CloseNow()
			return
		}
		if err := c.beat(ctx); err != nil {
			return // the reader sees the broken connection
		}
		t.Reset(interval)
	}
}

// dispatch handles one dispatch and only then records its sequence
// number. It returns an error only when ctx ends.
func (c *conn) dispatch(ctx context.Context, p payload, sink channel.Sink) error {
	a := c.a
	switch p.T {
	case "READY":
		var r ready
		if err := json.Unmarshal(p.D, &r); err != nil || r.SessionID == "" || !snowflake(r.User.ID) {
			a.log.Warn("READY unreadable: the session cannot be resumed", logKeyError, err)
			break
		}
		c.sess.id, c.sess.botID = r.SessionID, r.User.ID
		c.sess.resumeURL = ""
		if checkURL(r.ResumeGatewayURL, "wss", "ws") == nil {
			c.sess.resumeURL, _ = withQuery(r.ResumeGatewayURL)
		} else {
			a.log.Warn("READY has no usable resume_gateway_url: the session cannot be resumed")
		}
		c.up = true
		a.health.Set(true, nil)
		a.log.Info("channel connected", logKeyBot, r.User.Username)
	case "RESUMED":
		c.up = true
		a.health.Set(true, nil)
		a.log.Info("channel resumed")
	case "MESSAGE_CREATE":
		m, err := decodeMessage(p.D)
		if err != nil {
			a.log.Warn("message skipped", logKeyError, err)
			break
		}
		if m.GuildID == "" && !m.Author.Bot && snowflake(m.Author.ID) && snowflake(m.ChannelID) {
			a.rememberDM(m.Author.ID, m.ChannelID)
		}
		if in, ok := inbound(m, c.sess.botID, a.account); ok {
			if err := a.deliver(ctx, sink, in); err != nil {
				return err
			}
		}
	}
	c.sess.seq.Store(*p.S)
	return nil
}

// deliver calls sink until it returns nil or ctx ends.
func (a *Adapter) deliver(ctx context.Context, sink channel.Sink, in channel.Inbound) error {
	wait := 100 * time.Millisecond
	for {
		err := sink(ctx, in)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		a.log.Warn("inbound message not recorded, retrying", logKeyMessage, in.MessageID, logKeyRetryIn, wait, logKeyError, err)
		if !channel.Sleep(ctx, wait) {
			return ctx.Err()
		}
		wait = min(2*wait, maxSinkWait)
	}
}

// retry runs f until it succeeds, fails with an *AuthError, or ctx ends,
// waiting between attempts as Discord asks or with a growing backoff.
func (a *Adapter) retry(ctx context.Context, what string, f func() error) error {
	wait := a.minBackoff
	for {
		err := f()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		a.health.Set(false, err)
		var auth *AuthError
		if errors.As(err, &auth) {
			return err
		}
		d := jitter(wait)
		var ra *channel.RetryAfterError
		if errors.As(err, &ra) {
			d = ra.After
		} else {
			wait = min(2*wait, a.maxBackoff)
		}
		a.log.Warn("discord request failed", logKeyRequest, what, logKeyRetryIn, d, logKeyError, err)
		if !channel.Sleep(ctx, d) {
			return ctx.Err()
		}
	}
}

// jitter returns d less up to a fifth of it.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d - rand.N(d/5+1)
}
