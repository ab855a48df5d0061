package cli

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gatehouse/internal/config"
	"gatehouse/internal/secret"
	"gatehouse/internal/state"
)

// storedToken reads a secret from the state dir's store.
func storedToken(t *testing.T, root, name string) string {
	t.Helper()
	d := state.Dir{Root: root}
	s, err := secret.OpenStoreWith(d.Secrets(), d.SecretKey(), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.Get(name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func loadCfg(t *testing.T, root string) *config.Config {
	t.Helper()
	f, err := config.Load(state.Dir{Root: root}.Config())
	if err != nil {
		t.Fatal(err)
	}
	return f.Config()
}

func TestTokenRotate_no_gateway(t *testing.T) {
	e, out, errb, root := onboarded(t)
	old := storedToken(t, root, tokenSecretName)
	if got := run(t, e, "token", "rotate", "--json"); got != 0 {
		t.Fatalf("token rotate: exit %d: %s", got, errb)
	}
	var res rotation
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	if res.Secret != tokenSecretName || res.Gateway.Running || res.MovedFromPlaintext {
		t.Errorf("rotation = %+v, want secret %s, no gateway", res, tokenSecretName)
	}
	tok := storedToken(t, root, tokenSecretName)
	if tok == old || len(tok) != 64 {
		t.Errorf("token after rotate: changed %v, length %d; want a new 64-hex token", tok != old, len(tok))
	}
	if strings.Contains(out.String()+errb.String(), tok) || strings.Contains(out.String()+errb.String(), old) {
		t.Errorf("rotate printed a token")
	}

	out.Reset()
	if got := run(t, e, "token", "rotate"); got != 0 {
		t.Fatalf("second rotate: exit %d: %s", got, errb)
	}
	if !strings.Contains(out.String(), "no gateway is running: nothing to reload") {
		t.Errorf("text output = %q", out)
	}
}

// TestTokenRotate_moves_plaintext: the seed guides' plaintext token (the
// same value in gateway.remote.token) moves into the store.
func TestTokenRotate_moves_plaintext(t *testing.T) {
	e, out, errb, root := onboarded(t)
	plain := strings.Repeat("0123456789abcdef", 4)
	for _, k := range []string{"gateway.auth.token", "gateway.remote.token"} {
		if got := run(t, e, "config", "set", k, plain, "--plaintext"); got != 0 {
			t.Fatalf("config set %s: exit %d: %s", k, got, errb)
		}
	}
	out.Reset()
	if got := run(t, e, "token", "rotate", "--json"); got != 0 {
		t.Fatalf("token rotate: exit %d: %s", got, errb)
	}
	var res rotation
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	if !res.MovedFromPlaintext || !res.RemoteFollows {
		t.Errorf("rotation = %+v, want moved from plaintext, remote following", res)
	}
	cfg := loadCfg(t, root)
	want := config.Secret{Ref: tokenSecretName}
	if cfg.Gateway.Auth.Token != want || cfg.Gateway.Remote.Token != want {
		t.Errorf("config tokens = %v, %v; want both %v", cfg.Gateway.Auth.Token, cfg.Gateway.Remote.Token, want)
	}
	b, err := os.ReadFile(state.Dir{Root: root}.Config())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), plain) {
		t.Errorf("the old plaintext token is still in the config")
	}
	if storedToken(t, root, tokenSecretName) == plain {
		t.Errorf("the store holds the old token")
	}
}

func TestTokenRotate_refusals(t *testing.T) {
	tests := []struct {
		name string
		set  [][]string
		want string
	}{
		{name: "environment_variable", set: [][]string{{"gateway.auth.token", "${GATEHOUSE_TOKEN}"}}, want: "environment variable GATEHOUSE_TOKEN"},
		{name: "password_mode", set: [][]string{{"gateway.auth.mode", "password"}}, want: "gateway.auth.mode is password"},
		{name: "remote_mode", set: [][]string{{"gateway.mode", "remote"}, {"gateway.remote.url", "wss://gw.example/ws"}}, want: "rotate the token on the gateway's host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, _, errb, root := onboarded(t)
			before := storedToken(t, root, tokenSecretName)
			for _, kv := range tt.set {
				if got := run(t, e, append([]string{"config", "set"}, kv...)...); got != 0 {
					t.Fatalf("config set %v: exit %d: %s", kv, got, errb)
				}
			}
			errb.Reset()
			if got := run(t, e, "token", "rotate"); got != exitError {
				t.Errorf("exit %d, want %d", got, exitError)
			}
			if !strings.Contains(errb.String(), tt.want) {
				t.Errorf("stderr = %q, want it to contain %q", errb, tt.want)
			}
			if storedToken(t, root, tokenSecretName) != before {
				t.Errorf("the stored token changed after a refusal")
			}
		})
	}
}

// TestTokenRotate_as_root_keeps_owner: sudo gatehouse token rotate leaves
// the store and the config readable by the gateway's user.
func TestTokenRotate_as_root_keeps_owner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	const gw = 65534
	e, _, errb, root := onboarded(t)
	if got := run(t, e, "config", "set", "gateway.auth.token", strings.Repeat("ab", 32), "--plaintext"); got != 0 {
		t.Fatalf("config set: %s", errb)
	}
	if err := filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, gw, gw)
	}); err != nil {
		t.Fatal(err)
	}
	if got := run(t, e, "token", "rotate"); got != 0 {
		t.Fatalf("token rotate: exit %d: %s", got, errb)
	}
	d := state.Dir{Root: root}
	for _, p := range []string{d.Secrets(), d.Config(), d.Config() + ".bak"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if uid, gid, _ := fileOwner(fi); uid != gw || gid != gw {
			t.Errorf("%s owned by %d:%d after a rotation as root, want %d:%d", p, uid, gid, gw, gw)
		}
	}
}
