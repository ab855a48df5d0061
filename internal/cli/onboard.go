package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/spf13/cobra"

	"gatehouse/internal/config"
	"gatehouse/internal/secret"
	"gatehouse/internal/state"
	"gatehouse/internal/store"
	"gatehouse/internal/workspace"
)

// tokenSecretName is the secret store name of the gateway token.
const tokenSecretName = "gateway.auth.token"

type onboardOptions struct {
	nonInteractive bool
	acceptRisk     bool
	mode           string
	port           int
	workspace      string
	model          string
	remoteURL      string
}

// onboardResult is what `onboard --json` prints.
type onboardResult struct {
	StateDir     string   `json:"stateDir"`
	Config       string   `json:"config"`
	ConfigExists bool     `json:"configExisted"`
	TokenCreated bool     `json:"tokenCreated"`
	Workspace    string   `json:"workspace"`
	Created      []string `json:"created"`
	Tightened    []string `json:"tightened"`
	Database     string   `json:"database"`
	Next         []string `json:"next"`
}

func newOnboardCmd(e *env) *cobra.Command {
	o := onboardOptions{}
	cmd := &cobra.Command{
		Use:   "onboard",
		Short: "Create the state directory, config, gateway token, workspace and database",
		Long: `Set up Gatehouse in the state directory (~/.gatehouse by default): a config
with the secure defaults, a fresh 256-bit gateway token in the encrypted
secret store, the agent workspace (SOUL.md, AGENTS.md, USER.md) and the
database. Running it again keeps what exists and adds what is missing.

Without --non-interactive it asks its questions on the terminal.`,
		Example: `  gatehouse onboard --non-interactive --accept-risk --mode local
  gatehouse onboard`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.mode != "local" && o.mode != "remote" {
				return usageErrorf("--mode must be local or remote, got %q", o.mode)
			}
			if !o.nonInteractive {
				if !isTerminal(e.stdin) {
					return usageErrorf("onboard asks questions on a terminal: run it in one, or pass --non-interactive")
				}
				if err := e.askOnboard(cmd, &o); err != nil {
					return err
				}
			}
			res, err := e.onboard(cmd.Context(), o)
			if err != nil {
				return err
			}
			if e.json {
				return e.printJSON(res)
			}
			if res.ConfigExists {
				e.printf("Gatehouse is already onboarded in %s; kept the existing config.\n", res.StateDir)
			} else {
				e.printf("Gatehouse is set up in %s.\n", res.StateDir)
			}
			for _, c := range res.Created {
				e.printf("  created %s\n", c)
			}
			for _, c := range res.Tightened {
				e.printf("  tightened %s to 700/600\n", c)
			}
			if res.TokenCreated {
				e.printf("  gateway token: 256 bits, in the encrypted secret store (the CLI reads it from there)\n")
			}
			e.printf("\nNext:\n")
			for _, n := range res.Next {
				e.printf("  %s\n", n)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.nonInteractive, "non-interactive", false, "ask nothing; use defaults and flags")
	f.BoolVar(&o.acceptRisk, "accept-risk", false, "accepted for compatibility with the seed guides; Gatehouse's defaults need no risk acceptance")
	f.StringVar(&o.mode, "mode", "local", "local (this host runs the gateway) or remote")
	f.IntVar(&o.port, "port", 0, "gateway port (default 18789)")
	f.StringVar(&o.workspace, "workspace", "", "agent workspace directory (default <state dir>/workspace)")
	f.StringVar(&o.model, "model", "", "primary model, provider/model (e.g. anthropic/claude-sonnet-4-5)")
	f.StringVar(&o.remoteURL, "remote-url", "", "with --mode remote: ws:// or wss:// URL of the gateway")
	return cmd
}

// askOnboard asks the onboarding questions on a terminal.
func (e *env) askOnboard(cmd *cobra.Command, o *onboardOptions) error {
	r := bufio.NewReader(e.stdin)
	ask := func(q, def string) (string, error) {
		fmt.Fprintf(e.stderr, "%s [%s]: ", q, def)
		s, err := readLine(r)
		if err != nil {
			return "", err
		}
		if s == "" {
			return def, nil
		}
		return s, nil
	}
	var err error
	if o.mode, err = ask("Gateway mode (local runs it here; remote uses another host's)", o.mode); err != nil {
		return err
	}
	if o.mode == "remote" {
		if o.remoteURL, err = ask("Remote gateway URL (wss://…)", o.remoteURL); err != nil {
			return err
		}
		return nil
	}
	port := strconv.Itoa(config.DefaultPort)
	if o.port != 0 {
		port = strconv.Itoa(o.port)
	}
	if port, err = ask("Port (the gateway listens on 127.0.0.1 only)", port); err != nil {
		return err
	}
	if o.port, err = strconv.Atoi(port); err != nil {
		return usageErrorf("port %q is not a number", port)
	}
	if o.model, err = ask("Primary model, provider/model (empty: set later)", o.model); err != nil {
		return err
	}
	return nil
}

// onboard makes the state directory ready. It is idempotent: existing files
// are kept, missing pieces are added.
func (e *env) onboard(ctx context.Context, o onboardOptions) (*onboardResult, error) {
	d, err := e.dir()
	if err != nil {
		return nil, err
	}
	if err := d.Ensure(); err != nil {
		return nil, fmt.Errorf("state dir %s: %w", d.Root, err)
	}
	res := &onboardResult{StateDir: d.Root, Config: d.Config(), Database: d.Database(), Created: []string{}, Tightened: []string{}}
	// A state dir made by hand (the seed guides mkdir it with the user's
	// umask) is tightened to 700/600 here, as the guides' chmod step does.
	fixed, err := state.FixTree(d.Root)
	if err != nil {
		return nil, fmt.Errorf("state dir %s: %w", d.Root, err)
	}
	for _, p := range fixed {
		res.Tightened = append(res.Tightened, p.Path)
	}

	f, err := config.Load(d.Config())
	if err != nil {
		return nil, fmt.Errorf("config %s: %w (fix it, or move it away and onboard again)", d.Config(), err)
	}
	res.ConfigExists = f.Exists
	if !f.Exists {
		cfg := config.Default()
		cfg.Gateway.Mode = o.mode
		cfg.Gateway.Auth.Token = config.Secret{Ref: tokenSecretName}
		if o.port != 0 {
			cfg.Gateway.Port = o.port
		}
		if o.workspace != "" {
			cfg.Agents.Defaults.Workspace = o.workspace
		}
		if o.model != "" {
			cfg.Agents.Defaults.Model.Primary = o.model
		}
		if o.mode == "remote" {
			if o.remoteURL == "" {
				return nil, usageErrorf("--mode remote needs --remote-url wss://HOST/ws; store its token with gatehouse secrets set gateway.remote.token")
			}
			cfg.Gateway.Remote.URL = o.remoteURL
			cfg.Gateway.Remote.Token = config.Secret{Ref: "gateway.remote.token"}
		}
		if err := cfg.Validate(); err != nil {
			return nil, err
		}
		f, err = config.FromConfig(d.Config(), cfg)
		if err != nil {
			return nil, err
		}
		if err := f.Save(); err != nil {
			return nil, err
		}
		res.Created = append(res.Created, d.Config())
	}
	cfg := f.Config()

	// The gateway token: make one when the config asks for a stored token
	// that does not exist yet, or names none at all.
	if cfg.Gateway.Mode == "local" && cfg.Gateway.Auth.Mode == "token" {
		created, err := e.ensureToken(d, f)
		if err != nil {
			return nil, err
		}
		res.TokenCreated = created
		cfg = f.Config()
	}

	ws := e.workspaceDir(d, cfg)
	res.Workspace = ws
	made, err := workspace.Init(ws)
	if err != nil {
		return nil, fmt.Errorf("workspace %s: %w", ws, err)
	}
	res.Created = append(res.Created, made...)

	existed := fileExists(d.Database())
	db, err := store.Open(ctx, d.Database())
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", d.Database(), err)
	}
	if err := db.Close(); err != nil {
		return nil, err
	}
	if !existed {
		res.Created = append(res.Created, d.Database())
	}

	res.Next = []string{
		"gatehouse gateway run                  # start the gateway on 127.0.0.1:" + strconv.Itoa(cfg.Gateway.Port),
		"gatehouse status                       # in another terminal",
		"gatehouse config set agents.defaults.model.primary PROVIDER/MODEL",
		"gatehouse doctor                       # check the setup",
	}
	return res, nil
}

