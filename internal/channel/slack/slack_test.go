package slack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack/slacktest"

	"gatehouse/internal/channel"
	"gatehouse/internal/testkit"
)

const (
	testBotToken = "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy"
	testAppToken = "xapp-1-A01K58AR4RF-1630123456789-0a1b2c3d4e5f60718293a4b5c6d7e8f9"
	// testTicket is the secret part of the WebSocket URL
	// apps.connections.open answers with.
	testTicket = testkit.SlackTicket
)

// startSlack starts testkit's fake Slack (the Web API, which is
// slacktest's, and a Socket Mode endpoint) accepting testBotToken and
// testAppToken. Binders given here take precedence over its handlers.
func startSlack(t *testing.T, binders ...slacktest.Binder) *testkit.Slack {
	t.Helper()
	return testkit.StartSlack(t, testBotToken, testAppToken, binders...)
}

// envelopeID is a testdata envelope's id.
func envelopeID(t *testing.T, name string) string {
	t.Helper()
	return testkit.SlackEnvelopeID(t, name)
}

// answer is a Binder that serves path with a fixed status, headers and body.
func answer(path string, status int, body string, header ...string) slacktest.Binder {
	return func(c slacktest.Customize) {
		c.Handle(path, func(w http.ResponseWriter, r *http.Request) {
			for i := 0; i+1 < len(header); i += 2 {
				w.Header().Set(header[i], header[i+1])
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			io.WriteString(w, body)
		})
	}
}

func newAdapter(t *testing.T, opts Options) *Adapter {
	t.Helper()
	if opts.BotToken == "" {
		opts.BotToken = testBotToken
	}
	if opts.AppToken == "" {
		opts.AppToken = testAppToken
	}
	a, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

// runAdapter runs a.Run(sink) until the test ends and returns a function
// that stops it and returns Run's result.
func runAdapter(t *testing.T, a *Adapter, sink channel.Sink) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, sink) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() { cancel(); err = <-done })
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

func receive(t *testing.T, ch <-chan channel.Inbound) channel.Inbound {
	t.Helper()
	select {
	case in := <-ch:
		return in
	case <-time.After(10 * time.Second):
		t.Fatal("no inbound message within 10s")
		return channel.Inbound{}
	}
}

// noAdapterGoroutines fails if a goroutine of this package still runs.
func noAdapterGoroutines(t *testing.T) {
	t.Helper()
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	if bytes.Contains(buf, []byte("internal/channel/slack.(*Adapter)")) {
		t.Errorf("adapter goroutines left after Run returned:\n%s", buf)
	}
}

func TestDirectMessageAndMentionArriveThenAck(t *testing.T) {
	f := startSlack(t)
	a := newAdapter(t, Options{APIBaseURL: f.APIURL(), Account: "work"})
	got := make(chan channel.Inbound, 10)
	var recorded atomic.Int32 // messages sink returned nil for
	stop := runAdapter(t, a, func(_ context.Context, in channel.Inbound) error {
		got <- in
		recorded.Add(1)
		return nil
	})
	c := f.Accept(t)

	c.Send(t, "events_api_im.json")
	in := receive(t, got)
	want := channel.Inbound{
		Channel: "slack", Account: "work", MessageID: "D01K7N2L1RP:1611862880.000200", SenderID: "U061F7AUR",
		ChatID: "D01K7N2L1RP", ChatType: channel.ChatDirect, GuildID: "T024BE7LD",
		Text: "hi! is 2 < 3 && 4 > 1?", Time: time.Unix(1611862880, 200000).UTC(),
	}
	if in != want {
		t.Errorf("im message = %+v, want %+v", in, want)
	}
	if id, n := c.Ack(t), recorded.Load(); id != envelopeID(t, "events_api_im.json") || n != 1 {
		t.Errorf("ack %q after %d recorded, want %q after 1", id, n, envelopeID(t, "events_api_im.json"))
	}

	c.Send(t, "events_api_app_mention.json")
	in = receive(t, got)
	want = channel.Inbound{
		Channel: "slack", Account: "work", MessageID: "C0LAN2Q65:1611862900.000300", SenderID: "U061F7AUR",
		ChatID: "C0LAN2Q65", ChatType: channel.ChatGroup, GuildID: "T024BE7LD", ThreadID: "1611862850.000100",
		Text: "<@W012A3CDE> what is on today?", Mentioned: true, Time: time.Unix(1611862900, 300000).UTC(),
	}
	if in != want {
		t.Errorf("app_mention = %+v, want %+v", in, want)
	}
	c.Ack(t)
	// Slack sends the same message as a message event too: same dedup key,
	// mentioned through <@BOTID>.
	c.Send(t, "events_api_channel_message.json")
	twin := receive(t, got)
	if twin.MessageID != in.MessageID || !twin.Mentioned || twin.ChatType != channel.ChatGroup {
		t.Errorf("message twin of the app_mention = %+v, want MessageID %q, mentioned, group", twin, in.MessageID)
	}
	c.Ack(t)

	if connected, err := a.Status(); !connected || err != nil {
		t.Errorf("Status = %v, %v; want connected, no error", connected, err)
	}
	if err := stop(); err != nil {
		t.Errorf("Run = %v, want nil on cancel", err)
	}
	if connected, _ := a.Status(); connected {
		t.Error("Status after Run returned: connected")
	}
	noAdapterGoroutines(t)
}

