package testkit

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// Snowflakes of the fake's world, as in testdata/discord.
const (
	DiscordBotID        = "1100000000000000001" // the bot's user id, in READY
	DiscordGuildID      = "1200000000000000001"
	DiscordGuildChannel = "1400000000000000001" // a text channel of DiscordGuildID
	DiscordUserID       = "1500000000000000001" // Ann, the author in message_create.json
)

// Gateway opcodes and the intents a bot needs to read DMs and guild
// messages (https://discord.com/developers/docs/topics/opcodes-and-status-codes,
// …/events/gateway#list-of-intents).
const (
	DiscordOpDispatch       = 0
	DiscordOpHeartbeat      = 1
	DiscordOpIdentify       = 2
	DiscordOpResume         = 6
	DiscordOpReconnect      = 7
	DiscordOpInvalidSession = 9
	DiscordOpHello          = 10
	DiscordOpHeartbeatACK   = 11

	// GUILDS, GUILD_MESSAGES, DIRECT_MESSAGES, MESSAGE_CONTENT.
	discordIntents = 1<<0 | 1<<9 | 1<<12 | 1<<15
)

//go:embed testdata/discord/*.json
var discordFS embed.FS

// Discord is Discord's Gateway and HTTP API as documented
// (https://discord.com/developers/docs/events/gateway,
// …/resources/message), on 127.0.0.1: HELLO, IDENTIFY (checking the token
// and the intents), READY, dispatches with sequence numbers, heartbeats
// answered with HEARTBEAT_ACK, RESUME replaying what followed the given
// sequence number, GET /gateway/bot, POST /channels/{id}/messages and
// /typing, and POST /users/@me/channels. Payloads come from
// testdata/discord/. Discord has no test server of its own (TESTING.md).
type Discord struct {
	t        testing.TB
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
	nextMsg    int
	dials      []string
	identifies []DiscordIdentify
	resumes    []DiscordResume
	heartbeats []*int64
	closeCode  websocket.StatusCode
	posts      []DiscordPost
	limits     []discordLimit
	unknown    map[string]bool
}

// DiscordIdentify is the d of an IDENTIFY.
type DiscordIdentify struct {
	Token      string `json:"token"`
	Intents    int    `json:"intents"`
	Properties struct {
		OS      string `json:"os"`
		Browser string `json:"browser"`
		Device  string `json:"device"`
	} `json:"properties"`
}

// DiscordResume is the d of a RESUME.
type DiscordResume struct {
	Token     string `json:"token"`
	SessionID string `json:"session_id"`
	Seq       int64  `json:"seq"`
}

// DiscordPost is one POST /channels/{id}/messages the bot made.
type DiscordPost struct {
	Channel          string `json:"-"`
	Raw              string `json:"-"` // the request body
	Content          string `json:"content"`
	MessageReference *struct {
		MessageID       string `json:"message_id"`
		FailIfNotExists bool   `json:"fail_if_not_exists"`
	} `json:"message_reference"`
}

// DiscordState is what the fake has seen so far.
type DiscordState struct {
	Sessions   int  // IDENTIFYs that started a session
	Connected  bool // a session has a live connection
	Dials      []string
	Identifies []DiscordIdentify
	Resumes    []DiscordResume
	Heartbeats []*int64 // d of each heartbeat, nil for null
	Posts      []DiscordPost
}

// LastHeartbeat is the sequence number of the last heartbeat, 0 if none or
// null.
func (s DiscordState) LastHeartbeat() int64 {
	if n := len(s.Heartbeats); n > 0 && s.Heartbeats[n-1] != nil {
		return *s.Heartbeats[n-1]
	}
	return 0
}

type discordPayload struct {
	Op int             `json:"op"`
	D  json.RawMessage `json:"d"`
	S  *int64          `json:"s,omitempty"`
	T  string          `json:"t,omitempty"`
}

type discordLimit struct {
	header http.Header
	body   string
}

// StartDiscord starts the fake, accepting token, and stops it when the
// test ends.
func StartDiscord(t testing.TB, token string) *Discord {
	t.Helper()
	f := &Discord{t: t, token: token, interval: 40, changed: make(chan struct{}), unknown: map[string]bool{}}
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

// APIURL is the adapter's APIBaseURL (channels.discord.apiBaseUrl).
func (f *Discord) APIURL() string { return f.srv.URL + "/api/v10" }

// GatewayURL is the gateway's address, as GET /gateway/bot gives it.
func (f *Discord) GatewayURL() string {
	return "ws" + strings.TrimPrefix(f.srv.URL, "http") + "/gateway"
}

// State returns a copy of what the fake has seen.
func (f *Discord) State() DiscordState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stateLocked()
}

func (f *Discord) stateLocked() DiscordState {
	return DiscordState{
		Sessions:   f.sessions,
		Connected:  f.conn != nil,
		Dials:      slices.Clone(f.dials),
		Identifies: slices.Clone(f.identifies),
		Resumes:    slices.Clone(f.resumes),
		Heartbeats: slices.Clone(f.heartbeats),
		Posts:      slices.Clone(f.posts),
	}
}

