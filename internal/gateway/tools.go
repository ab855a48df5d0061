package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/egress"
	"gatehouse/internal/sandbox"
	"gatehouse/internal/sandbox/backend"
	"gatehouse/internal/tool"
	"gatehouse/internal/tool/toolset"
	"gatehouse/internal/tool/webtool"
	"gatehouse/internal/workspace"
)

// sandboxes opens the configured sandbox on first use and again when its
// settings change; sandboxes replaced by a reload are closed at shutdown
// (a turn may still be using one).
type sandboxes struct {
	mu      sync.Mutex
	key     string
	current sandbox.Sandbox
	old     []sandbox.Sandbox
}

// get returns the sandbox for cfg and opts.
func (s *sandboxes) get(ctx context.Context, rt *agentRuntime, cfg config.Sandbox, opts sandbox.Options) (sandbox.Sandbox, error) {
	b, _ := json.Marshal(struct {
		B string
		O sandbox.Options
	}{backend.Name(cfg), opts})
	key := string(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.current != nil && s.key == key {
		return s.current, nil
	}
	sb, err := backend.Open(ctx, cfg, opts, rt.log)
	if err != nil {
		return nil, err
	}
	if s.current != nil {
		s.old = append(s.old, s.current)
	}
	s.current, s.key = sb, key
	return sb, nil
}

// prune removes idle sandboxes of the current backend.
func (s *sandboxes) prune(ctx context.Context, idle time.Duration) (int, error) {
	s.mu.Lock()
	sb := s.current
	s.mu.Unlock()
	if sb == nil {
		return 0, nil
	}
	return sb.Prune(ctx, idle)
}

// close closes every sandbox opened.
func (s *sandboxes) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sb := range append(s.old, s.current) {
		if sb != nil {
			_ = sb.Close()
		}
	}
	s.old, s.current = nil, nil
}

// workspaceDir is the agent's workspace for cfg.
func (rt *agentRuntime) workspaceDir(cfg *config.Config) string {
	home, _ := os.UserHomeDir()
	return workspace.Resolve(cfg.Agents.Defaults.Workspace, rt.o.Dir.Workspace(), home)
}

// toolset builds the tools a gateway running cfg offers.
func (rt *agentRuntime) toolset(cfg *config.Config) *tool.Registry {
	return toolset.Build(cfg, toolset.Deps{
		Workspace: rt.workspaceDir(cfg),
		StateDir:  rt.o.Dir.Root,
		Sandbox: func(ctx context.Context, c config.Sandbox, opts sandbox.Options) (sandbox.Sandbox, error) {
			return rt.sandboxes.get(ctx, rt, c, opts)
		},
		Approvals: rt.approvals,
		Web:       rt.webTools,
		Logger:    rt.log,
	})
}

// notifyApproval tells the owner an elevated command waits for them.
func (rt *agentRuntime) notifyApproval(ctx context.Context, r tool.ApprovalRequest) {
	rt.log.Warn("elevated command waiting for the owner's approval", "approval", r.ID,
		"executable", r.Executable, "dir", r.Dir, "channel", r.Channel, "sender", r.SenderID)
	rt.mu.Lock()
	notify := rt.notify
	rt.mu.Unlock()
	if notify == nil {
		return
	}
	argv, _ := json.Marshal(r.Argv)
	text := fmt.Sprintf("Gatehouse: the agent asks to run on the host:\n%s\nexecutable %s, in %s.\n"+
		"On the gateway host: gatehouse approvals approve %s (or deny %s). It expires at %s UTC.",
		clipText(string(argv), 600), r.Executable, r.Dir, r.ID, r.ID, r.Expires.UTC().Format("15:04:05"))
	notify(context.WithoutCancel(ctx), text)
}

func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// webTools are web_fetch and, with a provider, web_search. They run in the
// gateway through the egress guard; a misconfigured search is logged and
// left out rather than taking web_fetch with it.
func (rt *agentRuntime) webTools(cfg *config.Config) []tool.Tool {
	w := cfg.Tools.Web
	var key string
	if w.Search.Provider != "" && !w.Search.APIKey.IsZero() {
		k, err := rt.resolveSecret(w.Search.APIKey)
		if err != nil {
			rt.log.Error("web_search is off: its API key cannot be read", "err", err)
			w.Search.Provider = ""
		}
		key = k
	}
	base := egress.Options{Logger: rt.log.With(keyComponent, "egress")}
	fetch, search, err := webtool.FromConfig(w, key, base)
	if err != nil && w.Search.Provider != "" {
		rt.log.Error("web_search is off", "err", err)
		w.Search.Provider = ""
		fetch, search, err = webtool.FromConfig(w, "", base)
	}
	if err != nil {
		rt.log.Error("web tools are off", "err", err)
		return nil
	}
	out := []tool.Tool{fetch}
	if search != nil {
		out = append(out, search)
	}
	return out
}

// pruneLoop removes idle sandbox containers every few minutes until ctx
// ends.
func (rt *agentRuntime) pruneLoop(ctx context.Context, cfg func() *config.Config) {
	t := time.NewTicker(5 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		idle := time.Duration(cfg().Agents.Defaults.Sandbox.Docker.PruneAfterMinutes) * time.Minute
		if idle <= 0 {
			idle = 30 * time.Minute
		}
		if n, err := rt.sandboxes.prune(ctx, idle); err != nil {
			rt.log.Warn("sandbox prune failed", "err", err)
		} else if n > 0 {
			rt.log.Info("idle sandboxes removed", "count", n)
		}
	}
}
