package discord

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// fakeDiscord is Discord's Gateway and HTTP API as documented
// (https://discord.com/developers/docs/events/gateway,
// …/resources/message), on 127.0.0.1: HELLO, IDENTIFY (checking the token
// and the intents), READY, dispatches with sequence numbers, heartbeats
// answered with HEARTBEAT_ACK, RESUME replaying what followed the given
// sequence number, and POST /channels/{id}/messages. Payloads come from
// testdata/.
type fakeDiscord struct {
	t        *testing.T
	token    string
	interval int // heartbeat_interval, milliseconds
	srv      *httptest.Server
	handlers sync.WaitGroup // gateway connections

	mu         sync.Mutex // guards the fields below
	changed    chan struct{}
	conn       *websocket.Conn // the session's live connection, nil when none
	conns      []*websocket.Conn
	sessions   int
	sessionID  string
	events     [][]byte // the session's dispatches; events[i] has seq i+1
	dials      []string // paths of the gateway connections
	identifies []identifyData
	resumes    []resumeData
	heartbeats []*int64 // d of each heartbeat, nil for null
	closeCode  websocket.StatusCode
	posts      []post
	limits     []limit // answers for the next POSTs, first first
	unknown    map[string]bool
}

// post is one POST /channels/{id}/messages.
type post struct {
	Channel string
	Body    createMessage
	Raw     string
}

// limit is a 429 answer.
type limit struct {
	Header http.Header
	Body   string
}

const testToken = "MTEwMDAwMDAwMDAwMDAwMDAwMQ.GhJkLm.abcdefghijklmnopqrstuvwxyz0123456789AB"

const (
	botID    = "1100000000000000001"
	guildID  = "1200000000000000001"
	annID    = "1500000000000000001"
	annDM    = "1400000000000000009"
	guildCh  = "1400000000000000001"
	otherBot = "1500000000000000002"
)

func newFake(t *testing.T) *fakeDiscord {
	t.Helper()
	f := &fakeDiscord{t: t, token: testToken, interval: 40, changed: make(chan struct{}), unknown: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /gateway", f.serveGateway)
	mux.HandleFunc("GET /resume", f.serveGateway)
	mux.HandleFunc("GET /api/v10/gateway/bot", f.auth(f.serveGatewayBot))
	mux.HandleFunc("POST /api/v10/channels/{id}/messages", f.auth(f.serveCreateMessage))
	mux.HandleFunc("POST /api/v10/channels/{id}/typing", f.auth(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	mux.HandleFunc("POST /api/v10/users/@me/channels", f.auth(f.serveCreateDM))
	f.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		f.srv.Close()
		f.mu.Lock()
		conns := f.conns
		f.mu.Unlock()
		for _, c := range conns {
			c.CloseNow()
		}
		f.handlers.Wait()
	})
	return f
}

// apiURL is the adapter's APIBaseURL.
func (f *fakeDiscord) apiURL() string { return f.srv.URL + "/api/v10" }

// gatewayURL is the gateway's address, as GET /gateway/bot gives it.
func (f *fakeDiscord) gatewayURL() string {
	return "ws" + strings.TrimPrefix(f.srv.URL, "http") + "/gateway"
}

// changedLocked wakes those waiting in wait.
func (f *fakeDiscord) changedLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// wait waits until cond, called with f.mu held, is true.
func (f *fakeDiscord) wait(what string, cond func() bool) {
	f.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		f.mu.Lock()
		ok := cond()
		ch := f.changed
		f.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			f.t.Fatalf("fake discord: %s: not within 10s", what)
		}
	}
}

func (f *fakeDiscord) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bot "+f.token {
			writeJSON(w, http.StatusUnauthorized, `{"message": "401: Unauthorized", "code": 0}`)
			return
		}
		if !strings.HasPrefix(r.Header.Get("User-Agent"), "DiscordBot (") {
			writeJSON(w, http.StatusBadRequest, `{"message": "User-Agent must be DiscordBot (url, version)", "code": 0}`)
			return
		}
		h(w, r)
	}
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func (f *fakeDiscord) serveGatewayBot(w http.ResponseWriter, r *http.Request) {
	var gb map[string]any
	json.Unmarshal(readTestdata(f.t, "gateway_bot.json"), &gb)
	gb["url"] = f.gatewayURL()
	b, _ := json.Marshal(gb)
	writeJSON(w, http.StatusOK, string(b))
}

