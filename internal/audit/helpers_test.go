package audit

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gatehouse/internal/config"
	"gatehouse/internal/secret"
	"gatehouse/internal/state"
	"gatehouse/internal/workspace"
)

// newState makes an onboarded state directory, as gatehouse onboard
// --non-interactive leaves it: the default config with the token in the
// secret store, the workspace, everything 700/600.
func newState(t *testing.T) (state.Dir, string) {
	t.Helper()
	root := t.TempDir()
	d := state.Dir{Root: filepath.Join(root, "state")}
	home := filepath.Join(root, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := d.Ensure(); err != nil {
		t.Fatal(err)
	}
	st, err := secret.OpenStoreWith(d.Secrets(), d.SecretKey(), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Set("gateway.auth.token", secret.NewToken()); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Gateway.Auth.Token = config.Secret{Ref: "gateway.auth.token"}
	// Never the default port: a real gateway may run on this machine, and
	// the deep tests must not probe it.
	cfg.Gateway.Port = closedPort(t)
	f, err := config.FromConfig(d.Config(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
	if _, err := workspace.Init(d.Workspace()); err != nil {
		t.Fatal(err)
	}
	return d, home
}

func noEnv(string) string { return "" }

// closedPort returns a loopback port nothing listens on (now).
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// setConfig runs `gatehouse config set key value` on d's config.
func setConfig(t *testing.T, d state.Dir, kv ...string) {
	t.Helper()
	f, err := config.Load(d.Config())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if err := f.Set(kv[i], kv[i+1]); err != nil {
			t.Fatalf("config set %s %s: %v", kv[i], kv[i+1], err)
		}
	}
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
}

// fakeHost answers host commands from a table keyed by "name arg...";
// anything else is not installed.
type fakeHost map[string]fakeOut

type fakeOut struct {
	out string
	err error
}

func (h fakeHost) run(_ context.Context, name string, args ...string) ([]byte, error) {
	key := strings.TrimSpace(name + " " + strings.Join(args, " "))
	if o, ok := h[key]; ok {
		return []byte(o.out), o.err
	}
	return nil, fmt.Errorf("%s: %w", name, ErrNotInstalled)
}

// testOptions audits d with no environment, no host commands and an
// empty host root.
func testOptions(t *testing.T, d state.Dir, home string) Options {
	return Options{StateDir: d, Home: home, Getenv: noEnv,
		LookupEnv: func(string) (string, bool) { return "", false },
		Run:       fakeHost{}.run, HostRoot: t.TempDir()}
}

func mustRun(t *testing.T, o Options) *Report {
	t.Helper()
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// findingsByKey indexes a report's findings.
func findingsByKey(rep *Report) map[string]Finding {
	m := map[string]Finding{}
	for _, f := range rep.Findings {
		m[f.Key()] = f
	}
	return m
}

func dump(rep *Report) string {
	var b strings.Builder
	for _, f := range rep.Findings {
		fmt.Fprintf(&b, "  %s %s [%s] %s\n", f.CheckID, f.Subject, f.Severity, f.Detail)
	}
	return b.String()
}
