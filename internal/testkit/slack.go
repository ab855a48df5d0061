package testkit

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/slack-go/slack/slacktest"
)

// The fake's world, as in testdata/slack.
const (
	SlackBotUserID = "W012A3CDE"   // the bot's user id, as auth.test names it
	SlackBotID     = "B01K58B2C3D" // the bot's bot id
	SlackTeamID    = "T024BE7LD"
	SlackAppID     = "A01K58AR4RF"
	// SlackTicket is the secret part of the WebSocket URL
	// apps.connections.open answers with.
	SlackTicket = "ticket=4d2f8e91-secret-ticket-7a6b"
)

//go:embed testdata/slack/*.json
var slackFS embed.FS

// Slack is Slack's Web API and a Socket Mode endpoint on 127.0.0.1, as
// Slack documents them (api.slack.com/apis/socket-mode, api.slack.com/web):
// auth.test and chat.postMessage with the bot token, and
// apps.connections.open with the app token, answering with a ws:// URL
// with a ticket; the WebSocket says hello (testdata/slack/hello.json) and
// reads acknowledgements ({"envelope_id": …}). The Web API is slack-go's
// slacktest server, so other methods answer as slacktest does.
type Slack struct {
	t                  testing.TB
	botToken, appToken string
	api                *slacktest.Server
	sock               *httptest.Server
	opens              atomic.Int32 // apps.connections.open calls
	stall              atomic.Bool
	done               chan struct{} // closed when the test ends
	handlers           sync.WaitGroup

	mu       sync.Mutex // guards the fields below
	changed  chan struct{}
	closed   bool // the test ended
	conns    []*SlackConn
	accepted int         // conns handed out by Accept
	live     *SlackConn  // the newest connection still open
	posts    []SlackPost // chat.postMessage calls with the bot token
	nextMsg  int
}

// SlackConn is one accepted Socket Mode connection.
type SlackConn struct {
	f    *Slack
	ws   *websocket.Conn
	acks chan string // envelope ids acknowledged, in order
}

// SlackPost is one chat.postMessage the bot made.
type SlackPost struct {
	Channel  string
	Text     string // as sent: escaped (&amp; &lt; &gt;)
	ThreadTS string
	Form     url.Values // the whole request
}

// StartSlack starts the fake, accepting botToken and appToken, and stops
// it when the test ends. Binders given here take precedence over the
// fake's own handlers (auth.test, apps.connections.open,
// chat.postMessage).
func StartSlack(t testing.TB, botToken, appToken string, binders ...slacktest.Binder) *Slack {
	t.Helper()
	f := &Slack{t: t, botToken: botToken, appToken: appToken, done: make(chan struct{}), changed: make(chan struct{})}
	f.sock = httptest.NewServer(http.HandlerFunc(f.serveSocket))
	binders = append(binders, func(c slacktest.Customize) {
		c.Handle("/auth.test", f.auth(f.botToken, func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `{"ok":true,"url":"https://gatehouse-test.slack.com/","team":"Gatehouse Test","user":"gatehouse","team_id":%q,"user_id":%q,"bot_id":%q,"is_enterprise_install":false}`,
				SlackTeamID, SlackBotUserID, SlackBotID)
		}))
		c.Handle("/apps.connections.open", f.auth(f.appToken, func(w http.ResponseWriter, r *http.Request) {
			f.opens.Add(1)
			fmt.Fprintf(w, `{"ok":true,"url":%q}`, f.SocketURL())
		}))
		c.Handle("/chat.postMessage", f.auth(f.botToken, f.servePost))
	})
	f.api = slacktest.NewTestServer(binders...)
	f.api.Start()
	t.Cleanup(func() {
		f.api.Stop()
		f.sock.Close() // does not wait for WebSocket handlers
		f.mu.Lock()
		f.closed = true
		conns := f.conns
		f.mu.Unlock()
		close(f.done) // a stalled handler returns
		for _, c := range conns {
			c.ws.CloseNow()
		}
		f.handlers.Wait()
	})
	return f
}

// APIURL is the adapter's APIBaseURL (channels.slack.apiBaseUrl).
func (f *Slack) APIURL() string { return f.api.GetAPIURL() }

// SocketURL is what apps.connections.open answers: a ws:// URL on
// 127.0.0.1 with SlackTicket.
func (f *Slack) SocketURL() string {
	return "ws://" + f.sock.Listener.Addr().String() + "/link/?" + SlackTicket + "&app_id=" + SlackAppID
}

