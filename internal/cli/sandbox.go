package cli

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"gatehouse/internal/config"
	"gatehouse/internal/egress"
	"gatehouse/internal/sandbox"
	"gatehouse/internal/sandbox/backend"
	"gatehouse/internal/sandbox/docker"
	"gatehouse/internal/state"
	"gatehouse/internal/tool"
	"gatehouse/internal/tool/toolset"
	"gatehouse/internal/tool/webtool"
)

// sandboxEnv is what the sandbox commands work from: the config, the
// workspace and the sandbox the gateway would open.
type sandboxEnv struct {
	d    state.Dir
	cfg  *config.Config
	ws   string
	opts sandbox.Options
}

func (e *env) sandboxEnv() (*sandboxEnv, error) {
	d, f, err := e.loadConfig()
	if err != nil {
		return nil, err
	}
	cfg := f.Config()
	ws := e.workspaceDir(d, cfg)
	return &sandboxEnv{d: d, cfg: cfg, ws: ws, opts: sandbox.OptionsFrom(cfg.Agents.Defaults.Sandbox, ws, d.Root)}, nil
}

func (s *sandboxEnv) open(ctx context.Context) (sandbox.Sandbox, error) {
	return backend.Open(ctx, s.cfg.Agents.Defaults.Sandbox, s.opts, slog.New(slog.DiscardHandler))
}

// deps are the tool dependencies of the CLI: the same sandbox, no
// approvals (elevated commands are the gateway's), no web.
func (s *sandboxEnv) deps(sb sandbox.Sandbox) toolset.Deps {
	return toolset.Deps{
		Workspace: s.ws,
		StateDir:  s.d.Root,
		Sandbox: func(context.Context, config.Sandbox, sandbox.Options) (sandbox.Sandbox, error) {
			if sb == nil {
				return nil, errors.New("no sandbox")
			}
			return sb, nil
		},
		Web: func(cfg *config.Config) []tool.Tool {
			// Only which tools exist matters here: no key is read.
			w := cfg.Tools.Web
			if w.Search.Provider != "" {
				if _, search, err := webtool.FromConfig(w, "explain", egress.Options{}); err != nil || search == nil {
					w.Search.Provider = ""
				}
			}
			fetch, search, err := webtool.FromConfig(w, "explain", egress.Options{})
			if err != nil {
				return nil
			}
			if search != nil {
				return []tool.Tool{fetch, search}
			}
			return []tool.Tool{fetch}
		},
	}
}

func newSandboxCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Inspect and test the sandbox the agent's tools run in",
		Long: `Every command the agent runs (the exec tool) runs in a sandbox: by default
the native Linux sandbox built into this binary (user, mount, pid, network,
ipc and uts namespaces, Landlock, seccomp, rlimits, cgroups where
delegated), or a Docker/Podman container with
agents.defaults.sandbox.backend docker. A layer that cannot be applied stops
the sandbox (fail closed) unless agents.defaults.sandbox.native.allowWithout
names it.`,
		Example: `  gatehouse sandbox status
  gatehouse sandbox explain
  gatehouse sandbox exec -- sh -c 'id; ls /workspace'`,
	}
	cmd.AddCommand(newSandboxStatusCmd(e), newSandboxExplainCmd(e), newSandboxExecCmd(e),
		newSandboxBuildCmd(e), newSandboxPruneCmd(e))
	return cmd
}

func newSandboxStatusCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "status",
		Short:   "Show the backend and what each isolation layer does on this host",
		Example: "  gatehouse sandbox status --json",
		Long:    "Exits 0 when the sandbox can run, 1 when a layer is missing or the backend is unavailable.",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := e.sandboxEnv()
			if err != nil {
				return err
			}
			sc := s.cfg.Agents.Defaults.Sandbox
			out := map[string]any{"mode": sc.Mode, "backend": backend.Name(sc), "scope": sc.Scope,
				"workspaceAccess": sc.WorkspaceAccess, "ready": false}
			sb, err := s.open(cmd.Context())
			if err != nil {
				out["error"] = err.Error()
			} else {
				defer sb.Close()
				layers := sb.Layers(cmd.Context())
				out["layers"] = layers
				out["ready"] = true
				for _, l := range layers {
					if l.State == sandbox.LayerMissing {
						out["ready"] = false
					}
				}
			}
			if e.json {
				if err := e.printJSON(out); err != nil {
					return err
				}
			} else {
				e.printf("mode %s, backend %s, scope %s, workspace %s\n", sc.Mode, out["backend"], sc.Scope, sc.WorkspaceAccess)
				if err != nil {
					e.printf("unavailable: %v\n", err)
				}
				if ls, ok := out["layers"].([]sandbox.Layer); ok {
					for _, l := range ls {
						e.printf("  %-13s %-8s %s\n", l.Name, l.State, l.Detail)
					}
				}
				if sc.Mode == "off" {
					e.printf("the sandbox is off: exec runs only as an elevated command, if tools.elevated allows it\n")
				}
			}
			if out["ready"] != true {
				return &codeError{code: exitError}
			}
			return nil
		},
	}
}