func TestFailedSinkIsNotAcked(t *testing.T) {
	f := startSlack(t)
	a := newAdapter(t, Options{APIBaseURL: f.APIURL()})
	var calls atomic.Int32
	runAdapter(t, a, func(_ context.Context, in channel.Inbound) error {
		if calls.Add(1) == 1 {
			return errors.New("inbox unavailable")
		}
		return nil
	})
	c := f.Accept(t)
	c.Send(t, "events_api_im.json")          // sink fails: no ack
	c.Send(t, "events_api_app_mention.json") // sink succeeds
	// Envelopes are handled and acknowledged in order on one connection,
	// so an acknowledgement of the first would come before the second's.
	if id := c.Ack(t); id != envelopeID(t, "events_api_app_mention.json") {
		t.Fatalf("first ack = %q, want only the app_mention's (%q): the failed one must not be acked", id, envelopeID(t, "events_api_app_mention.json"))
	}
	// Slack delivers the unacknowledged envelope again: now it is recorded.
	c.Send(t, "events_api_im.json")
	if id := c.Ack(t); id != envelopeID(t, "events_api_im.json") {
		t.Errorf("ack of the redelivery = %q, want %q", id, envelopeID(t, "events_api_im.json"))
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("sink called %d times, want 3", n)
	}
}

func TestBotOwnAndEditedMessagesIgnored(t *testing.T) {
	f := startSlack(t)
	a := newAdapter(t, Options{APIBaseURL: f.APIURL()})
	got := make(chan channel.Inbound, 10)
	runAdapter(t, a, func(_ context.Context, in channel.Inbound) error { got <- in; return nil })
	c := f.Accept(t)
	ignored := []string{"events_api_bot_message.json", "events_api_own_message.json", "events_api_message_changed.json"}
	for _, name := range ignored {
		c.Send(t, name)
	}
	c.Send(t, "events_api_im.json")
	if in := receive(t, got); in.MessageID != "D01K7N2L1RP:1611862880.000200" {
		t.Errorf("sink got %+v, want only the im message", in)
	}
	// Ignored envelopes are acknowledged too, or Slack would resend them.
	for _, name := range append(ignored, "events_api_im.json") {
		if id := c.Ack(t); id != envelopeID(t, name) {
			t.Errorf("ack = %q, want %s's %q", id, name, envelopeID(t, name))
		}
	}
	select {
	case in := <-got:
		t.Errorf("sink got %+v, want nothing more", in)
	default:
	}
}

func TestDisconnectReconnects(t *testing.T) {
	f := startSlack(t)
	a := newAdapter(t, Options{APIBaseURL: f.APIURL()})
	got := make(chan channel.Inbound, 10)
	runAdapter(t, a, func(_ context.Context, in channel.Inbound) error { got <- in; return nil })
	first := f.Accept(t)
	first.Send(t, "disconnect.json")
	second := f.Accept(t)
	if n := f.Opens(); n != 2 {
		t.Errorf("apps.connections.open called %d times, want 2", n)
	}
	second.Send(t, "events_api_im.json")
	if in := receive(t, got); in.ChatID != "D01K7N2L1RP" {
		t.Errorf("after reconnect got %+v", in)
	}
	if id := second.Ack(t); id != envelopeID(t, "events_api_im.json") {
		t.Errorf("ack on the new connection = %q", id)
	}
}

func TestUnansweredPingReconnects(t *testing.T) {
	f := startSlack(t)
	f.Stall()
	a := newAdapter(t, Options{APIBaseURL: f.APIURL(), PingInterval: 200 * time.Millisecond})
	got := make(chan channel.Inbound, 10)
	runAdapter(t, a, func(_ context.Context, in channel.Inbound) error { got <- in; return nil })
	f.Accept(t) // stalls
	c := f.Accept(t)
	c.Send(t, "events_api_im.json")
	receive(t, got)
	if id := c.Ack(t); id != envelopeID(t, "events_api_im.json") {
		t.Errorf("ack on the new connection = %q", id)
	}
}

