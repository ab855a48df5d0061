package telegram

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"gatehouse/internal/channel"
	"gatehouse/internal/store"
	"gatehouse/internal/testkit"
)

const testToken = "110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"

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

func newAdapter(t *testing.T, opts Options) *Adapter {
	t.Helper()
	if opts.Token == "" {
		opts.Token = testToken
	}
	if opts.IdleWait == 0 {
		opts.IdleWait = 20 * time.Millisecond
	}
	a, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
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

func TestPeerMessageInAndReplyOut(t *testing.T) {
	p := testkit.StartTelegram(t)
	a := newAdapter(t, Options{APIBaseURL: p.URL})
	got := make(chan channel.Inbound, 10)
	stop := runAdapter(t, a, func(_ context.Context, in channel.Inbound) error { got <- in; return nil })

	ann := testkit.TelegramUser{ID: 77, Name: "Ann"}
	p.Send(t, testToken, ann, "hi @testnamebot, how are you?")
	in := receive(t, got)
	want := channel.Inbound{
		Channel: "telegram", MessageID: in.MessageID, SenderID: "77", SenderName: "Ann", ChatID: "77",
		ChatType: channel.ChatDirect, Text: "hi @testnamebot, how are you?", Mentioned: true, Time: in.Time,
	}
	if in != want || in.MessageID == "" || in.Time.IsZero() {
		t.Errorf("inbound = %+v, want %+v", in, want)
	}
	if connected, err := a.Status(); !connected || err != nil {
		t.Errorf("Status = %v, %v; want connected", connected, err)
	}
	// The peer answers sendChatAction with HTTP 500: typing is best effort.
	if err := a.Typing(t.Context(), "77"); err != nil {
		t.Errorf("Typing = %v, want nil", err)
	}
	if err := a.Send(t.Context(), channel.Outbound{Channel: "telegram", ChatID: "77", Text: "fine, *thanks*"}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got := p.Replies(t, testToken, 77); len(got) != 1 || got[0] != "fine, *thanks*" {
		t.Errorf("user got %q, want the reply once, verbatim", got)
	}
	if err := stop(); err != nil {
		t.Errorf("Run = %v, want nil on cancel", err)
	}
}

func TestPeerLongReplyIsSplit(t *testing.T) {
	p := testkit.StartTelegram(t)
	a := newAdapter(t, Options{APIBaseURL: p.URL})
	long := strings.Repeat("lorem ipsum dolor sit amet ", 400) // 10800 characters
	if err := a.Send(t.Context(), channel.Outbound{Channel: "telegram", ChatID: "5", Text: long}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	parts := p.Replies(t, testToken, 5)
	if len(parts) != 3 {
		t.Fatalf("user got %d messages, want 3", len(parts))
	}
	for i, part := range parts {
		if n := utf8.RuneCountInString(part); n > MaxMessageLen {
			t.Errorf("part %d has %d characters, want at most %d", i, n, MaxMessageLen)
		}
	}
	if got, want := strings.Join(strings.Fields(strings.Join(parts, " ")), " "), strings.TrimSpace(long); got != want {
		t.Errorf("parts joined differ from the reply")
	}
}

func TestPeerSinkFailureRetriesUpdate(t *testing.T) {
	p := testkit.StartTelegram(t)
	offsets := &recordingOffsets{}
	a := newAdapter(t, Options{APIBaseURL: p.URL, Offsets: offsets})
	var calls []string
	var savedBefore []int64
	got := make(chan channel.Inbound, 1)
	runAdapter(t, a, func(_ context.Context, in channel.Inbound) error {
		calls = append(calls, in.MessageID)
		if len(calls) < 3 {
			savedBefore = append(savedBefore, offsets.saved()...)
			return errors.New("inbox unavailable")
		}
		got <- in
		return nil
	})
	p.Send(t, testToken, testkit.TelegramUser{ID: 8, Name: "Bo"}, "hello")
	in := receive(t, got)
	if len(calls) != 3 || calls[0] != in.MessageID || calls[1] != in.MessageID {
		t.Errorf("sink calls = %q, want the same update three times", calls)
	}
	if len(savedBefore) != 0 {
		t.Errorf("offset saved %v before the sink succeeded", savedBefore)
	}
}

// recordingOffsets is an OffsetStore that remembers what was saved.
type recordingOffsets struct {
	mu   sync.Mutex
	offs []int64
}

func (r *recordingOffsets) LoadOffset(context.Context, string, string) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.offs) == 0 {
		return 0, nil
	}
	return r.offs[len(r.offs)-1], nil
}

func (r *recordingOffsets) SaveOffset(_ context.Context, _, _ string, off int64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.offs = append(r.offs, off)
	return nil
}

func (r *recordingOffsets) saved() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int64(nil), r.offs...)
}