func (f *fakeDiscord) serveCreateMessage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	raw, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.changedLocked()
	if len(f.limits) > 0 {
		l := f.limits[0]
		f.limits = f.limits[1:]
		for k, v := range l.Header {
			w.Header()[k] = v
		}
		writeJSON(w, http.StatusTooManyRequests, l.Body)
		return
	}
	if f.unknown[id] {
		writeJSON(w, http.StatusNotFound, `{"message": "Unknown Channel", "code": 10003}`)
		return
	}
	var m createMessage
	if err := json.Unmarshal(raw, &m); err != nil || m.Content == "" {
		writeJSON(w, http.StatusBadRequest, `{"message": "Cannot send an empty message", "code": 50006}`)
		return
	}
	f.posts = append(f.posts, post{Channel: id, Body: m, Raw: string(raw)})
	out := messageJSON(f.t, map[string]any{"id": fmt.Sprint(1900000000000000000 + len(f.posts)), "channel_id": id, "content": m.Content,
		"author": map[string]any{"id": botID, "username": "gatehouse", "bot": true}})
	writeJSON(w, http.StatusOK, string(out))
}

func (f *fakeDiscord) serveCreateDM(w http.ResponseWriter, r *http.Request) {
	var req struct {
		RecipientID string `json:"recipient_id"`
	}
	json.NewDecoder(r.Body).Decode(&req)
	writeJSON(w, http.StatusOK, fmt.Sprintf(`{"id": "1800%s", "type": 1, "recipients": [{"id": %q}]}`, req.RecipientID[4:], req.RecipientID))
}

// serveGateway is one gateway connection.
func (f *fakeDiscord) serveGateway(w http.ResponseWriter, r *http.Request) {
	if q := r.URL.Query(); q.Get("v") != "10" || q.Get("encoding") != "json" {
		f.t.Errorf("gateway dialled with query %q, want v=10&encoding=json", r.URL.RawQuery)
	}
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	f.handlers.Add(1)
	defer f.handlers.Done()
	defer c.CloseNow()
	ctx := context.WithoutCancel(r.Context())
	f.mu.Lock()
	f.conns = append(f.conns, c)
	f.dials = append(f.dials, r.URL.Path)
	f.changedLocked()
	f.mu.Unlock()

	if err := writeOp(ctx, c, opHello, hello{HeartbeatInterval: int64(f.interval)}); err != nil {
		return
	}
	_, b, err := c.Read(ctx)
	if err != nil {
		return
	}
	var p payload
	json.Unmarshal(b, &p)
	switch p.Op {
	case opIdentify:
		if !f.identify(ctx, c, p.D) {
			return
		}
	case opResume:
		if !f.resume(ctx, c, p.D) {
			return
		}
	default:
		c.Close(4003, "Not authenticated.")
		return
	}
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			f.mu.Lock()
			if f.conn == c {
				f.conn = nil
			}
			f.mu.Unlock()
			return
		}
		json.Unmarshal(b, &p)
		if p.Op != opHeartbeat {
			continue
		}
		var seq *int64
		json.Unmarshal(p.D, &seq)
		f.mu.Lock()
		f.heartbeats = append(f.heartbeats, seq)
		f.changedLocked()
		f.mu.Unlock()
		writeOp(ctx, c, opHeartbeatACK, nil)
	}
}

