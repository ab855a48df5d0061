package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"gatehouse/internal/agent"
	"gatehouse/internal/config"
	"gatehouse/internal/llm"
	"gatehouse/internal/llm/providers"
	"gatehouse/internal/secret"
	"gatehouse/internal/store"
	"gatehouse/internal/tool"
)

// models is the agent's view of the LLM router, swapped on reload so that
// the agent (and its per-session queues) outlives config changes.
type models struct {
	r atomic.Pointer[llm.Router]
}

func (m *models) Chat(ctx context.Context, req *llm.Request, onDelta func(string)) (*llm.Response, llm.Ref, error) {
	r := m.r.Load()
	if r == nil {
		return nil, llm.Ref{}, errors.New("no model is configured: run gatehouse config set agents.defaults.model.primary PROVIDER/MODEL")
	}
	return r.Chat(ctx, req, onDelta)
}

func (m *models) Cost(ref llm.Ref, u llm.Usage) float64 {
	if r := m.r.Load(); r != nil {
		return r.Cost(ref, u)
	}
	return 0
}

// agentRuntime is the agent side of a running gateway: providers, router and
// agent, rebuilt from each config the gateway loads.
type agentRuntime struct {
	o     RunOptions
	db    *store.DB
	log   *slog.Logger
	hc    *http.Client
	model models

	// approvals holds elevated commands waiting for the owner.
	approvals *tool.Approvals
	sandboxes sandboxes

	mu     sync.Mutex // guards agent and notify
	agent  *agent.Agent
	notify func(ctx context.Context, text string)
}

// current is the agent, or nil while none is configured.
func (rt *agentRuntime) current() *agent.Agent {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.agent
}

// setNotify sets how the owner is told about the budget: through the
// channels, once they exist.
func (rt *agentRuntime) setNotify(f func(ctx context.Context, text string)) {
	rt.mu.Lock()
	rt.notify = f
	rt.mu.Unlock()
}

// resolveSecret resolves a config secret from the store or environment.
func (rt *agentRuntime) resolveSecret(s config.Secret) (string, error) {
	v, err := s.Resolve(rt.secretLookup, rt.o.LookupEnv)
	if err == nil {
		rt.o.Redactor.Add(v)
	}
	return v, err
}

func newRuntime(o RunOptions, db *store.DB, log *slog.Logger) *agentRuntime {
	rt := &agentRuntime{
		o:   o,
		db:  db,
		log: log,
		// Provider calls stream for minutes; the turn's context bounds them.
		hc: &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			MaxIdleConnsPerHost:   8,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 5 * time.Minute,
			ForceAttemptHTTP2:     true,
		}},
	}
	rt.approvals = tool.NewApprovals(rt.notifyApproval)
	return rt
}

// secretLookup opens the secret store on demand.
func (rt *agentRuntime) secretLookup(name string) (string, error) {
	s, err := secret.OpenStoreWith(rt.o.Dir.Secrets(), rt.o.Dir.SecretKey(), rt.o.Getenv)
	if err != nil {
		return "", err
	}
	return s.Get(name)
}

// apply builds the router for cfg and installs or reconfigures the agent.
// It returns the agent (nil when no model is usable) and, then, why.
func (rt *agentRuntime) apply(cfg *config.Config) (*agent.Agent, string) {
	primary := cfg.Agents.Defaults.Model.Primary
	if primary == "" {
		rt.model.r.Store(nil)
		return rt.agentFor(cfg), ""
	}
	provs, err := providers.FromConfig(cfg, rt.secretLookup, rt.o.LookupEnv, rt.hc)
	if err != nil {
		rt.log.Error("models are not usable; the agent is off until this is fixed", "err", err)
		rt.model.r.Store(nil)
		return nil, err.Error()
	}
	r, err := llm.NewRouter(llm.RouterOptions{
		Providers: provs,
		Primary:   primary,
		Fallbacks: cfg.Agents.Defaults.Model.Fallbacks,
		Pricing:   cfg.Models.Pricing,
		Logger:    rt.log,
	})
	if err != nil {
		rt.log.Error("models are not usable; the agent is off until this is fixed", "err", err)
		rt.model.r.Store(nil)
		return nil, err.Error()
	}
	rt.model.r.Store(r)
	return rt.agentFor(cfg), ""
}

// agentFor creates the agent on first use and reconfigures it after.
func (rt *agentRuntime) agentFor(cfg *config.Config) *agent.Agent {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.agent != nil {
		rt.agent.SetTools(rt.toolset(cfg))
		rt.agent.Reload(cfg)
		return rt.agent
	}
	a, err := agent.New(agent.Options{
		Config:    cfg,
		Store:     rt.db,
		Models:    &rt.model,
		Tools:     rt.toolset(cfg),
		Workspace: rt.workspaceDir(cfg),
		Logger:    rt.log,
		Redactor:  rt.o.Redactor,
		OnBudgetExhausted: func(ctx context.Context, msg string) {
			rt.log.Warn("daily budget reached; turns are refused until it is raised or the UTC day ends", "detail", msg)
			rt.mu.Lock()
			notify := rt.notify
			rt.mu.Unlock()
			if notify != nil {
				notify(ctx, "Gatehouse: "+msg)
			}
		},
	})
	if err != nil {
		rt.log.Error("agent did not start", "err", err)
		return nil
	}
	rt.agent = a
	return a
}

// status describes the providers for models.status, without keys.
func (rt *agentRuntime) status(cfg func() *config.Config) func() any {
	return func() any {
		c := cfg()
		out := map[string]any{
			"primary":   c.Agents.Defaults.Model.Primary,
			"fallbacks": c.Agents.Defaults.Model.Fallbacks,
			"providers": providers.Describe(c, rt.secretLookup, rt.o.LookupEnv),
		}
		if r := rt.model.r.Load(); r != nil {
			out["models"] = r.Status()
		}
		return out
	}
}