// fakeBotAPI serves testdata/getMe.json and testdata/getUpdates.json (the
// Bot API's documented shapes) and records the offsets asked for. Like
// Telegram after a lost acknowledgement, it delivers the same update on
// every poll.
type fakeBotAPI struct {
	mu      sync.Mutex
	offsets []int64
	polled  chan struct{}
}

func (f *fakeBotAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	method := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
	switch method {
	case "getMe", "getUpdates":
	default:
		http.Error(w, `{"ok":false,"error_code":404,"description":"Not Found"}`, http.StatusNotFound)
		return
	}
	if method == "getUpdates" {
		var p getUpdatesParams
		json.NewDecoder(r.Body).Decode(&p)
		f.mu.Lock()
		f.offsets = append(f.offsets, p.Offset)
		f.mu.Unlock()
		select {
		case f.polled <- struct{}{}:
		default:
		}
	}
	b, err := os.ReadFile(filepath.Join("testdata", method+".json"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

func openQueue(t *testing.T, path string) (*channel.Queue, *store.DB) {
	t.Helper()
	db, err := store.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return channel.NewQueue(db.SQL(), slog.New(slog.DiscardHandler)), db
}

func TestRedeliveredUpdateIsNotFresh(t *testing.T) {
	api := &fakeBotAPI{polled: make(chan struct{}, 1)}
	srv := httptest.NewServer(api)
	defer srv.Close()
	q, _ := openQueue(t, filepath.Join(t.TempDir(), "gatehouse.db"))

	// run delivers to the inbox until the server was polled again after
	// the first message, and returns what Receive said each time.
	run := func(offsets OffsetStore) []bool {
		a := newAdapter(t, Options{APIBaseURL: srv.URL, Offsets: offsets})
		var mu sync.Mutex
		var fresh []bool
		received := make(chan struct{}, 1)
		stop := runAdapter(t, a, func(ctx context.Context, in channel.Inbound) error {
			f, err := q.Receive(ctx, in)
			mu.Lock()
			fresh = append(fresh, f)
			mu.Unlock()
			received <- struct{}{}
			return err
		})
		<-received
		for range 3 { // three more polls, each answered with the same update
			<-api.polled
		}
		stop()
		mu.Lock()
		defer mu.Unlock()
		return fresh
	}
	if got := run(&recordingOffsets{}); len(got) != 1 || !got[0] {
		t.Errorf("first run: Receive fresh = %v, want [true] (a re-sent update below the offset is skipped)", got)
	}
	api.mu.Lock()
	if last := api.offsets[len(api.offsets)-1]; last != 868417002 {
		t.Errorf("offset asked for = %d, want 868417002 (past the update)", last)
	}
	api.mu.Unlock()
	// A restart that lost the offset gets the update again: not fresh.
	if got := run(&recordingOffsets{}); len(got) != 1 || got[0] {
		t.Errorf("after restart: Receive fresh = %v, want [false]", got)
	}
	pending, err := q.Pending(t.Context())
	if err != nil || len(pending) != 1 || pending[0].Text != "/start hello" || pending[0].ChatType != channel.ChatGroup || !pending[0].Mentioned {
		t.Errorf("Pending = %+v, %v; want the one group message, mentioned", pending, err)
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	var mu sync.Mutex
	var calls int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if n == 1 {
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, `{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 1","parameters":{"retry_after":1}}`)
			return
		}
		io.WriteString(w, `{"ok":true,"result":{"message_id":1,"date":1,"chat":{"id":5,"type":"private"},"text":"x"}}`)
	}))
	defer srv.Close()
	a := newAdapter(t, Options{APIBaseURL: srv.URL})

	err := a.Send(t.Context(), channel.Outbound{Channel: "telegram", ChatID: "5", Text: "x"})
	var ra *channel.RetryAfterError
	if !errors.As(err, &ra) || ra.After != time.Second {
		t.Fatalf("Send = %v, want *RetryAfterError{1s}", err)
	}

	// The outbox sender waits as asked, on its (fake) clock.
	mu.Lock()
	calls = 0
	mu.Unlock()
	q, db := openQueue(t, filepath.Join(t.TempDir(), "gatehouse.db"))
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	q.Clock = clock
	if err := q.Enqueue(t.Context(), channel.Outbound{Channel: "telegram", ChatID: "5", Text: "x"}); err != nil {
		t.Fatal(err)
	}
	var at []time.Time
	ctx, cancel := context.WithCancel(t.Context())
	sent := make(chan struct{})
	done := make(chan error)
	go func() {
		done <- q.RunSender(ctx, func(ctx context.Context, out channel.Outbound) error {
			at = append(at, clock.Now())
			err := a.Send(ctx, out)
			if err == nil {
				close(sent)
			}
			return err
		})
	}()
	select {
	case <-sent:
	case <-time.After(10 * time.Second):
		t.Fatal("never sent")
	}
	cancel()
	<-done
	if len(at) != 2 || at[1].Sub(at[0]) < time.Second {
		t.Errorf("attempts at %v, want two, 1s or more apart", at)
	}
	var status string
	db.SQL().QueryRow(`SELECT status FROM outbox`).Scan(&status)
	if status != "sent" {
		t.Errorf("outbox status = %q, want sent", status)
	}
}