// Opens is how many times apps.connections.open was called with the app
// token.
func (f *Slack) Opens() int { return int(f.opens.Load()) }

// Stall makes the next connection stop reading after hello, like a peer
// that died: it answers no ping.
func (f *Slack) Stall() { f.stall.Store(true) }

// Posts returns the bot's chat.postMessage calls, first first.
func (f *Slack) Posts() []SlackPost {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.posts)
}

// WaitPost waits until the bot has posted more than n messages and
// returns the first new one, failing the test after 20 seconds.
func (f *Slack) WaitPost(n int) SlackPost {
	f.t.Helper()
	f.wait(fmt.Sprintf("post %d by the bot", n+1), func() bool { return len(f.posts) > n })
	return f.Posts()[n]
}

// Connected reports whether a Socket Mode connection is open.
func (f *Slack) Connected() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.live != nil
}

// Connections is how many Socket Mode connections were accepted.
func (f *Slack) Connections() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.conns)
}

// WaitConnections waits until n Socket Mode connections were accepted
// and the newest is open.
func (f *Slack) WaitConnections(n int) {
	f.t.Helper()
	f.wait(fmt.Sprintf("%d socket mode connections", n), func() bool { return len(f.conns) >= n && f.live != nil })
}

// Accept returns the next connection Accept has not returned yet, waiting
// up to 10 seconds for it.
func (f *Slack) Accept(t testing.TB) *SlackConn {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		f.mu.Lock()
		if f.accepted < len(f.conns) {
			c := f.conns[f.accepted]
			f.accepted++
			f.mu.Unlock()
			return c
		}
		ch := f.changed
		f.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			t.Fatal("fake slack: the adapter did not connect within 10s")
			return nil
		}
	}
}

// wait waits until cond, called with f.mu held, is true.
func (f *Slack) wait(what string, cond func() bool) {
	f.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		f.mu.Lock()
		ok, ch := cond(), f.changed
		f.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			f.t.Fatalf("fake slack: %s: not within 20s", what)
		}
	}
}

func (f *Slack) changedLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// auth answers invalid_auth unless the request carries token, as Slack
// does.
func (f *Slack) auth(token string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch got := r.Header.Get("Authorization"); {
		case got == "":
			io.WriteString(w, `{"ok":false,"error":"not_authed"}`)
		case got != "Bearer "+token:
			io.WriteString(w, `{"ok":false,"error":"invalid_auth"}`)
		default:
			h(w, r)
		}
	}
}

func (f *Slack) servePost(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	form, err := url.ParseQuery(string(b))
	if err != nil || form.Get("channel") == "" {
		io.WriteString(w, `{"ok":false,"error":"channel_not_found"}`)
		return
	}
	if strings.TrimSpace(form.Get("text")) == "" {
		io.WriteString(w, `{"ok":false,"error":"no_text"}`)
		return
	}
	f.mu.Lock()
	f.posts = append(f.posts, SlackPost{Channel: form.Get("channel"), Text: form.Get("text"), ThreadTS: form.Get("thread_ts"), Form: form})
	ts := fmt.Sprintf("1700000000.%06d", len(f.posts))
	f.changedLocked()
	f.mu.Unlock()
	json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": form.Get("channel"), "ts": ts,
		"message": map[string]any{"type": "message", "text": form.Get("text"), "user": SlackBotUserID, "bot_id": SlackBotID, "ts": ts}})
}

// serveSocket is one Socket Mode connection.
func (f *Slack) serveSocket(w http.ResponseWriter, r *http.Request) {
	if r.URL.RawQuery == "" || !strings.Contains(r.URL.RawQuery, SlackTicket) {
		http.Error(w, "no ticket", http.StatusUnauthorized)
		return
	}
	f.handlers.Add(1)
	defer f.handlers.Done()
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer ws.CloseNow()
	c := &SlackConn{f: f, ws: ws, acks: make(chan string, 1000)}
	if err := ws.Write(r.Context(), websocket.MessageText, SlackFile(f.t, "hello.json")); err != nil {
		return
	}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return
	}
	f.conns = append(f.conns, c)
	f.live = c
	f.changedLocked()
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		if f.live == c {
			f.live = nil
		}
		f.changedLocked()
		f.mu.Unlock()
	}()
	if f.stall.CompareAndSwap(true, false) {
		<-f.done
		return
	}
	for {
		_, b, err := ws.Read(context.Background())
		if err != nil {
			return // the client went away
		}
		var ack struct {
			EnvelopeID string `json:"envelope_id"`
		}
		if err := json.Unmarshal(b, &ack); err != nil || ack.EnvelopeID == "" {
			f.t.Errorf("fake slack: socket got %q, want an acknowledgement", b)
			continue
		}
		select {
		case c.acks <- ack.EnvelopeID:
		default:
		}
	}
}