// identify checks an IDENTIFY and starts a session with READY.
func (f *fakeDiscord) identify(ctx context.Context, c *websocket.Conn, d json.RawMessage) bool {
	var id identifyData
	json.Unmarshal(d, &id)
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.changedLocked()
	f.identifies = append(f.identifies, id)
	switch {
	case id.Token != f.token:
		c.Close(4004, "Authentication failed.")
		return false
	case id.Intents&intents != intents:
		c.Close(4013, "Invalid intent(s).")
		return false
	case f.closeCode != 0:
		c.Close(f.closeCode, "Disallowed intent(s).")
		return false
	}
	f.sessions++
	f.sessionID = fmt.Sprintf("session-%d", f.sessions)
	f.events = nil
	f.conn = c
	var r map[string]any
	json.Unmarshal(readTestdata(f.t, "ready.json"), &r)
	r["session_id"] = f.sessionID
	r["resume_gateway_url"] = "ws" + strings.TrimPrefix(f.srv.URL, "http") + "/resume"
	f.emitLocked(ctx, "READY", mustJSON(r))
	return true
}

// resume checks a RESUME, replays the dispatches after its seq and sends
// RESUMED, or answers INVALID_SESSION.
func (f *fakeDiscord) resume(ctx context.Context, c *websocket.Conn, d json.RawMessage) bool {
	var rd resumeData
	json.Unmarshal(d, &rd)
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.changedLocked()
	f.resumes = append(f.resumes, rd)
	switch {
	case rd.Token != f.token:
		c.Close(4004, "Authentication failed.")
		return false
	case rd.SessionID != f.sessionID || rd.Seq > int64(len(f.events)):
		writeOp(ctx, c, opInvalidSession, false)
		return true
	}
	f.conn = c
	for _, ev := range f.events[rd.Seq:] {
		c.Write(ctx, websocket.MessageText, ev)
	}
	f.emitLocked(ctx, "RESUMED", json.RawMessage(`null`))
	return true
}

// emit dispatches event name with data d: sent now if a connection is
// live, replayed on RESUME otherwise.
func (f *fakeDiscord) emit(name string, d json.RawMessage) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.changedLocked()
	return f.emitLocked(context.Background(), name, d)
}

func (f *fakeDiscord) emitLocked(ctx context.Context, name string, d json.RawMessage) int64 {
	seq := int64(len(f.events) + 1)
	b := mustJSON(payload{Op: opDispatch, T: name, S: &seq, D: d})
	f.events = append(f.events, b)
	if f.conn != nil {
		f.conn.Write(ctx, websocket.MessageText, b)
	}
	return seq
}

// drop cuts the live connection without a close frame, as a network
// failure does, after queuing names/data pairs that the adapter will only
// get by resuming.
func (f *fakeDiscord) drop(missed ...json.RawMessage) []int64 {
	f.mu.Lock()
	c := f.conn
	f.conn = nil
	var seqs []int64
	for _, d := range missed {
		seqs = append(seqs, f.emitLocked(context.Background(), "MESSAGE_CREATE", d))
	}
	f.changedLocked()
	f.mu.Unlock()
	if c != nil {
		c.CloseNow()
	}
	return seqs
}

// sendOp sends a non-dispatch opcode on the live connection.
func (f *fakeDiscord) sendOp(op int, d any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conn == nil {
		f.t.Fatalf("fake discord: no live connection for op %d", op)
	}
	writeOp(context.Background(), f.conn, op, d)
}

func (f *fakeDiscord) lastHeartbeatLocked() int64 {
	if n := len(f.heartbeats); n > 0 && f.heartbeats[n-1] != nil {
		return *f.heartbeats[n-1]
	}
	return 0
}

func writeOp(ctx context.Context, c *websocket.Conn, op int, d any) error {
	return c.Write(ctx, websocket.MessageText, mustJSON(payload{Op: op, D: mustJSON(d)}))
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// messageJSON is testdata/message_create.json with fields replaced; a nil
// value removes the field.
func messageJSON(t testing.TB, with map[string]any) json.RawMessage {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(readTestdata(t, "message_create.json"), &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range with {
		if v == nil {
			delete(m, k)
			continue
		}
		m[k] = v
	}
	return mustJSON(m)
}

// checkGoroutines fails the test if goroutines it started are still
// running once its later-registered cleanups are done.
func checkGoroutines(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("goroutines: got %d after the test, want at most %d:\n%s", runtime.NumGoroutine(), before, buf)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}
