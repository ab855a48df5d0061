package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"

	"gatehouse/internal/config"
	"gatehouse/internal/gateway"
	"gatehouse/internal/rpc"
	"gatehouse/internal/secret"
	"gatehouse/internal/state"
)

// env is what every command needs from the outside world: streams, the
// environment, the global flags, and the ways to reach state and the gateway.
// Tests build one with buffers and a temporary home.
type env struct {
	stdin     io.Reader
	stdout    io.Writer
	stderr    io.Writer
	getenv    func(string) string
	lookupEnv func(string) (string, bool)
	home      string

	// redactor removes every known secret from what the CLI prints on
	// errors. Secrets are added as they are loaded.
	redactor *secret.Redactor

	// Global flags.
	stateDirFlag string
	profile      string
	json         bool
	noColor      bool
}

// dir resolves the state directory from flags and environment.
func (e *env) dir() (state.Dir, error) {
	d, err := state.Resolve(e.stateDirFlag, e.profile, e.getenv, e.home)
	if err != nil {
		return state.Dir{}, &usageError{err}
	}
	return d, nil
}

// loadConfig reads the config file of the state dir. A missing file yields
// the defaults.
func (e *env) loadConfig() (state.Dir, *config.File, error) {
	d, err := e.dir()
	if err != nil {
		return d, nil, err
	}
	f, err := config.Load(d.Config())
	if err != nil {
		return d, nil, fmt.Errorf("config %s: %w", d.Config(), err)
	}
	return d, f, nil
}

// openSecrets opens the encrypted secret store of the state dir.
func (e *env) openSecrets(d state.Dir) (*secret.Store, error) {
	s, err := secret.OpenStoreWith(d.Secrets(), d.SecretKey(), e.getenv)
	if err != nil {
		return nil, err
	}
	e.redactor.Add(s.Values()...)
	return s, nil
}

// resolveSecret resolves a config secret through the store and the
// environment and teaches the redactor its value.
func (e *env) resolveSecret(d state.Dir, s config.Secret) (string, error) {
	var lookup config.SecretLookup
	if s.Ref != "" {
		store, err := e.openSecrets(d)
		if err != nil {
			return "", err
		}
		lookup = store.Get
	}
	v, err := s.Resolve(lookup, e.lookupEnv)
	if err != nil {
		return "", err
	}
	e.redactor.Add(v)
	return v, nil
}

// gatewayToken is the secret the local gateway authenticates with: the token
// or the password, by gateway.auth.mode. The CLI and the gateway read it from
// the same place, so they cannot drift apart.
func (e *env) gatewayToken(d state.Dir, cfg *config.Config) (string, error) {
	s := cfg.Gateway.Auth.Token
	name := "gateway.auth.token"
	if cfg.Gateway.Auth.Mode == "password" {
		s, name = cfg.Gateway.Auth.Password, "gateway.auth.password"
	}
	if s.IsZero() {
		return "", fmt.Errorf("%s is not set: run gatehouse onboard --non-interactive, or gatehouse config set %s VALUE", name, name)
	}
	v, err := e.resolveSecret(d, s)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	return v, nil
}

// target is where the CLI finds the gateway and how it authenticates.
type target struct {
	wsURL   string // ws://host:port/ws
	httpURL string // http://host:port
	token   string
	remote  bool
}

// gatewayTarget picks the gateway to talk to: gateway.remote.url when set,
// else the local gateway at its configured address.
func (e *env) gatewayTarget() (state.Dir, *config.Config, target, error) {
	d, f, err := e.loadConfig()
	if err != nil {
		return d, nil, target{}, err
	}
	cfg := f.Config()
	if cfg.Gateway.Remote.URL != "" {
		u, err := url.Parse(cfg.Gateway.Remote.URL)
		if err != nil {
			return d, cfg, target{}, fmt.Errorf("gateway.remote.url: %w", err)
		}
		tok, err := e.resolveSecret(d, cfg.Gateway.Remote.Token)
		if err != nil {
			return d, cfg, target{}, fmt.Errorf("gateway.remote.token: %w", err)
		}
		hu := *u
		hu.Scheme = map[string]string{"ws": "http", "wss": "https"}[u.Scheme]
		hu.Path = ""
		wu := *u
		if wu.Path == "" || wu.Path == "/" {
			wu.Path = "/ws"
		}
		return d, cfg, target{wsURL: wu.String(), httpURL: hu.String(), token: tok, remote: true}, nil
	}
	tok, err := e.gatewayToken(d, cfg)
	if err != nil {
		return d, cfg, target{}, err
	}
	host := dialHost(cfg)
	hp := net.JoinHostPort(host, strconv.Itoa(cfg.Gateway.Port))
	return d, cfg, target{wsURL: "ws://" + hp + "/ws", httpURL: "http://" + hp, token: tok}, nil
}

// dialHost is the address the local CLI dials for the configured bind.
func dialHost(cfg *config.Config) string {
	switch cfg.Gateway.Bind {
	case "custom":
		if cfg.Gateway.CustomBindHost != "" && cfg.Gateway.CustomBindHost != "0.0.0.0" && cfg.Gateway.CustomBindHost != "::" {
			return cfg.Gateway.CustomBindHost
		}
	case "tailnet":
		if addr, err := gateway.ListenAddr(cfg); err == nil {
			if h, _, err := net.SplitHostPort(addr); err == nil {
				return h
			}
		}
	}
	return "127.0.0.1"
}

// dial connects to the gateway's WebSocket RPC.
func (e *env) dial(ctx context.Context) (*rpc.Client, target, error) {
	_, _, t, err := e.gatewayTarget()
	if err != nil {
		return nil, t, err
	}
	c, err := rpc.Dial(ctx, t.wsURL, t.token, &rpc.DialOptions{ClientVersion: version})
	if err != nil {
		return nil, t, err
	}
	return c, t, nil
}

// call runs one RPC method against the gateway.
func (e *env) call(ctx context.Context, method string, params, result any) error {
	c, _, err := e.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Call(ctx, method, params, result)
}

// printJSON writes v as indented JSON on stdout.
func (e *env) printJSON(v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// printf writes text output on stdout.
func (e *env) printf(format string, a ...any) {
	fmt.Fprintf(e.stdout, format, a...)
}

// warnf writes a note on stderr.
func (e *env) warnf(format string, a ...any) {
	fmt.Fprintf(e.stderr, format, a...)
}

// isNotRunning reports whether err means no gateway answered.
func isNotRunning(err error) bool {
	var nr *rpc.NotRunningError
	return errors.As(err, &nr)
}

// isTerminal reports whether r is an interactive terminal.
func isTerminal(r any) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
