package llm

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// KindOf classifies an HTTP error from a provider by its status and the
// provider's error type or code strings (OpenAI's error.type and
// error.code, Anthropic's error.type). The type wins over the status:
// OpenAI answers an exhausted quota with 429 insufficient_quota, which is a
// billing problem, not a rate limit.
func KindOf(status int, types ...string) ErrorKind {
	for _, t := range types {
		switch strings.ToLower(t) {
		case "insufficient_quota", "billing_error", "billing_hard_limit_reached", "payment_required":
			return KindBilling
		case "context_length_exceeded", "context_window_exceeded", "string_above_max_length":
			return KindContext
		case "overloaded_error", "overloaded":
			return KindOverloaded
		case "rate_limit_error", "rate_limit_exceeded", "rate_limited":
			return KindRateLimit
		case "authentication_error", "permission_error", "invalid_api_key", "unauthorized", "forbidden":
			return KindAuth
		case "timeout_error":
			return KindTimeout
		}
	}
	switch {
	case status == 529:
		return KindOverloaded
	case status == http.StatusTooManyRequests:
		return KindRateLimit
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		return KindAuth
	case status == http.StatusPaymentRequired:
		return KindBilling
	case status == http.StatusRequestTimeout:
		return KindTimeout
	case status == http.StatusBadRequest, status == http.StatusNotFound,
		status == http.StatusRequestEntityTooLarge, status == http.StatusUnprocessableEntity:
		return KindBadRequest
	case status >= 500:
		return KindServer
	}
	return KindUnknown
}

// IsContextOverflow reports whether a provider's error message says the
// prompt is longer than the model's context window. Providers differ in
// how they mark it (Anthropic sends a plain invalid_request_error), so the
// message is the only signal. It is read for classification only and never
// copied into an Error.
func IsContextOverflow(msg string) bool {
	msg = strings.ToLower(msg)
	for _, s := range []string{
		"prompt is too long",
		"maximum context length",
		"context length",
		"context_length_exceeded",
		"context window",
		"too many tokens",
		"input is too long",
	} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// RetryAfter reads a response's retry-after-ms or Retry-After header
// (seconds or an HTTP date relative to now). It returns 0 when there is
// none or it cannot be read.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	if h == nil {
		return 0
	}
	if v := h.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// TransportError classifies an error that is not an HTTP error response:
// the caller's context ending, a timeout, or a broken connection. ctx is
// the context the call ran under. The result keeps only errors that hold
// no URL or header (context.Canceled, context.DeadlineExceeded, a syscall
// errno), so it is safe to show.
func TransportError(ctx context.Context, provider, model string, err error) *Error {
	e := &Error{Provider: provider, Model: model}
	var ne net.Error
	var errno syscall.Errno
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		e.Kind, e.Message, e.Err = KindCanceled, "the request was canceled", context.Canceled
	case errors.Is(ctx.Err(), context.DeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		e.Kind, e.Message, e.Err = KindTimeout, "the request timed out", context.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		e.Kind, e.Message, e.Err = KindCanceled, "the request was canceled", context.Canceled
	case errors.As(err, &ne) && ne.Timeout():
		e.Kind, e.Message = KindTimeout, "the connection timed out"
	case errors.As(err, &errno):
		e.Kind, e.Message, e.Err = KindNetwork, "cannot reach the provider: "+errno.Error(), errno
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		e.Kind, e.Message, e.Err = KindNetwork, "the connection closed early", io.ErrUnexpectedEOF
	case errors.As(err, &ne):
		e.Kind, e.Message = KindNetwork, "cannot reach the provider"
	default:
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) {
			e.Kind, e.Message = KindNetwork, "cannot resolve the provider's host"
			break
		}
		e.Kind, e.Message = KindUnknown, "unexpected error"
	}
	return e
}

// Hint is what the owner can do about an error of kind k from the named
// provider, or "" when retrying is all there is to it.
func Hint(k ErrorKind, provider string) string {
	switch k {
	case KindAuth:
		return "the provider refused the API key: set a valid one with gatehouse models auth add --provider " + provider
	case KindBilling:
		return "the provider account is out of credit or quota: add billing at the provider, or switch models"
	case KindBadRequest:
		return "the provider rejected the request: check the model name in agents.defaults.model"
	case KindContext:
		return "the conversation is longer than the model's context window"
	}
	return ""
}

// HTTPError builds the Error for an HTTP error response. typ and code are
// the provider's error type and code, msg its error message; msg is read
// to spot a context-length overflow but never kept, since providers echo
// parts of keys in it ("Incorrect API key provided: sk-ab***yz").
func HTTPError(provider, model string, status int, h http.Header, now time.Time, typ, code, msg string) *Error {
	k := KindOf(status, code, typ)
	switch {
	case k != KindBadRequest && k != KindUnknown:
	case IsContextOverflow(msg):
		k = KindContext
	case strings.Contains(strings.ToLower(msg), "credit balance"):
		// Anthropic: 400 invalid_request_error "Your credit balance is
		// too low to access the Anthropic API."
		k = KindBilling
	}
	e := &Error{Kind: k, Provider: provider, Model: model, Status: status}
	if k == KindRateLimit || k == KindOverloaded || k == KindServer {
		e.RetryAfter = RetryAfter(h, now)
	}
	var parts []string
	for _, s := range []string{typ, code} {
		if s = safeWord(s); s != "" && !slices.Contains(parts, s) {
			parts = append(parts, s)
		}
	}
	e.Message = strings.Join(parts, " ")
	if hint := Hint(k, provider); hint != "" {
		if e.Message != "" {
			e.Message += ": "
		}
		e.Message += hint
	}
	return e
}

// safeWord keeps an error type or code only when it looks like one
// (lower-case letters, digits, "_" and "."), so that nothing else a server
// sends, such as a key (which has "-" and capitals), ends up in an error.
func safeWord(s string) string {
	if len(s) > 64 {
		return ""
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '.') {
			return ""
		}
	}
	return s
}
