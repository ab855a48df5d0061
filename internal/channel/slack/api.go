package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"gatehouse/internal/channel"
)

// maxResponse bounds a Web API response body.
const maxResponse = 1 << 20

// The tokens a Web API call can use.
const (
	tokenBot = "bot"
	tokenApp = "app"
)

// addHint is how to give the adapter both tokens again.
const addHint = "run gatehouse channels add --channel slack --token xoxb-… --app-token xapp-…"

// authCode reports whether a Web API error means the token is no good.
func authCode(code string) bool {
	switch code {
	case "invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired",
		"not_allowed_token_type", "team_disabled":
		return true
	}
	return false
}

// AuthError is Slack refusing the bot token or the app token.
type AuthError struct {
	Token string // "bot" or "app"
	Code  string // Slack's error code: invalid_auth, not_authed, …
}

func (e *AuthError) Error() string {
	if e.Token == tokenApp {
		return fmt.Sprintf("slack: the app token was refused (%s): make an app-level token with the connections:write scope (Basic Information, App-Level Tokens), turn on Socket Mode, and %s", e.Code, addHint)
	}
	return fmt.Sprintf("slack: the bot token was refused (%s): reinstall the app and %s", e.Code, addHint)
}

// APIError is an error the Web API answered with.
type APIError struct {
	Method     string
	StatusCode int    // HTTP status
	Code       string // Slack's error code, or the start of a body that was not Slack's JSON
	Needed     string // the scope a missing_scope error asks for
}

func (e *APIError) Error() string {
	switch e.Code {
	case "missing_scope":
		return fmt.Sprintf("slack: %s: missing_scope %s: add the scope under OAuth & Permissions and reinstall the app", e.Method, e.Needed)
	case "not_in_channel", "channel_not_found":
		return fmt.Sprintf("slack: %s: %s: invite the app to the channel (/invite @app)", e.Method, e.Code)
	case "":
		return fmt.Sprintf("slack: %s: HTTP %d", e.Method, e.StatusCode)
	}
	return fmt.Sprintf("slack: %s: HTTP %d: %s", e.Method, e.StatusCode, e.Code)
}

// TransportError is a Web API request or a Socket Mode connection that got
// no answer (network down, timeout). Its text never holds a URL.
type TransportError struct {
	Method  string
	msg     string
	timeout bool
}

func (e *TransportError) Error() string {
	return fmt.Sprintf("slack: %s: no answer from Slack (check the network and channels.slack.apiBaseUrl): %s", e.Method, e.msg)
}

// Timeout reports whether the request timed out.
func (e *TransportError) Timeout() bool { return e.timeout }

// response is the Web API's envelope.
type response struct {
	OK     bool   `json:"ok"`
	Error  string `json:"error"`
	Needed string `json:"needed"`
}

// call posts form to method with the bot or the app token and decodes the
// answer into dst (unless nil). The token travels in the Authorization
// header, never in the URL or the body, and every error it returns is free
// of it.
func (a *Adapter) call(ctx context.Context, method, token string, form url.Values, dst any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.base+method, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("slack: %s: %s", method, a.redact(err.Error()))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	secret := a.botToken
	if token == tokenApp {
		secret = a.appToken
	}
	req.Header.Set("Authorization", "Bearer "+secret)
	resp, err := a.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return a.transportError(method, err, "")
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return a.transportError(method, err, "")
	}
	var r response
	jsonErr := json.Unmarshal(raw, &r)
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || r.Error == "ratelimited":
		return &channel.RetryAfterError{After: retryAfter(resp.Header.Get("Retry-After"))}
	case resp.StatusCode == http.StatusUnauthorized || authCode(r.Error):
		code := r.Error
		if code == "" {
			code = "HTTP 401"
		}
		return &AuthError{Token: token, Code: code}
	case jsonErr == nil && r.OK && resp.StatusCode == http.StatusOK:
		if dst == nil {
			return nil
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return fmt.Errorf("slack: %s: decode answer: %w", method, err)
		}
		return nil
	}
	e := &APIError{Method: method, StatusCode: resp.StatusCode, Code: errorCode(r.Error), Needed: errorCode(r.Needed)}
	if jsonErr != nil || r.Error == "" {
		e.Code = a.redact(snippet(raw))
	}
	return e
}

// retryAfter reads a Retry-After header's seconds; Slack always sends it
// with a 429, and a missing or odd one means a second.
func retryAfter(h string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(h))
	if err != nil || n < 1 {
		return time.Second
	}
	return time.Duration(min(n, 3600)) * time.Second
}

// errorCode keeps a Slack error code (lowercase letters, digits, _ and :,
// such as missing_scope or chat:write) and drops anything else, so that an
// answer cannot write arbitrary text into an error.
func errorCode(s string) string {
	if len(s) > 100 {
		return "unreadable error"
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == ':' || c == ',' || c == '.') {
			return "unreadable error"
		}
	}
	return s
}

// transportError rebuilds a failed round trip's error without its URL,
// and without secret (a WebSocket URL's ticket) if that is set.
func (a *Adapter) transportError(method string, err error, secret string) error {
	cause := err
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil { // keep the cause, drop the URL
		cause = ue.Err
	}
	msg := a.redact(cause.Error())
	if secret != "" {
		msg = strings.ReplaceAll(msg, secret, "[REDACTED]")
	}
	te := &TransportError{Method: method, msg: msg}
	var t interface{ Timeout() bool }
	te.timeout = errors.As(err, &t) && t.Timeout()
	return te
}

// redact removes both tokens from s.
func (a *Adapter) redact(s string) string {
	for _, t := range []string{a.botToken, a.appToken} {
		if t != "" {
			s = strings.ReplaceAll(s, t, "[REDACTED]")
		}
	}
	return s
}

// snippet is the start of a body that was not Slack's JSON, for an error.
func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}