func newSandboxExplainCmd(e *env) *cobra.Command {
	var session string
	c := &cobra.Command{
		Use:     "explain",
		Short:   "Show what the agent would get: mounts, network, limits and tools",
		Example: "  gatehouse sandbox explain --session agent:main:telegram:dm:123456789",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := e.sandboxEnv()
			if err != nil {
				return err
			}
			sc := s.cfg.Agents.Defaults.Sandbox
			sb, openErr := s.open(cmd.Context())
			if sb != nil {
				defer sb.Close()
			}
			reg := toolset.Build(s.cfg, s.deps(sb))
			policy := tool.NewPolicy(s.cfg, tool.DefaultAgentID)
			var tools []string
			for _, spec := range reg.Specs(policy.Allows) {
				tools = append(tools, spec.Name)
			}
			out := map[string]any{"mode": sc.Mode, "tools": tools, "scope": tool.ScopeKey(sc.Scope, session)}
			if sb != nil {
				out["sandbox"] = sb.Explain(cmd.Context(), tool.ScopeKey(sc.Scope, session))
			} else if sc.Mode != "off" {
				out["error"] = openErr.Error()
			}
			if e.json {
				return e.printJSON(out)
			}
			e.printf("tools: %s\n", strings.Join(tools, ", "))
			if sc.Mode == "off" {
				e.printf("sandbox: off\n")
				return nil
			}
			if sb == nil {
				e.printf("sandbox: unavailable: %v\n", openErr)
				return nil
			}
			x := sb.Explain(cmd.Context(), tool.ScopeKey(sc.Scope, session))
			e.printf("backend %s, scope %q, user %s, network %s\n", x.Backend, x.Scope, x.User, x.Network)
			e.printf("mounts:\n")
			for _, m := range x.Mounts {
				e.printf("  %-14s %-3s %s\n", m.Target, m.Mode, m.Source)
			}
			l := x.Limits
			e.printf("limits: memory %d MiB, %d processes, %d s CPU, %d open files, files up to %d MiB, /tmp %d MiB, timeout %s\n",
				l.MemoryBytes>>20, l.Pids, l.CPUSeconds, l.OpenFiles, l.FileSizeBytes>>20, l.TmpfsBytes>>20, l.Timeout)
			for _, ly := range x.Layers {
				e.printf("  %-13s %-8s %s\n", ly.Name, ly.State, ly.Detail)
			}
			return nil
		},
	}
	c.Flags().StringVar(&session, "session", "agent:main:main", "session key whose sandbox to describe")
	return c
}

