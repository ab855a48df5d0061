package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sync"

	"github.com/coder/websocket"

	"gatehouse/internal/channel"
)

// maxFrame bounds one Socket Mode message. An event with blocks and files
// stays far below it; a larger one drops the connection, and Slack
// delivers the rest again.
const maxFrame = 4 << 20

// DisabledError is Slack closing the Socket Mode connection because Socket
// Mode was turned off for the app.
type DisabledError struct{}

func (e *DisabledError) Error() string {
	return "slack: socket mode was turned off for the app (link_disabled): turn it on under Settings, Socket Mode, at api.slack.com/apps"
}

// disconnectError is Slack's disconnect message.
type disconnectError struct {
	Reason string // refresh_requested, warning, too_many_websockets, …
}

func (e *disconnectError) Error() string {
	return fmt.Sprintf("slack: socket mode: slack closed the connection (%s)", e.Reason)
}

// refresh reports whether Slack replaces the connection as routine (it
// does every few hours), so that a new one is opened at once.
func (e *disconnectError) refresh() bool {
	return e.Reason == "refresh_requested" || e.Reason == "warning"
}

// session opens one Socket Mode connection and serves it until it drops,
// Slack asks to disconnect, or ctx ends. It always returns an error.
func (a *Adapter) session(ctx context.Context, sink channel.Sink, me identity) error {
	var open struct {
		URL string `json:"url"`
	}
	if err := a.call(ctx, "apps.connections.open", tokenApp, nil, &open); err != nil {
		return err
	}
	u, err := url.Parse(open.URL)
	if err != nil || (u.Scheme != "wss" && u.Scheme != "ws") || u.Host == "" {
		return errors.New("slack: apps.connections.open: the answer holds no WebSocket URL")
	}
	conn, _, err := websocket.Dial(ctx, open.URL, &websocket.DialOptions{HTTPClient: a.http})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// The URL carries a connection ticket: keep it out of the error.
		return a.transportError("socket mode", err, u.RawQuery)
	}
	conn.SetReadLimit(maxFrame)

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer conn.CloseNow()
	defer cancel()
	wg.Go(func() { a.keepAlive(ctx, conn) })

	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return a.transportError("socket mode", err, u.RawQuery)
		}
		var env envelope
		if err := json.Unmarshal(data, &env); err != nil {
			a.log.Warn("socket mode message skipped", logKeyError, err)
			continue
		}
		switch env.Type {
		case "hello":
			a.health.Set(true, nil)
			a.log.Info("channel connected")
		case "disconnect":
			if env.Reason == "link_disabled" {
				return &DisabledError{}
			}
			return &disconnectError{Reason: errorCode(env.Reason)}
		case "events_api":
			if err := a.handle(ctx, conn, sink, me, env); err != nil {
				return err
			}
		default:
			// slash_commands, interactive: not for this adapter, but
			// unacknowledged Slack would send them again.
			if err := a.ack(ctx, conn, env.EnvelopeID); err != nil {
				return err
			}
		}
	}
}

// handle gives an events_api envelope's message to sink and acknowledges
// the envelope once sink returned nil. An envelope with nothing for the
// agent is acknowledged at once; one whose sink failed is not, so that
// Slack delivers it again. handle returns an error only when the
// acknowledgement cannot be written.
func (a *Adapter) handle(ctx context.Context, conn *websocket.Conn, sink channel.Sink, me identity, env envelope) error {
	ev, err := DecodeEvent(env.Payload)
	if err != nil {
		a.log.Warn("event skipped", logKeyEnvelope, env.EnvelopeID, logKeyError, err)
		return a.ack(ctx, conn, env.EnvelopeID)
	}
	in, ok := inbound(ev, me, a.account)
	if !ok {
		return a.ack(ctx, conn, env.EnvelopeID)
	}
	if err := sink(ctx, in); err != nil {
		if ctx.Err() == nil {
			a.log.Warn("inbound message not recorded: slack will deliver it again",
				logKeyMessage, in.MessageID, logKeyAttempt, env.RetryAttempt, logKeyError, err)
		}
		return nil
	}
	return a.ack(ctx, conn, env.EnvelopeID)
}

// ack acknowledges the envelope id.
func (a *Adapter) ack(ctx context.Context, conn *websocket.Conn, id string) error {
	if id == "" {
		return nil
	}
	b, err := json.Marshal(struct {
		EnvelopeID string `json:"envelope_id"`
	}{id})
	if err != nil {
		return fmt.Errorf("slack: socket mode: encode acknowledgement: %w", err)
	}
	if err := conn.Write(ctx, websocket.MessageText, b); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return a.transportError("socket mode acknowledgement", err, "")
	}
	return nil
}

// keepAlive pings Slack every pingInterval and closes conn when an answer
// does not come within another, so that session's read fails and Run opens
// a new connection, until ctx ends.
func (a *Adapter) keepAlive(ctx context.Context, conn *websocket.Conn) {
	for channel.Sleep(ctx, a.pingInterval) {
		pctx, cancel := context.WithTimeout(ctx, a.pingInterval)
		err := conn.Ping(pctx)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				a.log.Warn("socket mode ping unanswered: reconnecting", logKeyError, a.redact(err.Error()))
				conn.CloseNow()
			}
			return
		}
	}
}
