package discord

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"gatehouse/internal/channel"
)

// maxResponse bounds an HTTP API response body.
const maxResponse = 4 << 20

// userAgent is the User-Agent Discord asks bots to send:
// "DiscordBot ($url, $versionNumber)".
const userAgent = "DiscordBot (https://github.com/gatehouse, 1)"

// tokenHint says where a bot token comes from and how to give it.
const tokenHint = "copy the bot token from the Discord Developer Portal (Applications → your app → Bot → Reset Token) and run gatehouse channels add --channel discord --token -"

// AuthError is Discord refusing the bot token: HTTP 401 from the HTTP API,
// or gateway close code 4004.
type AuthError struct {
	Account string
	Source  string // "HTTP 401" or "gateway close 4004"
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("%s: the bot token was refused (%s authentication failed): %s", label(e.Account), e.Source, tokenHint)
}

// IntentsError is gateway close code 4014 (disallowed intents): the app
// has not enabled a privileged intent the adapter asks for, the Message
// Content intent, without which guild messages arrive without their text.
type IntentsError struct {
	Account string
}

func (e *IntentsError) Error() string {
	return fmt.Sprintf("%s: the gateway refused the bot's intents (close 4014 disallowed intents): "+
		"enable Message Content Intent in the Discord Developer Portal (Applications → your app → Bot → Privileged Gateway Intents), then restart the gateway",
		label(e.Account))
}

// GatewayError is a close code after which reconnecting cannot help:
// 4010 invalid shard, 4011 sharding required, 4012 invalid API version,
// 4013 invalid intents.
type GatewayError struct {
	Account string
	Code    int
}

func (e *GatewayError) Error() string {
	what := "this gatehouse speaks a gateway protocol Discord no longer accepts: update gatehouse"
	if e.Code == 4011 {
		what = "the bot is in too many guilds for one connection (sharding required), which gatehouse does not do: remove the bot from guilds it does not need"
	}
	return fmt.Sprintf("%s: the gateway closed the connection (close %d): %s", label(e.Account), e.Code, what)
}

// APIError is an error the HTTP API answered with.
type APIError struct {
	Request    string // e.g. "create message"
	StatusCode int    // HTTP status
	Code       int    // Discord's JSON error code, 0 when the body was not Discord's error JSON
	Message    string // Discord's message, or the start of the body
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("discord: %s: HTTP %d", e.Request, e.StatusCode)
	if e.Code != 0 {
		msg += fmt.Sprintf(" (code %d)", e.Code)
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.StatusCode == http.StatusForbidden {
		msg += ": give the bot the View Channel and Send Messages permissions in that channel"
	}
	return msg
}

// TransportError is a request that got no answer (network down, timeout).
type TransportError struct {
	Request string
	msg     string
	timeout bool
}

func (e *TransportError) Error() string {
	return fmt.Sprintf("discord: %s: no answer from Discord (check the network, and channels.discord.apiBaseUrl if set): %s", e.Request, e.msg)
}

// Timeout reports whether the request timed out.
func (e *TransportError) Timeout() bool { return e.timeout }

// label names the channel account in an error.
func label(account string) string {
	if account == "" {
		return "discord"
	}
	return fmt.Sprintf("discord account %q", account)
}

// errorBody is the HTTP API's error JSON, including a 429's.
type errorBody struct {
	Code       int     `json:"code"`
	Message    string  `json:"message"`
	RetryAfter float64 `json:"retry_after"` // seconds
	Global     bool    `json:"global"`
}

// call sends body (unless nil) as JSON to path, below the API base URL, and
// decodes a 2xx answer into dst (unless nil). The token travels only in
// the Authorization header, and every error is free of it.
func (a *Adapter) call(ctx context.Context, request, method, path string, body, dst any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("discord: %s: encode request: %w", request, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return fmt.Errorf("discord: %s: %s", request, a.redact(err.Error()))
	}
	req.Header.Set("Authorization", "Bot "+a.token)
	req.Header.Set("User-Agent", userAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return a.transportError(request, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return a.transportError(request, err)
	}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		if dst == nil || len(raw) == 0 {
			return nil
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return fmt.Errorf("discord: %s: decode answer: %w", request, err)
		}
		return nil
	case resp.StatusCode == http.StatusUnauthorized:
		return &AuthError{Account: a.account, Source: "HTTP 401"}
	case resp.StatusCode == http.StatusTooManyRequests:
		return &channel.RetryAfterError{After: retryAfter(resp.Header, raw)}
	}
	var eb errorBody
	e := &APIError{Request: request, StatusCode: resp.StatusCode}
	if json.Unmarshal(raw, &eb) == nil && eb.Message != "" {
		e.Code, e.Message = eb.Code, eb.Message
	} else {
		e.Message = snippet(raw)
	}
	e.Message = a.redact(e.Message)
	return e
}

// retryAfter reads a 429's wait: the body's retry_after, else the
// X-RateLimit-Reset-After or Retry-After header (all in seconds), else 1 s.
func retryAfter(h http.Header, body []byte) time.Duration {
	var eb errorBody
	if json.Unmarshal(body, &eb) == nil && eb.RetryAfter > 0 {
		return seconds(eb.RetryAfter)
	}
	for _, k := range []string{"X-RateLimit-Reset-After", "Retry-After"} {
		if f, err := strconv.ParseFloat(strings.TrimSpace(h.Get(k)), 64); err == nil && f > 0 {
			return seconds(f)
		}
	}
	return time.Second
}

// seconds converts a wait in seconds, capped at an hour so that a bad
// value cannot overflow or stall a channel for ever.
func seconds(f float64) time.Duration {
	return time.Duration(min(f, 3600) * float64(time.Second))
}

// transportError rebuilds a failed round trip's error without the URL.
func (a *Adapter) transportError(request string, err error) error {
	cause := err
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) { // *url.Error: keep its cause, drop its URL
		if inner := ue.Unwrap(); inner != nil {
			cause = inner
		}
	}
	te := &TransportError{Request: request, msg: a.redact(cause.Error())}
	var t interface{ Timeout() bool }
	te.timeout = errors.As(err, &t) && t.Timeout()
	return te
}

// redact removes the token from s.
func (a *Adapter) redact(s string) string {
	if a.token == "" {
		return s
	}
	return strings.ReplaceAll(s, a.token, "[REDACTED]")
}

// snippet is the start of a body that is not Discord's error JSON.
func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}