func TestSendThreadEscapedAndSplit(t *testing.T) {
	f := startSlack(t)
	a := newAdapter(t, Options{APIBaseURL: f.APIURL()})

	err := a.Send(t.Context(), channel.Outbound{Channel: "slack", ChatID: "C0LAN2Q65", ThreadID: "1611862850.000100", Text: "done <!channel> & *bold*"})
	if err != nil {
		t.Fatalf("Send in thread: %v", err)
	}
	if err := a.Send(t.Context(), channel.Outbound{Channel: "slack", ChatID: "D01K7N2L1RP", Text: "top level"}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	posts := f.Posts()
	if len(posts) != 2 {
		t.Fatalf("chat.postMessage called %d times, want 2", len(posts))
	}
	p := posts[0]
	if got, want := p.Form.Get("thread_ts"), "1611862850.000100"; got != want {
		t.Errorf("thread_ts = %q, want %q", got, want)
	}
	if got, want := p.Form.Get("text"), "done &lt;!channel&gt; &amp; *bold*"; got != want {
		t.Errorf("text = %q, want %q (escaped: no @channel ping)", got, want)
	}
	// The fake refuses a chat.postMessage without the bot token.
	if p.Form.Get("channel") != "C0LAN2Q65" || p.Form.Get("unfurl_links") != "false" {
		t.Errorf("post = %v; want channel C0LAN2Q65, no unfurling", p.Form)
	}
	if _, ok := posts[1].Form["thread_ts"]; ok {
		t.Errorf("top-level reply has thread_ts %q", posts[1].Form.Get("thread_ts"))
	}

	long := strings.Repeat("lorem ipsum dolor sit amet ", 400) // 10800 characters
	if err := a.Send(t.Context(), channel.Outbound{Channel: "slack", ChatID: "D01K7N2L1RP", ThreadID: "1.2", Text: long}); err != nil {
		t.Fatalf("Send long: %v", err)
	}
	parts := f.Posts()[2:]
	if len(parts) != 3 {
		t.Fatalf("long reply sent as %d messages, want 3", len(parts))
	}
	var texts []string
	for i, p := range parts {
		text := p.Form.Get("text")
		if n := utf8.RuneCountInString(text); n > MaxMessageLen {
			t.Errorf("part %d has %d characters, want at most %d", i, n, MaxMessageLen)
		}
		if p.Form.Get("thread_ts") != "1.2" {
			t.Errorf("part %d left the thread", i)
		}
		texts = append(texts, text)
	}
	if got, want := strings.Join(strings.Fields(strings.Join(texts, " ")), " "), strings.TrimSpace(long); got != want {
		t.Error("parts joined differ from the reply")
	}
}

func TestRateLimitIsRetryAfter(t *testing.T) {
	f := startSlack(t, answer("/chat.postMessage", http.StatusTooManyRequests, `{"ok":false,"error":"ratelimited"}`, "Retry-After", "7"))
	a := newAdapter(t, Options{APIBaseURL: f.APIURL()})
	err := a.Send(t.Context(), channel.Outbound{Channel: "slack", ChatID: "C0LAN2Q65", Text: "x"})
	var ra *channel.RetryAfterError
	if !errors.As(err, &ra) || ra.After != 7*time.Second {
		t.Fatalf("Send = %v, want *channel.RetryAfterError{7s}", err)
	}
}

func TestSendErrorsSayWhatToDo(t *testing.T) {
	tests := []struct {
		name, body string
		want       string
	}{
		{"not_in_channel", `{"ok":false,"error":"not_in_channel"}`, "invite the app"},
		{"missing_scope", `{"ok":false,"error":"missing_scope","needed":"chat:write","provided":"channels:history"}`, "missing_scope chat:write: add the scope"},
		{"odd_code", `{"ok":false,"error":"<script>"}`, "unreadable error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startSlack(t, answer("/chat.postMessage", http.StatusOK, tt.body))
			a := newAdapter(t, Options{APIBaseURL: f.APIURL()})
			err := a.Send(t.Context(), channel.Outbound{Channel: "slack", ChatID: "C0LAN2Q65", Text: "x"})
			var apiErr *APIError
			if !errors.As(err, &apiErr) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Send = %v, want an *APIError containing %q", err, tt.want)
			}
		})
	}
}