// fakeClock advances by itself: After(d) moves the time on by d and fires
// at once.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch
}

func TestWrongTokenNamesChannelHidesToken(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"ok":false,"error_code":401,"description":"Unauthorized"}`)
	}))
	defer srv.Close()
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a := newAdapter(t, Options{APIBaseURL: srv.URL, Logger: log})
	err := a.Run(t.Context(), func(context.Context, channel.Inbound) error { return nil })
	var auth *AuthError
	if !errors.As(err, &auth) {
		t.Fatalf("Run = %v, want *AuthError", err)
	}
	for _, want := range []string{"telegram", "401", "BotFather", "gatehouse channels add --channel telegram"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if err := a.Send(t.Context(), channel.Outbound{ChatID: "5", Text: "x"}); !errors.As(err, &auth) {
		t.Errorf("Send = %v, want *AuthError", err)
	}

	// A transport error's text holds the URL, and so the token: rebuilt.
	authErr := err
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	b := newAdapter(t, Options{APIBaseURL: closed, Logger: log})
	sendErr := b.Send(t.Context(), channel.Outbound{ChatID: "5", Text: "x"})
	var te *TransportError
	if !errors.As(sendErr, &te) {
		t.Errorf("Send to a closed port = %v, want *TransportError", sendErr)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
	defer cancel()
	b.Run(ctx, func(context.Context, channel.Inbound) error { return nil }) // logs its retries
	_, runErr := b.Status()
	for name, text := range map[string]string{"Run": authErr.Error(), "Send": sendErr.Error(), "Status": errString(runErr), "logs": logs.String()} {
		if strings.Contains(text, testToken) || strings.Contains(text, "AAHdqTcv") {
			t.Errorf("%s text contains the token: %s", name, text)
		}
	}
	if runErr == nil {
		t.Errorf("Status after failing polls: no error")
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
	}{
		{"no_token", Options{}},
		{"token_breaks_url", Options{Token: "123:abc/../x"}},
		{"base_not_http", Options{Token: testToken, APIBaseURL: "ftp://example.test"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.opts)
			if err == nil {
				t.Fatal("New = nil error, want one")
			}
			if strings.Contains(err.Error(), "abc/../x") {
				t.Errorf("error %q echoes the token", err)
			}
		})
	}
}