// Posts returns the messages the bot posted, first first.
func (f *Discord) Posts() []DiscordPost { return f.State().Posts }

// Wait waits until cond is true of the fake's state, failing the test
// after 20 seconds.
func (f *Discord) Wait(what string, cond func(DiscordState) bool) DiscordState {
	f.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		f.mu.Lock()
		s := f.stateLocked()
		ch := f.changed
		f.mu.Unlock()
		if cond(s) {
			return s
		}
		select {
		case <-ch:
		case <-deadline:
			f.t.Fatalf("fake discord: %s: not within 20s", what)
		}
	}
}

// RefuseIdentify makes the next IDENTIFYs fail with close code code (e.g.
// 4014, disallowed intents).
func (f *Discord) RefuseIdentify(code int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closeCode = websocket.StatusCode(code)
}

// RateLimit queues a 429 answer with header and body for the next POST of
// a message.
func (f *Discord) RateLimit(header http.Header, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.limits = append(f.limits, discordLimit{header, body})
}

// UnknownChannel makes posts to channel id fail with Unknown Channel, as
// posts to a user id do.
func (f *Discord) UnknownChannel(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.unknown[id] = true
}

// changedLocked wakes those waiting in Wait.
func (f *Discord) changedLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *Discord) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bot "+f.token {
			writeDiscordJSON(w, http.StatusUnauthorized, `{"message": "401: Unauthorized", "code": 0}`)
			return
		}
		if !strings.HasPrefix(r.Header.Get("User-Agent"), "DiscordBot (") {
			writeDiscordJSON(w, http.StatusBadRequest, `{"message": "User-Agent must be DiscordBot (url, version)", "code": 0}`)
			return
		}
		h(w, r)
	}
}

func writeDiscordJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func (f *Discord) serveGatewayBot(w http.ResponseWriter, r *http.Request) {
	var gb map[string]any
	json.Unmarshal(DiscordFile(f.t, "gateway_bot.json"), &gb)
	gb["url"] = f.GatewayURL()
	writeDiscordJSON(w, http.StatusOK, string(discordJSON(gb)))
}

func (f *Discord) serveCreateMessage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	raw, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.changedLocked()
	if len(f.limits) > 0 {
		l := f.limits[0]
		f.limits = f.limits[1:]
		for k, v := range l.header {
			w.Header()[k] = v
		}
		writeDiscordJSON(w, http.StatusTooManyRequests, l.body)
		return
	}
	if f.unknown[id] {
		writeDiscordJSON(w, http.StatusNotFound, `{"message": "Unknown Channel", "code": 10003}`)
		return
	}
	var p DiscordPost
	if err := json.Unmarshal(raw, &p); err != nil || p.Content == "" {
		writeDiscordJSON(w, http.StatusBadRequest, `{"message": "Cannot send an empty message", "code": 50006}`)
		return
	}
	p.Channel, p.Raw = id, string(raw)
	f.posts = append(f.posts, p)
	out := DiscordMessage(f.t, map[string]any{"id": fmt.Sprint(1900000000000000000 + len(f.posts)), "channel_id": id, "content": p.Content,
		"author": map[string]any{"id": DiscordBotID, "username": "gatehouse", "bot": true}})
	writeDiscordJSON(w, http.StatusOK, string(out))
}

// DiscordDMChannel is the id of the DM channel the fake gives user id
// userID (at least 5 digits).
func DiscordDMChannel(userID string) string { return "1800" + userID[4:] }

func (f *Discord) serveCreateDM(w http.ResponseWriter, r *http.Request) {
	var req struct {
		RecipientID string `json:"recipient_id"`
	}
	json.NewDecoder(r.Body).Decode(&req)
	if len(req.RecipientID) < 5 {
		writeDiscordJSON(w, http.StatusBadRequest, `{"message": "Invalid Form Body", "code": 50035}`)
		return
	}
	writeDiscordJSON(w, http.StatusOK, fmt.Sprintf(`{"id": %q, "type": 1, "recipients": [{"id": %q}]}`, DiscordDMChannel(req.RecipientID), req.RecipientID))
}

// serveGateway is one gateway connection.
func (f *Discord) serveGateway(w http.ResponseWriter, r *http.Request) {
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

	if err := writeDiscordOp(ctx, c, DiscordOpHello, map[string]int64{"heartbeat_interval": int64(f.interval)}); err != nil {
		return
	}
	_, b, err := c.Read(ctx)
	if err != nil {
		return
	}
	var p discordPayload
	json.Unmarshal(b, &p)
	switch p.Op {
	case DiscordOpIdentify:
		if !f.identify(ctx, c, p.D) {
			return
		}
	case DiscordOpResume:
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
				f.changedLocked()
			}
			f.mu.Unlock()
			return
		}
		json.Unmarshal(b, &p)
		if p.Op != DiscordOpHeartbeat {
			continue
		}
		var seq *int64
		json.Unmarshal(p.D, &seq)
		f.mu.Lock()
		f.heartbeats = append(f.heartbeats, seq)
		f.changedLocked()
		f.mu.Unlock()
		writeDiscordOp(ctx, c, DiscordOpHeartbeatACK, nil)
	}
}

