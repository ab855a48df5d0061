package agent

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/llm"
	"gatehouse/internal/secret"
	"gatehouse/internal/store"
	"gatehouse/internal/tool"
)

// Models is what the agent needs of the LLM router: a chat call that picks
// the model (with failover) and says which one answered, and the price of
// a call.
type Models interface {
	Chat(ctx context.Context, req *llm.Request, onDelta func(string)) (*llm.Response, llm.Ref, error)
	Cost(ref llm.Ref, u llm.Usage) float64
}

// Options configure an Agent. Config, Store and Models are required.
type Options struct {
	Config *config.Config
	Store  *store.DB
	Models Models
	// Tools are the tools the agent may offer, subject to the policy in
	// Config.Tools. Nil means the built-in tools.
	Tools *tool.Registry
	// Workspace is the directory holding SOUL.md, AGENTS.md, USER.md,
	// IDENTITY.md and MEMORY.md. Empty means agents.defaults.workspace.
	Workspace string
	Logger    *slog.Logger
	// Redactor cleans every text the agent stores. Nil redacts credential
	// patterns only.
	Redactor *secret.Redactor
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// OnBudgetExhausted tells the owner that the daily budget is reached.
	// It is called at most once per UTC day, on the goroutine of the turn
	// that was refused, and should return promptly.
	OnBudgetExhausted func(ctx context.Context, message string)
}

// Agent runs turns. It is safe for concurrent use.
type Agent struct {
	db        *sql.DB
	models    Models
	tools     atomic.Pointer[tool.Registry]
	workspace string
	log       *slog.Logger
	redactor  *secret.Redactor
	now       func() time.Time
	onBudget  func(ctx context.Context, message string)

	cfg atomic.Pointer[config.Config]

	// writeMu serialises the process's write transactions (the store's
	// lock, shared with the inbox and outbox), so that turns
	// finishing together queue here rather than spin on SQLite's busy
	// timeout.
	writeMu sync.Locker

	stmtMu sync.Mutex // guards stmts
	// stmts are the prepared statements of the hot path, by query text.
	stmts map[string]*sql.Stmt

	mu sync.Mutex // guards sessions
	// sessions holds the sessions that have a turn running or waiting.
	sessions map[string]*session
}

// session is the per-session queue: one turn at a time.
type session struct {
	// sem holds one token while a turn (or a reset) runs.
	sem chan struct{}
	// refs counts the callers holding or waiting for sem; guarded by
	// Agent.mu. The entry is removed when it drops to zero.
	refs int
	// stop cancels the running turn; nil when none runs. Guarded by
	// Agent.mu.
	stop context.CancelCauseFunc
}

// New returns an Agent. It does no I/O.
func New(o Options) (*Agent, error) {
	switch {
	case o.Config == nil:
		return nil, errors.New("agent: Options.Config is nil")
	case o.Store == nil:
		return nil, errors.New("agent: Options.Store is nil")
	case o.Models == nil:
		return nil, errors.New("agent: Options.Models is nil")
	}
	a := &Agent{
		db:        o.Store.SQL(),
		models:    o.Models,
		workspace: o.Workspace,
		log:       o.Logger,
		redactor:  o.Redactor,
		now:       o.Now,
		onBudget:  o.OnBudgetExhausted,
		sessions:  make(map[string]*session),
		stmts:     make(map[string]*sql.Stmt),
		writeMu:   o.Store.WriteLock(),
	}
	if o.Tools == nil {
		o.Tools = tool.NewRegistry(tool.Builtins()...)
	}
	a.tools.Store(o.Tools)
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	a.log = a.log.With(keyComponent, "agent")
	if a.redactor == nil {
		a.redactor = secret.NewRedactor()
	}
	if a.now == nil {
		a.now = time.Now
	}
	a.cfg.Store(o.Config)
	return a, nil
}

// Reload makes cfg the configuration of turns that start from now on;
// running turns finish with the one they started with. A nil cfg is
// ignored.
func (a *Agent) Reload(cfg *config.Config) {
	if cfg != nil {
		a.cfg.Store(cfg)
	}
}