// ensureToken makes sure gateway.auth.token resolves, creating a fresh
// 256-bit token in the secret store when it does not. It never replaces a
// token that works.
func (e *env) ensureToken(d state.Dir, f *config.File) (bool, error) {
	cfg := f.Config()
	tok := cfg.Gateway.Auth.Token
	switch {
	case tok.Plain != "" || tok.Env != "":
		return false, nil
	case tok.Ref != "":
		s, err := e.openSecrets(d)
		if err != nil {
			return false, err
		}
		if _, err := s.Get(tok.Ref); err == nil {
			return false, nil
		} else if !errors.Is(err, secret.ErrNotFound) {
			return false, err
		}
		v := secret.NewToken()
		e.redactor.Add(v)
		return true, s.Set(tok.Ref, v)
	default:
		s, err := e.openSecrets(d)
		if err != nil {
			return false, err
		}
		v := secret.NewToken()
		e.redactor.Add(v)
		if err := s.Set(tokenSecretName, v); err != nil {
			return false, err
		}
		if err := f.Set("gateway.auth.token", `{"secret": "`+tokenSecretName+`"}`); err != nil {
			return false, err
		}
		return true, f.Save()
	}
}

// workspaceDir is the agent workspace: agents.defaults.workspace or
// <state dir>/workspace.
func (e *env) workspaceDir(d state.Dir, cfg *config.Config) string {
	return workspace.Resolve(cfg.Agents.Defaults.Workspace, d.Workspace(), e.home)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
