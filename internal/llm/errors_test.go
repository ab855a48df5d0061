package llm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestKindOf(t *testing.T) {
	tests := []struct {
		name   string
		status int
		types  []string
		want   ErrorKind
	}{
		{"quota_429_is_billing", 429, []string{"insufficient_quota"}, KindBilling},
		{"rate_limit", 429, nil, KindRateLimit},
		{"overloaded_type", 0, []string{"overloaded_error"}, KindOverloaded},
		{"status_529", 529, nil, KindOverloaded},
		{"server", 502, nil, KindServer},
		{"auth", 401, nil, KindAuth},
		{"forbidden", 403, nil, KindAuth},
		{"payment", 402, nil, KindBilling},
		{"request_timeout", 408, nil, KindTimeout},
		{"not_found", 404, nil, KindBadRequest},
		{"context_code", 400, []string{"invalid_request_error", "context_length_exceeded"}, KindContext},
		{"unknown", 418, nil, KindUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := KindOf(tt.status, tt.types...); got != tt.want {
				t.Errorf("KindOf(%d, %q) = %s, want %s", tt.status, tt.types, got, tt.want)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		header http.Header
		want   time.Duration
	}{
		{"seconds", http.Header{"Retry-After": {"3"}}, 3 * time.Second},
		{"ms_wins", http.Header{"Retry-After": {"3"}, "Retry-After-Ms": {"250"}}, 250 * time.Millisecond},
		{"http_date", http.Header{"Retry-After": {now.Add(90 * time.Second).Format(http.TimeFormat)}}, 90 * time.Second},
		{"past_date", http.Header{"Retry-After": {now.Add(-time.Minute).Format(http.TimeFormat)}}, 0},
		{"garbage", http.Header{"Retry-After": {"soon"}}, 0},
		{"none", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RetryAfter(tt.header, now); got != tt.want {
				t.Errorf("RetryAfter = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTransportError(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want ErrorKind
	}{
		{"caller_canceled", canceled, fmt.Errorf("post: %w", context.Canceled), KindCanceled},
		{"deadline", context.Background(), fmt.Errorf("post: %w", context.DeadlineExceeded), KindTimeout},
		{"refused", context.Background(), fmt.Errorf("dial: %w", syscall.ECONNREFUSED), KindNetwork},
		{"eof", context.Background(), fmt.Errorf("read: %w", io.ErrUnexpectedEOF), KindNetwork},
		{"other", context.Background(), errors.New("https://user:pw@host/ went wrong"), KindUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := TransportError(tt.ctx, "p", "m", tt.err)
			if e.Kind != tt.want {
				t.Errorf("kind = %s, want %s", e.Kind, tt.want)
			}
			if strings.Contains(e.Error(), "pw@") {
				t.Errorf("error keeps the URL: %s", e.Error())
			}
		})
	}
}

func TestHTTPErrorKeepsOnlyWords(t *testing.T) {
	e := HTTPError("openai", "gpt-4o", 401, nil, time.Now(), "invalid_request_error", "sk-abc <script>", "Incorrect API key provided: sk-abc***xyz")
	if got, want := e.Error(), "openai/gpt-4o: auth (HTTP 401): invalid_request_error: the provider refused the API key: set a valid one with gatehouse models auth add --provider openai"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
