package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"gatehouse/internal/config"
	"gatehouse/internal/gateway"
	"gatehouse/internal/secret"
	"gatehouse/internal/state"
)

func newTokenCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Manage the gateway token",
		Long: `The gateway token authenticates the CLI, the control UI and the HTTP APIs.
It lives in the encrypted secret store; the CLI reads it from there, so
changing it needs no edit anywhere on this host.`,
		Example: "  gatehouse token rotate",
	}
	cmd.AddCommand(newTokenRotateCmd(e))
	return cmd
}

func newTokenRotateCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "rotate",
		Short: "Replace the gateway token; the old one is refused at once",
		Long: `Make a new 256-bit gateway token and store it under the secret name
gateway.auth.token refers to (a plaintext token is moved into the store).
A running gateway is told to reload (SIGHUP); rotate then checks on
127.0.0.1 that the old token gets 401 and the new one is accepted. WebSocket
clients of the old token are disconnected. The CLI on this host reads the
new token from the store and keeps working; gateway.remote.token follows
when it refers to the same secret. A token taken from an environment
variable cannot be changed here.

Clients on other hosts need the new token: store it there with
gatehouse secrets set gateway.remote.token.`,
		Example: `  gatehouse token rotate
  gatehouse token rotate --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := e.rotateToken(cmd.Context())
			if err != nil {
				return err
			}
			if e.json {
				return e.printJSON(res)
			}
			e.renderRotation(res)
			return nil
		},
	}
}

// rotation is what `token rotate --json` prints.
type rotation struct {
	// Secret is the secret store name that now holds the new token.
	Secret string `json:"secret"`
	// MovedFromPlaintext: the old token was plaintext in the config, which
	// now refers to Secret.
	MovedFromPlaintext bool `json:"movedFromPlaintext"`
	// RemoteFollows: gateway.remote.token refers to the same secret.
	RemoteFollows bool            `json:"remoteTokenFollows"`
	Gateway       rotationGateway `json:"gateway"`
	RotatedAt     time.Time       `json:"rotatedAt"`
}

// rotationGateway is what the running gateway made of the rotation.
type rotationGateway struct {
	Running bool `json:"running"`
	PID     int  `json:"pid,omitempty"`
	// OldRefused and NewAccepted are the probes' results.
	OldRefused  bool   `json:"oldRefused"`
	NewAccepted bool   `json:"newAccepted"`
	URL         string `json:"url,omitempty"`
}

// rotateTimeout bounds the wait for the gateway to reload.
const rotateTimeout = 15 * time.Second

// rotateToken replaces the gateway token in the secret store and, when a
// gateway runs, makes it reload and checks the result.
func (e *env) rotateToken(ctx context.Context) (rotation, error) {
	res := rotation{}
	d, f, err := e.loadConfig()
	if err != nil {
		return res, err
	}
	cfg := f.Config()
	if cfg.Gateway.Mode == "remote" {
		return res, errors.New("gateway.mode is remote: rotate the token on the gateway's host (gatehouse token rotate there), then store it here with gatehouse secrets set gateway.remote.token")
	}
	switch cfg.Gateway.Auth.Mode {
	case "token":
	case "password":
		return res, errors.New(`gateway.auth.mode is password, which token rotate does not change: set a new password with printf '%s' "$NEW" | gatehouse secrets set gateway.auth.password, then gatehouse gateway restart; or switch to a token with gatehouse config set gateway.auth.mode token`)
	default:
		return res, fmt.Errorf("gateway.auth.mode is %q: run gatehouse config set gateway.auth.mode token, then gatehouse token rotate", cfg.Gateway.Auth.Mode)
	}
	old := cfg.Gateway.Auth.Token
	if old.Env != "" {
		return res, fmt.Errorf("gateway.auth.token comes from the environment variable %s, which gatehouse cannot change: put a new value there (openssl rand -hex 32) and restart the gateway, or keep the token in the secret store instead: gatehouse config set gateway.auth.token '{\"secret\": \"%s\"}', then gatehouse token rotate", old.Env, tokenSecretName)
	}
	res.Secret = old.Ref
	if res.Secret == "" {
		res.Secret, res.MovedFromPlaintext = tokenSecretName, old.Plain != ""
	}

	// The old token, to probe that the gateway refuses it; a missing one
	// (a store entry deleted by hand) just means no such probe.
	oldValue, _ := e.resolveSecret(d, old)

	store, err := e.openSecrets(d)
	if err != nil {
		return res, err
	}
	tok := secret.NewToken()
	e.redactor.Add(tok)
	if err := store.Set(res.Secret, tok); err != nil {
		return res, fmt.Errorf("store the new token: %w", err)
	}
	if err := keepOwner(d, d.Secrets()); err != nil {
		return res, fmt.Errorf("the new token is stored, but the gateway's user may not read it: %w", err)
	}
	res.RotatedAt = time.Now().UTC()
	if old.Ref == "" {
		ref := `{"secret": "` + res.Secret + `"}`
		if err := f.Set("gateway.auth.token", ref); err != nil {
			return res, err
		}
		// The seed guides set gateway.remote.token to the same plaintext:
		// it would keep a dead token in the config.
		if r := cfg.Gateway.Remote.Token; r.Plain != "" && oldValue != "" && secret.Equal(r.Plain, oldValue) {
			if err := f.Set("gateway.remote.token", ref); err != nil {
				return res, err
			}
		}
		if err := f.Save(); err != nil {
			return res, fmt.Errorf("the new token is stored as %s, but the config still holds the old one: %w", res.Secret, err)
		}
		if err := keepOwner(d, d.Config(), d.Config()+".bak"); err != nil {
			return res, fmt.Errorf("the config refers to the new token, but the gateway's user may not read it: %w", err)
		}
		cfg = f.Config()
	}
	res.RemoteFollows = cfg.Gateway.Remote.Token.Ref == res.Secret

	g, err := e.reloadForToken(ctx, d, cfg, oldValue, tok)
	res.Gateway = g
	return res, err
}

// reloadForToken sends SIGHUP to the gateway that holds the state dir's
// lock and waits until it refuses oldTok and accepts newTok. With no
// gateway running there is nothing to do.
func (e *env) reloadForToken(ctx context.Context, d state.Dir, cfg *config.Config, oldTok, newTok string) (rotationGateway, error) {
	var g rotationGateway
	pid, err := state.LockHolder(d.Lock())
	if err != nil {
		return g, fmt.Errorf("the new token is stored; find the running gateway: %w", err)
	}
	if pid == 0 {
		return g, nil
	}
	g.Running, g.PID = true, pid
	if err := gateway.CheckExposure(cfg, newTok, secret.EstimateBits); err != nil {
		return g, fmt.Errorf("the new token is stored, but the gateway would refuse its config on reload: %w", err)
	}
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		return g, fmt.Errorf("the new token is stored, but the gateway (pid %d) could not be told to reload: %w: run gatehouse token rotate as the gateway's user, or restart the gateway", pid, err)
	}
	addr := net.JoinHostPort(dialHost(cfg), strconv.Itoa(cfg.Gateway.Port))
	g.URL = "http://" + addr + "/"
	p := newTokenProbe(g.URL)
	ctx, cancel := context.WithTimeout(ctx, rotateTimeout)
	defer cancel()

	stale := fmt.Errorf("the new token is stored, but the gateway (pid %d) still accepts the old one after %s: its reload failed; see gatehouse logs, fix the cause and run gatehouse gateway restart", pid, rotateTimeout)
	if oldTok != "" {
		// Poll with the old token: while the gateway accepts it no failure
		// is counted toward the lockout, and the first 401 is the only one.
		err := poll(ctx, 100*time.Millisecond, func() (bool, error) {
			code, err := p.status(ctx, oldTok)
			if err != nil {
				return false, nil // a gateway in the middle of a reload may not answer
			}
			switch code {
			case http.StatusUnauthorized:
				return true, nil
			case http.StatusTooManyRequests:
				return false, lockedOut()
			}
			return false, nil
		})
		if err != nil {
			if ctx.Err() != nil {
				return g, stale
			}
			return g, err
		}
		g.OldRefused = true
	}
	// Each probe with a token the gateway does not know yet counts toward
	// its lockout (10 a minute): back off, and stay well below.
	delay := 100 * time.Millisecond
	for try := 0; ; try++ {
		code, err := p.status(ctx, newTok)
		if err == nil && code == http.StatusOK {
			g.NewAccepted = true
			return g, nil
		}
		if code == http.StatusTooManyRequests {
			return g, lockedOut()
		}
		if try == 5 || ctx.Err() != nil {
			if oldTok == "" {
				return g, stale
			}
			if err != nil {
				return g, fmt.Errorf("the new token is stored and the old one refused, but the gateway does not answer the new one: %w", err)
			}
			return g, fmt.Errorf("the new token is stored and the old one refused, but the gateway answers the new one with HTTP %d: see gatehouse logs", code)
		}
		select {
		case <-ctx.Done():
		case <-time.After(delay):
		}
		delay *= 2
	}
}

// keepOwner gives files that a CLI running as root rewrote back to the
// owner of the state dir, the gateway's user, who must still read them.
func keepOwner(d state.Dir, paths ...string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	fi, err := os.Stat(d.Root)
	if err != nil {
		return err
	}
	uid, gid, ok := fileOwner(fi)
	if !ok || uid == 0 {
		return nil
	}
	for _, p := range paths {
		if err := os.Lchown(p, uid, gid); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

func lockedOut() error {
	return errors.New("the new token is stored, but the gateway locked 127.0.0.1 out after failed logins: wait 5 minutes, then check with gatehouse status")
}

// tokenProbe asks the local gateway's GET / whether it accepts a token.
type tokenProbe struct {
	url string
	hc  *http.Client
}

func newTokenProbe(url string) *tokenProbe {
	return &tokenProbe{url: url, hc: &http.Client{
		Timeout: 3 * time.Second,
		// Never through a proxy from the environment: the token must go
		// to the gateway and nowhere else.
		Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

// status returns the HTTP status of GET / with tok as the bearer token.
func (p *tokenProbe) status(ctx context.Context, tok string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := p.hc.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// poll calls cond every interval until it reports done or an error, or
// ctx ends.
func poll(ctx context.Context, interval time.Duration, cond func() (bool, error)) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		done, err := cond()
		if err != nil || done {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (e *env) renderRotation(r rotation) {
	e.printf("rotated the gateway token: a new 256-bit token is in the secret store as %s\n", r.Secret)
	if r.MovedFromPlaintext {
		e.printf("  moved out of the config: gateway.auth.token now refers to {\"secret\": %q}\n", r.Secret)
	}
	if r.RemoteFollows {
		e.printf("  gateway.remote.token refers to the same secret and follows\n")
	}
	switch g := r.Gateway; {
	case !g.Running:
		e.printf("  no gateway is running: nothing to reload; the next start uses the new token\n")
	case g.OldRefused:
		e.printf("  gateway (pid %d) reloaded: the old token gets 401, the new one is accepted\n", g.PID)
	default:
		e.printf("  gateway (pid %d) reloaded: the new token is accepted\n", g.PID)
	}
	e.printf("the CLI on this host reads the new token from the store; clients on other hosts need it: gatehouse secrets set gateway.remote.token there\n")
}