// identify checks an IDENTIFY and starts a session with READY.
func (f *Discord) identify(ctx context.Context, c *websocket.Conn, d json.RawMessage) bool {
	var id DiscordIdentify
	json.Unmarshal(d, &id)
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.changedLocked()
	f.identifies = append(f.identifies, id)
	switch {
	case id.Token != f.token:
		c.Close(4004, "Authentication failed.")
		return false
	case id.Intents&discordIntents != discordIntents:
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
	json.Unmarshal(DiscordFile(f.t, "ready.json"), &r)
	r["session_id"] = f.sessionID
	r["resume_gateway_url"] = "ws" + strings.TrimPrefix(f.srv.URL, "http") + "/resume"
	f.emitLocked(ctx, "READY", discordJSON(r))
	return true
}

// resume checks a RESUME, replays the dispatches after its seq and sends
// RESUMED, or answers INVALID_SESSION.
func (f *Discord) resume(ctx context.Context, c *websocket.Conn, d json.RawMessage) bool {
	var rd DiscordResume
	json.Unmarshal(d, &rd)
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.changedLocked()
	f.resumes = append(f.resumes, rd)
	switch {
	case rd.Token != f.token:
		c.Close(4004, "Authentication failed.")
		return false
	case rd.SessionID != f.sessionID || rd.Seq < 0 || rd.Seq > int64(len(f.events)):
		writeDiscordOp(ctx, c, DiscordOpInvalidSession, false)
		return true
	}
	f.conn = c
	for _, ev := range f.events[rd.Seq:] {
		c.Write(ctx, websocket.MessageText, ev)
	}
	f.emitLocked(ctx, "RESUMED", json.RawMessage(`null`))
	return true
}

// Emit dispatches event name with data d: sent now if a connection is
// live, replayed on RESUME otherwise. It returns the sequence number.
func (f *Discord) Emit(name string, d json.RawMessage) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.changedLocked()
	return f.emitLocked(context.Background(), name, d)
}

func (f *Discord) emitLocked(ctx context.Context, name string, d json.RawMessage) int64 {
	seq := int64(len(f.events) + 1)
	b := discordJSON(discordPayload{Op: DiscordOpDispatch, T: name, S: &seq, D: d})
	f.events = append(f.events, b)
	if f.conn != nil {
		f.conn.Write(ctx, websocket.MessageText, b)
	}
	return seq
}

// SendDM dispatches a MESSAGE_CREATE: user userID writes text to the bot
// in their DM channel, DiscordDMChannel(userID).
func (f *Discord) SendDM(userID, text string) int64 {
	return f.Emit("MESSAGE_CREATE", DiscordMessage(f.t, map[string]any{
		"id": f.messageID(), "guild_id": nil, "member": nil, "channel_id": DiscordDMChannel(userID),
		"author": map[string]any{"id": userID, "username": "user" + userID, "global_name": "User " + userID}, "content": text,
	}))
}

// SendGuild dispatches a MESSAGE_CREATE: user userID writes text in
// channel channelID of guild guildID. Text that holds <@DiscordBotID>
// mentions the bot.
func (f *Discord) SendGuild(guildID, channelID, userID, text string) int64 {
	return f.Emit("MESSAGE_CREATE", DiscordMessage(f.t, map[string]any{
		"id": f.messageID(), "guild_id": guildID, "channel_id": channelID,
		"author": map[string]any{"id": userID, "username": "user" + userID, "global_name": "User " + userID}, "content": text,
	}))
}

func (f *Discord) messageID() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextMsg++
	return fmt.Sprint(1300000000000100000 + f.nextMsg)
}

// Drop cuts the live connection without a close frame, as a network
// failure does, after queuing MESSAGE_CREATEs with data missed, which the
// adapter will only get by resuming. It returns their sequence numbers.
func (f *Discord) Drop(missed ...json.RawMessage) []int64 {
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

// SendOp sends a non-dispatch opcode on the live connection.
func (f *Discord) SendOp(op int, d any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conn == nil {
		f.t.Fatalf("fake discord: no live connection for op %d", op)
	}
	writeDiscordOp(context.Background(), f.conn, op, d)
}

func writeDiscordOp(ctx context.Context, c *websocket.Conn, op int, d any) error {
	return c.Write(ctx, websocket.MessageText, discordJSON(discordPayload{Op: op, D: discordJSON(d)}))
}

func discordJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// DiscordFile is testdata/discord/name: gateway_bot.json, ready.json or
// message_create.json.
func DiscordFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := discordFS.ReadFile(path.Join("testdata/discord", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// DiscordMessage is testdata/discord/message_create.json, Ann writing in
// a guild channel, with fields replaced; a nil value removes the field.
func DiscordMessage(t testing.TB, with map[string]any) json.RawMessage {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(DiscordFile(t, "message_create.json"), &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range with {
		if v == nil {
			delete(m, k)
			continue
		}
		m[k] = v
	}
	return discordJSON(m)
}