// SetTools makes reg the tools of turns that start from now on; running
// turns finish with the tools they started with. A nil reg is ignored.
func (a *Agent) SetTools(reg *tool.Registry) {
	if reg != nil {
		a.tools.Store(reg)
	}
}

// settings are the values a turn reads from the config, with defaults
// for zeros so that a hand-built Config works.
type settings struct {
	dmScope       string
	maxToolRounds int
	timeout       time.Duration
	contextTokens int
	budget        config.Budget
	tools         *tool.Registry
	policy        tool.Policy
	workspace     string
	primary       string
}

func (a *Agent) settings() settings {
	cfg := a.cfg.Load()
	d := cfg.Agents.Defaults
	s := settings{
		dmScope:       cfg.Session.DMScope,
		maxToolRounds: d.MaxToolRounds,
		timeout:       time.Duration(d.TimeoutSeconds) * time.Second,
		contextTokens: d.ContextTokens,
		budget:        d.Budget,
		tools:         a.tools.Load(),
		policy:        tool.NewPolicy(cfg, tool.DefaultAgentID),
		workspace:     a.workspace,
		primary:       d.Model.Primary,
	}
	if s.maxToolRounds <= 0 {
		s.maxToolRounds = 20
	}
	if s.timeout <= 0 {
		s.timeout = 600 * time.Second
	}
	if s.contextTokens <= 0 {
		s.contextTokens = 100000
	}
	if s.workspace == "" {
		s.workspace = d.Workspace
	}
	return s
}

// acquire waits for key's turn slot, or for ctx to end.
func (a *Agent) acquire(ctx context.Context, key string) (*session, error) {
	if ctx.Err() != nil {
		// select would pick a free slot or a done ctx at random.
		return nil, fmt.Errorf("wait for the session's running turn: %w", context.Cause(ctx))
	}
	a.mu.Lock()
	s := a.sessions[key]
	if s == nil {
		s = &session{sem: make(chan struct{}, 1)}
		a.sessions[key] = s
	}
	s.refs++
	a.mu.Unlock()
	select {
	case s.sem <- struct{}{}:
		return s, nil
	case <-ctx.Done():
		a.drop(key, s)
		return nil, fmt.Errorf("wait for the session's running turn: %w", context.Cause(ctx))
	}
}

// release frees the slot acquire took.
func (a *Agent) release(key string, s *session) {
	<-s.sem
	a.drop(key, s)
}

func (a *Agent) drop(key string, s *session) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s.refs--
	if s.refs == 0 {
		delete(a.sessions, key)
	}
}

// setStop records (or, with nil, clears) the cancel func of the turn
// running in s.
func (a *Agent) setStop(s *session, stop context.CancelCauseFunc) {
	a.mu.Lock()
	s.stop = stop
	a.mu.Unlock()
}

// stopRunning cancels the turn running in key, if any, without waiting for
// it. It reports whether there was one.
func (a *Agent) stopRunning(key string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.sessions[key]
	if s == nil || s.stop == nil {
		return false
	}
	s.stop(ErrStopped)
	return true
}

// Errors a turn returns.
var (
	// ErrStopped is the error of a turn that /stop cancelled. It wraps
	// context.Canceled.
	ErrStopped = fmt.Errorf("turn stopped with /stop: %w", context.Canceled)
	// ErrNoSession is returned for a session key that has no session.
	ErrNoSession = errors.New("no such session")
)

// timeoutError is the cause of a turn that ran past its deadline.
type timeoutError struct{ d time.Duration }

func (e *timeoutError) Error() string {
	return fmt.Sprintf("turn ran out of time after %s: raise agents.defaults.timeoutSeconds with gatehouse config set agents.defaults.timeoutSeconds %d",
		e.d, max(2*int(e.d/time.Second), 60))
}

func (e *timeoutError) Unwrap() error { return context.DeadlineExceeded }
