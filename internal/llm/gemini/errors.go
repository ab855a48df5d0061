package gemini

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"google.golang.org/genai"

	"gatehouse/internal/llm"
)

// classify turns an error from the SDK into an *llm.Error. An API error's
// message is rebuilt from its HTTP code, its status and its ErrorInfo
// reason; Gemini's own message is read to classify but never kept, since it
// can echo the request (and, from a misbehaving server, the key).
func (p *Provider) classify(ctx context.Context, model string, err error) *llm.Error {
	var apiErr genai.APIError
	if ctx.Err() != nil || !errors.As(err, &apiErr) {
		return llm.TransportError(ctx, p.name, model, err)
	}
	reason, retry := details(apiErr.Details)
	status := apiErr.Status
	if !isWord(status) {
		// A body that was not Gemini's error JSON: the SDK puts the HTTP
		// status line ("502 Bad Gateway") here.
		status = http.StatusText(apiErr.Code)
	}
	e := &llm.Error{
		Kind:     kindOf(apiErr.Code, status, reason, apiErr.Message),
		Provider: p.name,
		Model:    model,
		Status:   apiErr.Code,
		// For errors.As on the code and status; the message stays behind.
		Err: genai.APIError{Code: apiErr.Code, Status: status},
	}
	if e.Retryable() {
		e.RetryAfter = retry
	}
	var b strings.Builder
	b.WriteString(status)
	if reason != "" {
		b.WriteString(" " + reason)
	}
	if h := llm.Hint(e.Kind, p.name); h != "" {
		b.WriteString(": " + h)
	}
	e.Message = b.String()
	return e
}

// kindOf maps Gemini's HTTP code, status (google.rpc.Code name) and
// ErrorInfo reason to a kind; msg only tells a context overflow from other
// invalid arguments. See
// https://ai.google.dev/gemini-api/docs/troubleshooting#error-codes.
func kindOf(code int, status, reason, msg string) llm.ErrorKind {
	switch {
	case strings.HasPrefix(reason, "API_KEY_"), status == "UNAUTHENTICATED", status == "PERMISSION_DENIED":
		// A bad key is 400 INVALID_ARGUMENT with reason API_KEY_INVALID.
		return llm.KindAuth
	case status == "RESOURCE_EXHAUSTED":
		return llm.KindRateLimit
	case status == "FAILED_PRECONDITION" && strings.Contains(strings.ToLower(msg), "billing"):
		// "Gemini API free tier is not available in your country. Please
		// enable billing on your project in Google AI Studio."
		return llm.KindBilling
	case status == "UNAVAILABLE":
		return llm.KindOverloaded
	case status == "DEADLINE_EXCEEDED", code == http.StatusGatewayTimeout:
		return llm.KindTimeout
	case status == "INTERNAL":
		return llm.KindServer
	}
	k := llm.KindOf(code)
	if k == llm.KindServer && code == http.StatusServiceUnavailable {
		k = llm.KindOverloaded
	}
	if (k == llm.KindBadRequest || k == llm.KindUnknown) && isOverflow(msg) {
		k = llm.KindContext
	}
	return k
}

// isOverflow reports whether msg says the prompt is longer than the
// model's context window. Gemini says "The input token count (1200000)
// exceeds the maximum number of tokens allowed (1048576)."
func isOverflow(msg string) bool {
	m := strings.ToLower(msg)
	return llm.IsContextOverflow(m) || (strings.Contains(m, "token count") && strings.Contains(m, "exceeds"))
}

// details extracts the google.rpc.ErrorInfo reason and the
// google.rpc.RetryInfo delay from an error's details.
func details(ds []map[string]any) (reason string, retry time.Duration) {
	for _, d := range ds {
		typ, _ := d["@type"].(string)
		switch {
		case strings.HasSuffix(typ, "google.rpc.ErrorInfo"):
			if r, ok := d["reason"].(string); ok && isWord(r) {
				reason = r
			}
		case strings.HasSuffix(typ, "google.rpc.RetryInfo"):
			if s, ok := d["retryDelay"].(string); ok {
				if dur, err := time.ParseDuration(s); err == nil && dur > 0 {
					retry = dur
				}
			}
		}
	}
	return reason, retry
}

// isWord reports whether s looks like a status or ErrorInfo reason
// (RESOURCE_EXHAUSTED, API_KEY_INVALID), so that no free text a server
// sends rides into an error as one.
func isWord(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '_' {
			return false
		}
	}
	return true
}