// Send sends testdata/slack/name on the connection.
func (c *SlackConn) Send(t testing.TB, name string) {
	t.Helper()
	c.SendRaw(t, SlackFile(t, name))
}

// SendRaw sends b on the connection.
func (c *SlackConn) SendRaw(t testing.TB, b []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
		t.Fatalf("fake slack: send: %v", err)
	}
}

// Ack waits up to 10 seconds for the next acknowledgement and returns its
// envelope id.
func (c *SlackConn) Ack(t testing.TB) string {
	t.Helper()
	select {
	case id := <-c.acks:
		return id
	case <-time.After(10 * time.Second):
		t.Fatal("fake slack: no acknowledgement within 10s")
		return ""
	}
}

// SlackDMChannel is the id of the DM channel between the bot and user
// userID in the fake's world.
func SlackDMChannel(userID string) string { return "D0" + strings.TrimLeft(userID, "UW") }

// SendDM sends an events_api envelope on the open connection, waiting up
// to 20 seconds for one: user userID writes text to the bot in their DM,
// SlackDMChannel(userID). It returns the envelope id.
func (f *Slack) SendDM(userID, text string) string {
	f.t.Helper()
	return f.sendEvent("events_api_im.json", map[string]any{
		"channel": SlackDMChannel(userID), "channel_type": "im", "user": userID, "text": slackEscape(text),
	})
}

// SendChannel sends an events_api envelope on the open connection: user
// userID writes text in public channel channelID, starting with a mention
// of the bot (<@SlackBotUserID>) if mention. It returns the envelope id.
func (f *Slack) SendChannel(channelID, userID, text string, mention bool) string {
	f.t.Helper()
	text = slackEscape(text)
	if mention {
		text = "<@" + SlackBotUserID + "> " + text
	}
	return f.sendEvent("events_api_channel_message.json", map[string]any{
		"channel": channelID, "channel_type": "channel", "user": userID, "text": text,
		"thread_ts": nil, "parent_user_id": nil,
	})
}

// sendEvent sends testdata/slack/name with the event's fields replaced (a
// nil value removes the field) and fresh ids and timestamps.
func (f *Slack) sendEvent(name string, with map[string]any) string {
	f.t.Helper()
	f.wait("a socket mode connection", func() bool { return f.live != nil })
	f.mu.Lock()
	f.nextMsg++
	n := f.nextMsg
	c := f.live
	f.mu.Unlock()

	var env map[string]any
	if err := json.Unmarshal(SlackFile(f.t, name), &env); err != nil {
		f.t.Fatal(err)
	}
	id := fmt.Sprintf("e2e0c0de-0000-4000-8000-%012d", n)
	env["envelope_id"] = id
	payload := env["payload"].(map[string]any)
	payload["event_id"] = fmt.Sprintf("Ev0GATEHOUSE%04d", n)
	ev := payload["event"].(map[string]any)
	ts := fmt.Sprintf("1711000000.%06d", n)
	ev["ts"], ev["event_ts"] = ts, ts
	delete(ev, "blocks") // they would repeat the old text
	delete(ev, "client_msg_id")
	for k, v := range with {
		if v == nil {
			delete(ev, k)
			continue
		}
		ev[k] = v
	}
	b, err := json.Marshal(env)
	if err != nil {
		f.t.Fatal(err)
	}
	c.SendRaw(f.t, b)
	return id
}

// slackEscape escapes text as Slack does in a message's text.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// SlackFile is testdata/slack/name: hello.json, disconnect.json or an
// events_api_*.json envelope.
func SlackFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := slackFS.ReadFile(path.Join("testdata/slack", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// SlackFiles names the files of testdata/slack that match pattern (as in
// path.Match).
func SlackFiles(pattern string) []string {
	names, _ := fs.Glob(slackFS, path.Join("testdata/slack", pattern))
	for i, n := range names {
		names[i] = path.Base(n)
	}
	return names
}

// SlackEnvelopeID is the envelope id of testdata/slack/name.
func SlackEnvelopeID(t testing.TB, name string) string {
	t.Helper()
	var env struct {
		EnvelopeID string `json:"envelope_id"`
	}
	if err := json.Unmarshal(SlackFile(t, name), &env); err != nil {
		t.Fatal(err)
	}
	return env.EnvelopeID
}
