package agent

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/llm"
	"gatehouse/internal/store"
	"gatehouse/internal/tool"
)

// t0 is the tests' clock: a fixed instant.
var t0 = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

// scripted is an in-process Models: reply decides each answer from the
// request and its index (0 for the first call), and every request is
// recorded.
type scripted struct {
	reply func(ctx context.Context, n int, req *llm.Request) (*llm.Response, error)
	// perToken is the price of one token, in dollars.
	perToken float64

	mu   sync.Mutex
	reqs []*llm.Request
}

func (s *scripted) Chat(ctx context.Context, req *llm.Request, onDelta func(string)) (*llm.Response, llm.Ref, error) {
	cp := *req
	cp.Messages = slices.Clone(req.Messages)
	cp.Tools = slices.Clone(req.Tools)
	s.mu.Lock()
	n := len(s.reqs)
	s.reqs = append(s.reqs, &cp)
	s.mu.Unlock()
	resp, err := s.reply(ctx, n, req)
	if err == nil && onDelta != nil && resp.Message.Content != "" {
		onDelta(resp.Message.Content)
	}
	return resp, llm.Ref{Provider: "test", Model: "scripted"}, err
}

func (s *scripted) Cost(ref llm.Ref, u llm.Usage) float64 { return float64(u.Total()) * s.perToken }

func (s *scripted) requests() []*llm.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reqs)
}

func (s *scripted) last() *llm.Request {
	r := s.requests()
	return r[len(r)-1]
}

// text answers with text and 10 input, 5 output tokens.
func text(s string) *llm.Response {
	return &llm.Response{Message: llm.Message{Role: llm.RoleAssistant, Content: s}, Usage: llm.Usage{InputTokens: 10, OutputTokens: 5}, StopReason: "stop"}
}

// call asks for one tool call.
func call(id, name, args string) *llm.Response {
	return &llm.Response{
		Message:    llm.Message{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: id, Name: name, Arguments: json.RawMessage(args)}}},
		Usage:      llm.Usage{InputTokens: 10, OutputTokens: 5},
		StopReason: "tool_use",
	}
}

// echo answers "ok" to everything.
func echo(context.Context, int, *llm.Request) (*llm.Response, error) { return text("ok"), nil }

// fixture is an agent on a fresh database.
type fixture struct {
	a      *Agent
	m      *scripted
	db     *store.DB
	path   string
	cfg    *config.Config
	now    time.Time
	nowMu  sync.Mutex
	notes  []string
	notesM sync.Mutex
}

type fixtureOpt func(*Options)

func newFixture(t testing.TB, reply func(context.Context, int, *llm.Request) (*llm.Response, error), opts ...fixtureOpt) *fixture {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	db, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	f := &fixture{m: &scripted{reply: reply}, db: db, path: path, cfg: config.Default(), now: t0}
	o := Options{
		Config: f.cfg,
		Store:  db,
		Models: f.m,
		Tools:  tool.NewRegistry(tool.NewTimeNow(f.clock), tool.NewSessionStatus()),
		Now:    f.clock,
		OnBudgetExhausted: func(ctx context.Context, msg string) {
			f.notesM.Lock()
			f.notes = append(f.notes, msg)
			f.notesM.Unlock()
		},
	}
	for _, opt := range opts {
		opt(&o)
	}
	// The tools the test registers are allowed (tools.deny still wins).
	for _, s := range o.Tools.Specs(nil) {
		f.cfg.Tools.Allow = append(f.cfg.Tools.Allow, s.Name)
	}
	f.a, err = New(o)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) clock() time.Time {
	f.nowMu.Lock()
	defer f.nowMu.Unlock()
	return f.now
}

func (f *fixture) setClock(t time.Time) {
	f.nowMu.Lock()
	f.now = t
	f.nowMu.Unlock()
}

func (f *fixture) notices() []string {
	f.notesM.Lock()
	defer f.notesM.Unlock()
	return slices.Clone(f.notes)
}

func dm(peer, text string) Inbound {
	return Inbound{Channel: "telegram", PeerID: peer, ChatType: ChatDirect, Text: text}
}

func ownerDM(text string) Inbound {
	in := dm("1001", text)
	in.Owner = true
	return in
}

func group(chat, peer, text string) Inbound {
	return Inbound{Channel: "telegram", PeerID: peer, ChatID: chat, ChatType: ChatGroup, Text: text}
}

// storedMessages reads a session's transcript back.
func storedMessages(t testing.TB, a *Agent, key string) []llm.Message {
	t.Helper()
	_, msgs, err := a.loadSession(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]llm.Message, len(msgs))
	for i, s := range msgs {
		out[i] = s.msg
	}
	return out
}

// spy is a tool that returns a fixed result and counts its runs.
type spy struct {
	name   string
	result tool.Result
	mu     sync.Mutex
	runs   []tool.Call
}

func (s *spy) Spec() llm.ToolSpec {
	return llm.ToolSpec{Name: s.name, Description: "test tool", Parameters: json.RawMessage(`{"type":"object"}`)}
}

func (s *spy) Run(ctx context.Context, c tool.Call) (tool.Result, error) {
	s.mu.Lock()
	s.runs = append(s.runs, c)
	s.mu.Unlock()
	return s.result, nil
}

func (s *spy) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.runs)
}
