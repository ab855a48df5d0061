package discord

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"gatehouse/internal/channel"
	"gatehouse/internal/store"
	"gatehouse/internal/testkit"
)

// syncBuffer is a bytes.Buffer safe for a logger and a test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// newAdapter returns an Adapter for f, with short waits and a client whose
// idle connections close when the test ends.
func newAdapter(t *testing.T, f *testkit.Discord, opts Options) *Adapter {
	t.Helper()
	if opts.Token == "" {
		opts.Token = testToken
	}
	if opts.APIBaseURL == "" {
		opts.APIBaseURL = f.APIURL()
	}
	if opts.HTTPClient == nil {
		tr := &http.Transport{}
		t.Cleanup(tr.CloseIdleConnections)
		opts.HTTPClient = &http.Client{Transport: tr}
	}
	if opts.Logger == nil && os.Getenv("DISCORD_DEBUG") != "" {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	a, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	a.minBackoff, a.maxBackoff = 10*time.Millisecond, 100*time.Millisecond
	a.reidentifyWait = 20 * time.Millisecond
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

// collect returns a sink that passes messages to the returned channel.
func collect() (channel.Sink, <-chan channel.Inbound) {
	got := make(chan channel.Inbound, 100)
	return func(_ context.Context, in channel.Inbound) error { got <- in; return nil }, got
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

func runErr(t *testing.T, a *Adapter) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	err := a.Run(ctx, func(context.Context, channel.Inbound) error { return nil })
	if ctx.Err() != nil {
		t.Fatalf("Run did not stop by itself within 10s (err %v)", err)
	}
	return err
}

var (
	dm      = map[string]any{"guild_id": nil, "member": nil, "channel_id": annDM}
	botUser = map[string]any{"id": botID, "username": "gatehouse", "bot": true}
)

func with(base map[string]any, kv ...any) map[string]any {
	m := map[string]any{}
	for k, v := range base {
		m[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

func TestMessagesArriveAsInbound(t *testing.T) {
	checkGoroutines(t)
	f := newFake(t)
	a := newAdapter(t, f, Options{Account: "home"})
	sink, got := collect()
	stop := runAdapter(t, a, sink)
	f.Wait("READY sent", func(s testkit.DiscordState) bool { return s.Sessions == 1 })

	at := time.Date(2026, 1, 2, 3, 4, 5, 678000000, time.UTC)
	base := channel.Inbound{Channel: "discord", Account: "home", SenderID: annID, SenderName: "Ann", Time: at}
	inbound := func(id, chat, chatType, guild, text string, mentioned bool) channel.Inbound {
		in := base
		in.MessageID, in.ChatID, in.ChatType, in.GuildID, in.Text, in.Mentioned = id, chat, chatType, guild, text, mentioned
		return in
	}
	events := []struct {
		name string
		with map[string]any
		want *channel.Inbound // nil: ignored
	}{
		{"dm_is_direct", with(dm, "id", "1300000000000000010", "content", "hi there"),
			new(inbound("1300000000000000010", annDM, channel.ChatDirect, "", "hi there", false))},
		{"guild_mention_in_text", with(nil, "id", "1300000000000000011", "content", "<@"+botID+"> what's up?"),
			new(inbound("1300000000000000011", guildCh, channel.ChatGroup, guildID, "<@"+botID+"> what's up?", true))},
		{"guild_mention_legacy_nick_form", with(nil, "id", "1300000000000000012", "content", "hey <@!"+botID+">"),
			new(inbound("1300000000000000012", guildCh, channel.ChatGroup, guildID, "hey <@!"+botID+">", true))},
		{"guild_mentions_array", with(nil, "id", "1300000000000000013", "content", "replying", "type", 19, "mentions", []any{botUser}),
			new(inbound("1300000000000000013", guildCh, channel.ChatGroup, guildID, "replying", true))},
		{"own_message_ignored", with(nil, "id", "1300000000000000014", "author", botUser, "content", "my reply"), nil},
		{"other_bot_ignored", with(nil, "id", "1300000000000000015", "author", map[string]any{"id": otherBot, "username": "mee6", "bot": true}, "content", "level up"), nil},
		{"webhook_ignored", with(nil, "id", "1300000000000000016", "webhook_id", "1600000000000000001", "content", "deploy done"), nil},
		{"system_message_ignored", with(nil, "id", "1300000000000000017", "type", 7, "content", ""), nil},
		{"guild_no_mention_uses_nick", with(nil, "id", "1300000000000000018", "content", "just chatting", "member", map[string]any{"nick": "Annie"}),
			func() *channel.Inbound {
				in := inbound("1300000000000000018", guildCh, channel.ChatGroup, guildID, "just chatting", false)
				in.SenderName = "Annie"
				return &in
			}()},
	}
	var want []channel.Inbound
	var last int64
	for _, ev := range events {
		last = f.Emit("MESSAGE_CREATE", messageJSON(t, ev.with))
		if ev.want != nil {
			want = append(want, *ev.want)
		}
	}
	for i, w := range want {
		if in := receive(t, got); in != w {
			t.Errorf("inbound %d (%s) = %+v\nwant %+v", i, w.MessageID, in, w)
		}
	}
	select {
	case in := <-got:
		t.Errorf("unexpected inbound %+v", in)
	default:
	}

	st := f.Wait("a heartbeat with the last sequence number", func(s testkit.DiscordState) bool { return s.LastHeartbeat() == last })
	id := st.Identifies[0]
	if id.Token != testToken || id.Intents != 1<<0|1<<9|1<<12|1<<15 || id.Properties.Browser != "gatehouse" {
		t.Errorf("IDENTIFY = intents %d, browser %q; want intents 37377 (GUILDS, GUILD_MESSAGES, DIRECT_MESSAGES, MESSAGE_CONTENT)", id.Intents, id.Properties.Browser)
	}
	if connected, err := a.Status(); !connected || err != nil {
		t.Errorf("Status = %v, %v; want connected, no error", connected, err)
	}

	// A reply to Ann by her user id goes to her DM channel.
	if err := a.Send(t.Context(), channel.Outbound{Channel: "discord", ChatID: annID, Text: "hello Ann"}); err != nil {
		t.Fatalf("Send to a user id: %v", err)
	}
	if err := a.Typing(t.Context(), annDM); err != nil {
		t.Errorf("Typing = %v", err)
	}
	posts := f.Posts()
	if len(posts) != 1 || posts[0].Channel != annDM || posts[0].Content != "hello Ann" {
		t.Errorf("posts = %+v, want hello Ann in channel %s", posts, annDM)
	}
	if err := stop(); err != nil {
		t.Errorf("Run = %v, want nil on cancel", err)
	}
	if connected, _ := a.Status(); connected {
		t.Errorf("Status after stop: connected")
	}
}

func TestSendSplitsAndMentionsNobody(t *testing.T) {
	checkGoroutines(t)
	f := newFake(t)
	a := newAdapter(t, f, Options{})
	long := "@everyone " + strings.Repeat("lorem ipsum dolor sit amet ", 170) // 4600 characters
	err := a.Send(t.Context(), channel.Outbound{Channel: "discord", ChatID: guildCh, ReplyTo: "1300000000000000001", Text: long})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	posts := f.Posts()
	if len(posts) != 3 {
		t.Fatalf("posted %d messages, want 3", len(posts))
	}
	var texts []string
	for i, p := range posts {
		if n := utf8.RuneCountInString(p.Content); n > MaxMessageLen {
			t.Errorf("part %d has %d characters, want at most %d", i, n, MaxMessageLen)
		}
		if p.Channel != guildCh {
			t.Errorf("part %d went to channel %s, want %s", i, p.Channel, guildCh)
		}
		if !strings.Contains(p.Raw, `"allowed_mentions":{"parse":[],"replied_user":false}`) {
			t.Errorf("part %d body %s: want allowed_mentions with an empty parse list", i, p.Raw)
		}
		if ref := p.MessageReference; (i == 0) != (ref != nil) || (ref != nil && (ref.MessageID != "1300000000000000001" || ref.FailIfNotExists)) {
			t.Errorf("part %d message_reference = %+v, want the reply on the first part only, not failing", i, ref)
		}
		texts = append(texts, p.Content)
	}
	if got, want := strings.Join(strings.Fields(strings.Join(texts, " ")), " "), strings.TrimSpace(long); got != want {
		t.Errorf("parts joined differ from the reply")
	}

	// A user id never seen: Discord answers Unknown Channel, the adapter
	// opens a DM and posts there.
	f.UnknownChannel("1700000000000000077")
	if err := a.Send(t.Context(), channel.Outbound{ChatID: "1700000000000000077", Text: "ping"}); err != nil {
		t.Fatalf("Send to a new user: %v", err)
	}
	posts = f.Posts()
	last := posts[len(posts)-1]
	if last.Channel != "1800000000000000077" || last.Content != "ping" {
		t.Errorf("last post = %+v, want ping in the DM channel 1800000000000000077", last)
	}

	if err := a.Send(t.Context(), channel.Outbound{ChatID: "../../guilds/1", Text: "x"}); err == nil {
		t.Errorf("Send to a chat id that is not a snowflake = nil, want an error")
	}
}

func TestResumeAfterDisconnectLosesNothing(t *testing.T) {
	checkGoroutines(t)
	f := newFake(t)
	a := newAdapter(t, f, Options{})
	sink, got := collect()
	runAdapter(t, a, sink)
	f.Wait("READY sent", func(s testkit.DiscordState) bool { return s.Sessions == 1 })

	seq1 := f.Emit("MESSAGE_CREATE", messageJSON(t, with(dm, "id", "1300000000000000021", "content", "one")))
	if in := receive(t, got); in.Text != "one" {
		t.Fatalf("first inbound = %q, want one", in.Text)
	}
	f.Wait("a heartbeat acknowledging message one", func(s testkit.DiscordState) bool { return s.LastHeartbeat() == seq1 })
	// The connection drops; two messages arrive while the bot is away.
	f.Drop(messageJSON(t, with(dm, "id", "1300000000000000022", "content", "two")),
		messageJSON(t, with(dm, "id", "1300000000000000023", "content", "three")))
	for _, want := range []string{"two", "three"} {
		if in := receive(t, got); in.Text != want {
			t.Errorf("after resume got %q, want %q", in.Text, want)
		}
	}
	f.Emit("MESSAGE_CREATE", messageJSON(t, with(dm, "id", "1300000000000000024", "content", "four")))
	if in := receive(t, got); in.Text != "four" {
		t.Errorf("next inbound = %q, want four (nothing twice)", in.Text)
	}

	st := f.State()
	if len(st.Identifies) != 1 || len(st.Resumes) != 1 {
		t.Fatalf("IDENTIFY %d times, RESUME %d times; want 1 and 1", len(st.Identifies), len(st.Resumes))
	}
	if r := st.Resumes[0]; r.SessionID != "session-1" || r.Seq != seq1 || r.Token != testToken {
		t.Errorf("RESUME = session %q seq %d; want session-1 seq %d", r.SessionID, r.Seq, seq1)
	}
	if want := []string{"/gateway", "/resume"}; !slices.Equal(st.Dials, want) {
		t.Errorf("dialled %q, want %q (resume on resume_gateway_url)", st.Dials, want)
	}
}

func TestSequenceAdvancesOnlyAfterSink(t *testing.T) {
	checkGoroutines(t)
	f := newFake(t)
	a := newAdapter(t, f, Options{})
	var mu sync.Mutex
	failing := true
	calls := 0
	runAdapter(t, a, func(context.Context, channel.Inbound) error {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if failing {
			return errors.New("inbox unavailable")
		}
		return nil
	})
	f.Wait("READY sent", func(s testkit.DiscordState) bool { return s.Sessions == 1 })
	seq := f.Emit("MESSAGE_CREATE", messageJSON(t, with(dm, "id", "1300000000000000031", "content", "keep me")))
	// Heartbeats go on while the sink fails, without the message's seq.
	f.Wait("three heartbeats", func(s testkit.DiscordState) bool { return len(s.Heartbeats) >= 3 })
	st := f.Wait("two more heartbeats", func(s testkit.DiscordState) bool { return len(s.Heartbeats) >= 5 })
	for i, hb := range st.Heartbeats {
		if hb != nil && *hb >= seq {
			t.Errorf("heartbeat %d carried seq %d while the sink had not taken message %d", i, *hb, seq)
		}
	}
	mu.Lock()
	failing = false
	mu.Unlock()
	f.Wait("a heartbeat with the message's seq", func(s testkit.DiscordState) bool { return s.LastHeartbeat() == seq })
	mu.Lock()
	defer mu.Unlock()
	if calls < 2 {
		t.Errorf("sink called %d times, want retries", calls)
	}
}

func TestReconnectAndInvalidSession(t *testing.T) {
	checkGoroutines(t)
	f := newFake(t)
	a := newAdapter(t, f, Options{})
	sink, got := collect()
	runAdapter(t, a, sink)
	f.Wait("READY sent", func(s testkit.DiscordState) bool { return s.Sessions == 1 })

	f.SendOp(opReconnect, nil)
	f.Wait("RESUME after RECONNECT", func(s testkit.DiscordState) bool { return len(s.Resumes) == 1 && s.Connected })
	f.SendOp(opInvalidSession, false)
	f.Wait("a new IDENTIFY after INVALID_SESSION", func(s testkit.DiscordState) bool { return s.Sessions == 2 })
	f.Emit("MESSAGE_CREATE", messageJSON(t, with(dm, "id", "1300000000000000041", "content", "new session")))
	if in := receive(t, got); in.Text != "new session" {
		t.Errorf("inbound = %q, want new session", in.Text)
	}
	st := f.State()
	if len(st.Resumes) != 1 || len(st.Identifies) != 2 {
		t.Errorf("RESUME %d, IDENTIFY %d times; want 1 and 2", len(st.Resumes), len(st.Identifies))
	}
}

func TestDisallowedIntentsSaysWhatToEnable(t *testing.T) {
	checkGoroutines(t)
	f := newFake(t)
	f.RefuseIdentify(4014)
	a := newAdapter(t, f, Options{})
	err := runErr(t, a)
	var ie *IntentsError
	if !errors.As(err, &ie) {
		t.Fatalf("Run = %v, want *IntentsError", err)
	}
	for _, want := range []string{"discord", "4014", "Message Content", "Developer Portal", "Privileged Gateway Intents"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if _, last := a.Status(); !errors.As(last, &ie) {
		t.Errorf("Status error = %v, want the *IntentsError", last)
	}
	if n := len(f.State().Identifies); n != 1 {
		t.Errorf("IDENTIFY sent %d times, want 1: 4014 must stop the channel", n)
	}
}

func TestRefusedTokenSaysWhatToDoWithoutToken(t *testing.T) {
	tests := []struct {
		name    string
		gateway bool // skip GET /gateway/bot, so the gateway refuses it
		source  string
	}{
		{"gateway_close_4004", true, "4004"},
		{"http_401", false, "401"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkGoroutines(t)
			f := testkit.StartDiscord(t, "a-different-token")
			var logs syncBuffer
			log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			opts := Options{Logger: log}
			if tt.gateway {
				opts.GatewayURL = f.GatewayURL()
			}
			a := newAdapter(t, f, opts)
			err := runErr(t, a)
			var auth *AuthError
			if !errors.As(err, &auth) {
				t.Fatalf("Run = %v, want *AuthError", err)
			}
			for _, want := range []string{"discord", tt.source, "token was refused", "Developer Portal", "gatehouse channels add --channel discord"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			sendErr := a.Send(t.Context(), channel.Outbound{ChatID: guildCh, Text: "x"})
			if !errors.As(sendErr, &auth) {
				t.Errorf("Send = %v, want *AuthError", sendErr)
			}
			_, statusErr := a.Status()
			for name, text := range map[string]string{"Run": err.Error(), "Send": sendErr.Error(), "Status": statusErr.Error(), "logs": logs.String()} {
				if strings.Contains(text, testToken) || strings.Contains(text, "GhJkLm") {
					t.Errorf("%s text contains the token: %s", name, text)
				}
			}
		})
	}
}

func TestRateLimitReturnsRetryAfter(t *testing.T) {
	tests := []struct {
		name   string
		header http.Header
		body   string
		want   time.Duration
	}{
		{"json_body", http.Header{"Retry-After": {"2"}}, string(readTestdata(t, "rate_limited.json")), 1500 * time.Millisecond},
		{"reset_after_header", http.Header{"X-Ratelimit-Reset-After": {"0.25"}}, `{"message": "You are being rate limited.", "global": false}`, 250 * time.Millisecond},
		{"retry_after_header", http.Header{"Retry-After": {"3"}}, `not json`, 3 * time.Second},
		{"nothing_says", nil, ``, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.RateLimit(tt.header, tt.body)
			a := newAdapter(t, f, Options{})
			err := a.Send(t.Context(), channel.Outbound{ChatID: guildCh, Text: "x"})
			var ra *channel.RetryAfterError
			if !errors.As(err, &ra) || ra.After != tt.want {
				t.Fatalf("Send = %v, want *RetryAfterError{%s}", err, tt.want)
			}
			if err := a.Send(t.Context(), channel.Outbound{ChatID: guildCh, Text: "x"}); err != nil {
				t.Errorf("Send after the wait = %v", err)
			}
		})
	}
}

func TestOutboxWaitsAsDiscordAsks(t *testing.T) {
	f := newFake(t)
	f.RateLimit(nil, string(readTestdata(t, "rate_limited.json")))
	a := newAdapter(t, f, Options{})
	db, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	q := channel.NewQueue(db.SQL(), slog.New(slog.DiscardHandler))
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	q.Clock = clock
	if err := q.Enqueue(t.Context(), channel.Outbound{Channel: "discord", ChatID: guildCh, Text: "queued"}); err != nil {
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
	if len(at) != 2 || at[1].Sub(at[0]) < 1500*time.Millisecond {
		t.Errorf("attempts at %v, want two, 1.5s or more apart", at)
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

func TestNewRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{"no_token", Options{}},
		{"bot_prefix", Options{Token: "Bot " + testToken}},
		{"token_with_newline", Options{Token: testToken + "\n"}},
		{"api_not_http", Options{Token: testToken, APIBaseURL: "ftp://example.test"}},
		{"api_clear_text_remote", Options{Token: testToken, APIBaseURL: "http://example.test/api/v10"}},
		{"gateway_clear_text_remote", Options{Token: testToken, GatewayURL: "ws://example.test"}},
		{"gateway_not_ws", Options{Token: testToken, GatewayURL: "https://gateway.discord.gg"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.opts)
			if err == nil {
				t.Fatal("New = nil error, want one")
			}
			if strings.Contains(err.Error(), "GhJkLm") {
				t.Errorf("error %q echoes the token", err)
			}
		})
	}
	if _, err := New(Options{Token: testToken, APIBaseURL: "http://127.0.0.1:1/api/v10", GatewayURL: "ws://[::1]:2/"}); err != nil {
		t.Errorf("New with loopback http and ws = %v, want nil", err)
	}
}

// TestDecodeTestdata keeps the fake's payloads readable by the decoder.
func TestDecodeTestdata(t *testing.T) {
	var r ready
	if err := json.Unmarshal(testkit.DiscordFile(t, "ready.json"), &r); err != nil || r.User.ID != botID || r.SessionID == "" {
		t.Errorf("ready.json = %+v, %v", r, err)
	}
	m, err := decodeMessage(messageJSON(t, nil))
	if err != nil || m.Author.ID != annID || m.GuildID != guildID {
		t.Errorf("message_create.json = %+v, %v", m, err)
	}
}