func TestWrongTokensNameChannelHideTokens(t *testing.T) {
	tests := []struct {
		name  string
		bind  slacktest.Binder
		token string // which token AuthError names
		want  []string
	}{
		{"bot_invalid_auth", answer("/auth.test", http.StatusOK, `{"ok":false,"error":"invalid_auth"}`), "bot",
			[]string{"slack: the bot token was refused (invalid_auth): reinstall the app and run gatehouse channels add --channel slack --token xoxb-… --app-token xapp-…"}},
		{"bot_not_authed", answer("/auth.test", http.StatusOK, `{"ok":false,"error":"not_authed"}`), "bot",
			[]string{"bot token was refused (not_authed)"}},
		{"app_invalid_auth", answer("/apps.connections.open", http.StatusOK, `{"ok":false,"error":"invalid_auth"}`), "app",
			[]string{"slack: the app token was refused (invalid_auth)", "connections:write", "gatehouse channels add --channel slack"}},
		{"app_is_a_bot_token", answer("/apps.connections.open", http.StatusOK, `{"ok":false,"error":"not_allowed_token_type"}`), "app",
			[]string{"app token was refused (not_allowed_token_type)", "app-level token"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startSlack(t, tt.bind)
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			a := newAdapter(t, Options{APIBaseURL: f.APIURL(), Logger: log})
			err := a.Run(t.Context(), func(context.Context, channel.Inbound) error { return nil })
			var auth *AuthError
			if !errors.As(err, &auth) || auth.Token != tt.token {
				t.Fatalf("Run = %v, want an *AuthError for the %s token", err, tt.token)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			_, statusErr := a.Status()
			assertNoSecrets(t, map[string]string{"Run": err.Error(), "Status": errString(statusErr), "logs": logs.String()})
		})
	}
}

func TestTransportErrorsHideTicketAndTokens(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	f := startSlack(t, func(c slacktest.Customize) {
		c.Handle("/apps.connections.open", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `{"ok":true,"url":"ws://%s/link/?%s"}`, closed, testTicket)
		})
	})
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a := newAdapter(t, Options{APIBaseURL: f.APIURL(), Logger: log})
	stop := runAdapter(t, a, func(context.Context, channel.Inbound) error { return nil })
	deadline := time.Now().Add(10 * time.Second)
	var statusErr error
	for statusErr == nil && time.Now().Before(deadline) {
		_, statusErr = a.Status()
		time.Sleep(10 * time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Errorf("Run = %v, want nil on cancel", err)
	}
	var te *TransportError
	if !errors.As(statusErr, &te) {
		t.Fatalf("Status error = %v, want a *TransportError", statusErr)
	}

	b := newAdapter(t, Options{APIBaseURL: "http://" + closed + "/api/"})
	sendErr := b.Send(t.Context(), channel.Outbound{ChatID: "C1", Text: "x"})
	if !errors.As(sendErr, &te) {
		t.Errorf("Send to a closed port = %v, want *TransportError", sendErr)
	}
	assertNoSecrets(t, map[string]string{"Status": statusErr.Error(), "Send": sendErr.Error(), "logs": logs.String()})
}

// syncBuffer is a bytes.Buffer safe for a logger and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func assertNoSecrets(t *testing.T, texts map[string]string) {
	t.Helper()
	for name, text := range texts {
		for _, secret := range []string{testBotToken, testAppToken, "pdFZKVeTuE8sk7oOcBrzbqgy", "0a1b2c3d4e5f6071", "secret-ticket"} {
			if strings.Contains(text, secret) {
				t.Errorf("%s text contains a secret (%s…): %s", name, secret[:8], text)
			}
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestNewRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"no_bot_token", Options{AppToken: testAppToken}, "slack: no bot token"},
		{"no_app_token", Options{BotToken: testBotToken}, "slack: no app token"},
		{"tokens_swapped", Options{BotToken: testAppToken, AppToken: testBotToken}, "bot token does not start with xoxb-"},
		{"user_token", Options{BotToken: "xoxp-1-secretuser", AppToken: testAppToken}, "bot token does not start with xoxb-"},
		{"token_with_newline", Options{BotToken: "xoxb-1\nsecret", AppToken: testAppToken}, "bot token holds spaces"},
		{"base_not_http", Options{BotToken: testBotToken, AppToken: testAppToken, APIBaseURL: "ftp://slack.test/api/"}, "apiBaseUrl"},
		{"base_with_password", Options{BotToken: testBotToken, AppToken: testAppToken, APIBaseURL: "https://u:hunter2@slack.test/api/"}, "apiBaseUrl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want an error containing %q", err, tt.want)
			}
			assertNoSecrets(t, map[string]string{"New": err.Error()})
			for _, s := range []string{"secretuser", "secret", "hunter2"} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q echoes a secret", err)
				}
			}
		})
	}
}
