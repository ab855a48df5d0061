package rpc

import (
	"errors"
	"fmt"
	"time"
)

// NotRunningError means nothing accepted the connection: no gateway is
// listening at Addr.
type NotRunningError struct {
	Addr string
}

func (e *NotRunningError) Error() string {
	return fmt.Sprintf("no gateway is listening on %s: start it with \"gatehouse gateway run\"", e.Addr)
}

// AuthError means the gateway refused the token.
type AuthError struct{}

func (e *AuthError) Error() string {
	return "the gateway refused the token: run \"gatehouse doctor\" to check that the CLI and the gateway use the same gateway.auth.token"
}

// LockedOutError means the gateway refuses this address for a while after
// too many failed authentication attempts. RetryAfter is zero when the
// gateway did not say how long.
type LockedOutError struct {
	RetryAfter time.Duration
}

func (e *LockedOutError) Error() string {
	if e.RetryAfter <= 0 {
		return "too many failed authentication attempts from this address: the gateway refuses it for a few minutes; retry later"
	}
	return fmt.Sprintf("too many failed authentication attempts from this address: retry after %s", e.RetryAfter.Round(time.Second))
}

// ClosedError means the gateway closed the connection. Code is the
// WebSocket close status: [CloseGoingAway] when the gateway shuts down.
type ClosedError struct {
	Code   int
	Reason string
}

// WebSocket close statuses the gateway uses.
const (
	CloseNormal          = 1000
	CloseGoingAway       = 1001
	ClosePolicyViolation = 1008
	CloseMessageTooBig   = 1009
)

func (e *ClosedError) Error() string {
	switch e.Code {
	case CloseGoingAway:
		return "the gateway closed the connection: it is shutting down"
	case ClosePolicyViolation:
		if e.Reason != "" {
			return fmt.Sprintf("the gateway closed the connection: %s", e.Reason)
		}
		return "the gateway closed the connection: policy violation"
	}
	if e.Reason != "" {
		return fmt.Sprintf("the gateway closed the connection (status %d: %s)", e.Code, e.Reason)
	}
	return fmt.Sprintf("the gateway closed the connection (status %d)", e.Code)
}

// ErrClosed is returned by calls on a [Client] after Close.
var ErrClosed = errors.New("the gateway connection is closed")

// ErrNoToken is returned by [Dial] when it is given no token.
var ErrNoToken = errors.New("no gateway token: run \"gatehouse doctor\" to find gateway.auth.token")
