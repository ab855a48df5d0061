package telegram

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"gatehouse/internal/channel"
)

// maxResponse bounds a Bot API response body.
const maxResponse = 16 << 20

// APIError is an error the Bot API answered with.
type APIError struct {
	Method      string
	StatusCode  int    // HTTP status
	Code        int    // error_code, 0 when the body was not Telegram's error JSON
	Description string // Telegram's description, or the start of the body
}

func (e *APIError) Error() string {
	if e.Description == "" {
		return fmt.Sprintf("telegram: %s: HTTP %d", e.Method, e.StatusCode)
	}
	return fmt.Sprintf("telegram: %s: HTTP %d: %s", e.Method, e.StatusCode, e.Description)
}

// AuthError is the Bot API refusing the token.
type AuthError struct {
	StatusCode int
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("telegram: the bot token was refused (%d): check it with BotFather and run gatehouse channels add --channel telegram --token …", e.StatusCode)
}

// response is the Bot API's envelope.
type response struct {
	OK          bool            `json:"ok"`
	Result      json.RawMessage `json:"result"`
	ErrorCode   int             `json:"error_code"`
	Description string          `json:"description"`
	Parameters  struct {
		RetryAfter int `json:"retry_after"`
	} `json:"parameters"`
}

// call posts params as JSON to method and decodes the result into dst
// (unless nil). Every error it returns is free of the token: a transport
// error, whose text holds the URL, is rebuilt from its cause.
func (a *Adapter) call(ctx context.Context, method string, params, dst any) error {
	body, err := json.Marshal(params)
	if err != nil {
		return fmt.Errorf("telegram: %s: encode request: %w", method, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.base+"/bot"+a.token+"/"+method, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("telegram: %s: %s", method, a.redact(err.Error()))
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return a.transportError(method, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return a.transportError(method, err)
	}
	var r response
	jsonErr := json.Unmarshal(raw, &r)
	switch {
	case resp.StatusCode == http.StatusUnauthorized || r.ErrorCode == http.StatusUnauthorized:
		return &AuthError{StatusCode: http.StatusUnauthorized}
	case method == "getMe" && (resp.StatusCode == http.StatusNotFound || r.ErrorCode == http.StatusNotFound):
		// Telegram answers a malformed token with 404 Not Found.
		return &AuthError{StatusCode: http.StatusNotFound}
	case resp.StatusCode == http.StatusTooManyRequests || r.ErrorCode == http.StatusTooManyRequests:
		after := time.Duration(r.Parameters.RetryAfter) * time.Second
		if after <= 0 {
			after = time.Second
		}
		return &channel.RetryAfterError{After: after}
	case jsonErr == nil && r.OK && resp.StatusCode == http.StatusOK:
		if dst == nil {
			return nil
		}
		if err := json.Unmarshal(r.Result, dst); err != nil {
			return fmt.Errorf("telegram: %s: decode result: %w", method, err)
		}
		return nil
	}
	e := &APIError{Method: method, StatusCode: resp.StatusCode, Code: r.ErrorCode, Description: r.Description}
	if jsonErr != nil || e.Description == "" {
		e.Description = snippet(raw)
	}
	e.Description = a.redact(e.Description)
	return e
}

// transportError rebuilds a failed round trip's error without the URL.
func (a *Adapter) transportError(method string, err error) error {
	var ue interface{ Unwrap() error }
	cause := err
	if errors.As(err, &ue) { // *url.Error: keep its cause, drop its URL
		if inner := ue.Unwrap(); inner != nil {
			cause = inner
		}
	}
	te := &TransportError{Method: method, msg: a.redact(cause.Error())}
	var t interface{ Timeout() bool }
	te.timeout = errors.As(err, &t) && t.Timeout()
	return te
}

// TransportError is a Bot API request that got no answer (network down,
// timeout). Its text never holds the request URL.
type TransportError struct {
	Method  string
	msg     string
	timeout bool
}

func (e *TransportError) Error() string {
	return fmt.Sprintf("telegram: %s: no answer from the Bot API (check the network and channels.telegram.apiBaseUrl): %s", e.Method, e.msg)
}

// Timeout reports whether the request timed out.
func (e *TransportError) Timeout() bool { return e.timeout }

// redact removes the token from s.
func (a *Adapter) redact(s string) string {
	if a.token == "" {
		return s
	}
	return strings.ReplaceAll(s, a.token, "[REDACTED]")
}

// snippet is the start of a non-JSON body, for an error.
func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}