func newSandboxExecCmd(e *env) *cobra.Command {
	var session, workdir string
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "exec [--session KEY] -- CMD [ARGS...]",
		Short: "Run a command exactly as the agent's exec tool would",
		Long: `Runs CMD in the sandbox with the configuration's backend, workspace access,
limits and scope, exactly as the exec tool runs the agent's commands, and
exits with its exit status (124 when it timed out).`,
		Example: `  gatehouse sandbox exec -- id
  gatehouse sandbox exec -- sh -c 'cat /etc/shadow'`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := e.sandboxEnv()
			if err != nil {
				return err
			}
			if s.cfg.Agents.Defaults.Sandbox.Mode == "off" {
				return errors.New("the sandbox is off (agents.defaults.sandbox.mode off): nothing runs sandboxed; turn it on with gatehouse config set agents.defaults.sandbox.mode all")
			}
			sb, err := s.open(cmd.Context())
			if err != nil {
				return err
			}
			defer sb.Close()
			ex := toolset.Exec(s.cfg, s.deps(sb))
			res, err := ex.RunSandboxed(cmd.Context(), session, args, nil, workdir, timeout)
			if err != nil {
				return err
			}
			if e.json {
				if err := e.printJSON(map[string]any{"output": string(res.Output), "result": res}); err != nil {
					return err
				}
			} else {
				os.Stdout.Write(res.Output)
				if res.Truncated {
					e.warnf("output cut at %d KiB\n", len(res.Output)>>10)
				}
			}
			switch {
			case res.TimedOut:
				e.warnf("killed with its children: timed out\n")
				return &codeError{code: 124}
			case res.ExitCode != 0:
				return &codeError{code: exitCodeOf(res)}
			}
			return nil
		},
	}
	c.Flags().StringVar(&session, "session", "agent:main:main", "session key whose sandbox to use")
	c.Flags().StringVar(&workdir, "workdir", "", "working directory inside the sandbox (default /workspace)")
	c.Flags().DurationVar(&timeout, "timeout", 0, "time limit (default and maximum agents.defaults.sandbox.limits.timeoutSeconds)")
	return c
}

// exitCodeOf maps a command's end to an exit status, as shells do.
func exitCodeOf(r *sandbox.Result) int {
	if r.ExitCode < 0 || r.Signal != "" {
		return 128 + 9
	}
	return min(r.ExitCode, 255)
}

func newSandboxPruneCmd(e *env) *cobra.Command {
	var idle time.Duration
	c := &cobra.Command{
		Use:     "prune",
		Short:   "Remove sandbox containers idle for a while (docker backend)",
		Example: "  gatehouse sandbox prune --idle 30m",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := e.sandboxEnv()
			if err != nil {
				return err
			}
			sb, err := s.open(cmd.Context())
			if err != nil {
				return err
			}
			defer sb.Close()
			n, err := sb.Prune(cmd.Context(), idle)
			if err != nil {
				return err
			}
			if e.json {
				return e.printJSON(map[string]any{"removed": n, "backend": sb.Backend()})
			}
			e.printf("removed %d idle sandbox%s (%s backend)\n", n, plural(n, "es"), sb.Backend())
			return nil
		},
	}
	c.Flags().DurationVar(&idle, "idle", 0, "remove only sandboxes idle at least this long (default: every one)")
	return c
}

func plural(n int, s string) string {
	if n == 1 {
		return ""
	}
	return s
}

func newSandboxBuildCmd(e *env) *cobra.Command {
	var base, tag string
	var noCache bool
	c := &cobra.Command{
		Use:   "build",
		Short: "Build the default sandbox container image (docker backend)",
		Long: `Builds the sandbox image (default gatehouse-sandbox:bookworm-slim) through the
Docker Engine API of agents.defaults.sandbox.docker.host (or DOCKER_HOST, or
the Docker or Podman socket found here), from the Dockerfile embedded in this
binary, printing the engine's progress. The engine pulls the base image
(--base, default debian:bookworm-slim); build steps get no network.`,
		Example: `  gatehouse sandbox build
  gatehouse sandbox build --base debian:bookworm-slim --tag gatehouse-sandbox:bookworm-slim`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := e.sandboxEnv()
			if err != nil {
				return err
			}
			if tag == "" {
				tag = s.cfg.Agents.Defaults.Sandbox.Docker.Image
			}
			sb, err := docker.New(cmd.Context(), s.opts)
			if err != nil {
				return err
			}
			defer sb.Close()
			progress := e.stdout
			if e.json {
				progress = e.stderr
			}
			if err := sb.Build(cmd.Context(), progress, docker.BuildOptions{Tag: tag, Base: base, NoCache: noCache}); err != nil {
				return err
			}
			if tag == "" {
				tag = docker.DefaultImage
			}
			if e.json {
				return e.printJSON(map[string]any{"image": tag, "built": true})
			}
			e.printf("built %s\n", tag)
			return nil
		},
	}
	c.Flags().StringVar(&base, "base", "", "base image (default "+docker.DefaultBase+")")
	c.Flags().StringVar(&tag, "tag", "", "image to build (default agents.defaults.sandbox.docker.image, else "+docker.DefaultImage+")")
	c.Flags().BoolVar(&noCache, "no-cache", false, "rebuild every step")
	return c
}
