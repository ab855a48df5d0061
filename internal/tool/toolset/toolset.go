// Package toolset assembles the tools a gateway offers for one
// configuration. The gateway builds the agent's registry with it, and the
// CLI's `sandbox explain` and `sandbox exec` build the very same tools, so
// that what the owner tests is what the agent gets.
package toolset

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"

	"gatehouse/internal/config"
	"gatehouse/internal/sandbox"
	"gatehouse/internal/tool"
)

// Deps are what the tools need besides the configuration.
type Deps struct {
	// Workspace is the resolved workspace directory; StateDir the
	// gateway's state directory (never visible to a sandbox).
	Workspace string
	StateDir  string
	// Sandbox opens (or returns the open) sandbox for cfg and opts.
	Sandbox func(ctx context.Context, cfg config.Sandbox, opts sandbox.Options) (sandbox.Sandbox, error)
	// Approvals queues elevated commands for the owner.
	Approvals *tool.Approvals
	// Web builds web_fetch and web_search; nil offers neither.
	Web    func(cfg *config.Config) []tool.Tool
	Logger *slog.Logger
}

// Build returns the tools for cfg. What is not built does not exist for
// the agent at all, whatever the policy says: no write or edit unless the
// workspace is rw, no file tools when it is none, no exec when the sandbox
// is off and elevated execution is too, no web_search without a provider.
func Build(cfg *config.Config, d Deps) *tool.Registry {
	sb := cfg.Agents.Defaults.Sandbox
	tools := []tool.Tool{tool.NewTimeNow(nil), tool.NewSessionStatus(), tool.MessageTool{}}
	if WorkspaceHoldsState(d.Workspace, d.StateDir) {
		// The file tools would reach the config, the secret store and the
		// pairing database: the agent gets none of them.
		if d.Logger != nil {
			d.Logger.Error("the workspace contains the state directory: file and memory tools are off; "+
				"set agents.defaults.workspace to a directory of its own", "workspace", d.Workspace)
		}
	} else {
		tools = append(tools, tool.FileTools(d.Workspace, sb.WorkspaceAccess)...)
		tools = append(tools, tool.MemoryTools(d.Workspace, nil)...)
	}
	if ex := Exec(cfg, d); ex != nil {
		tools = append(tools, ex)
	}
	if d.Web != nil {
		tools = append(tools, d.Web(cfg)...)
	}
	return tool.NewRegistry(tools...)
}

// Exec returns the exec tool for cfg, nil when nothing may run.
func Exec(cfg *config.Config, d Deps) *tool.ExecTool {
	sb := cfg.Agents.Defaults.Sandbox
	el := cfg.Tools.Elevated
	if sb.Mode == "off" && !el.Enabled {
		return nil
	}
	log := d.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts := sandbox.OptionsFrom(sb, d.Workspace, d.StateDir)
	eo := tool.ExecOptions{
		Scope:     sb.Scope,
		Limits:    opts.Limits,
		Elevated:  el,
		Approvals: d.Approvals,
		Workspace: d.Workspace,
		Logger:    log.With("component", "exec"),
	}
	if sb.Mode != "off" && d.Sandbox != nil {
		eo.Sandbox = func(ctx context.Context) (sandbox.Sandbox, error) {
			return d.Sandbox(ctx, sb, opts)
		}
	}
	return tool.NewExec(eo)
}

// WorkspaceHoldsState reports whether the workspace is the state
// directory or one of its parents, after resolving symbolic links.
func WorkspaceHoldsState(workspace, stateDir string) bool {
	if workspace == "" || stateDir == "" {
		return false
	}
	ws, err1 := filepath.EvalSymlinks(workspace)
	st, err2 := filepath.EvalSymlinks(stateDir)
	if err1 != nil {
		ws = filepath.Clean(workspace)
	}
	if err2 != nil {
		st = filepath.Clean(stateDir)
	}
	rel, err := filepath.Rel(ws, st)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}
