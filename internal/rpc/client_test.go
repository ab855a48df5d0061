package rpc

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestDialErrors(t *testing.T) {
	status := func(code int, header http.Header) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for k, v := range header {
				w.Header()[k] = v
			}
			w.WriteHeader(code)
		}))
		t.Cleanup(srv.Close)
		return "ws://" + srv.Listener.Addr().String() + "/ws"
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "ws://" + ln.Addr().String() + "/ws"
	ln.Close()

	tests := []struct {
		name  string
		url   string
		token string
		check func(error) bool
	}{
		{"nothing_listening", refused, "t", func(err error) bool {
			var e *NotRunningError
			return errors.As(err, &e) && e.Addr == ln.Addr().String()
		}},
		{"unauthorized", status(http.StatusUnauthorized, nil), "t", func(err error) bool {
			var e *AuthError
			return errors.As(err, &e)
		}},
		{"locked_out", status(http.StatusTooManyRequests, http.Header{"Retry-After": {"120"}}), "t", func(err error) bool {
			var e *LockedOutError
			return errors.As(err, &e) && e.RetryAfter == 2*time.Minute
		}},
		{"no_token", refused, "", func(err error) bool { return errors.Is(err, ErrNoToken) }},
		{"token_in_query", refused + "?token=t", "t", func(err error) bool { return err != nil }},
		{"credentials_in_url", "ws://user:pw@" + ln.Addr().String() + "/ws", "t", func(err error) bool { return err != nil }},
		{"http_scheme", "http://" + ln.Addr().String() + "/ws", "t", func(err error) bool { return err != nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Dial(context.Background(), tt.url, tt.token, nil)
			if c != nil {
				c.Close()
			}
			if !tt.check(err) {
				t.Errorf("Dial error = %v (%T), want the %s error", err, err, tt.name)
			}
		})
	}
}

func TestErrorMessages(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"not_running", &NotRunningError{Addr: "127.0.0.1:18789"}, `no gateway is listening on 127.0.0.1:18789: start it with "gatehouse gateway run"`},
		{"locked_out", &LockedOutError{RetryAfter: 90 * time.Second}, "too many failed authentication attempts from this address: retry after 1m30s"},
		{"going_away", &ClosedError{Code: CloseGoingAway}, "the gateway closed the connection: it is shutting down"},
		{"remote", &Error{Code: CodeUnknownMethod, Message: `unknown method "x"`}, `unknown method "x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}
