package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"

	"github.com/spf13/cobra"

	"gatehouse/internal/secret"
)

// testEnv is an env with buffers and a private state dir.
func testEnv(t *testing.T) (*env, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	home := t.TempDir()
	var out, errb bytes.Buffer
	vars := map[string]string{"GATEHOUSE_STATE_DIR": filepath.Join(home, "state")}
	e := &env{
		stdin:  strings.NewReader(""),
		stdout: &out,
		stderr: &errb,
		getenv: func(k string) string { return vars[k] },
		lookupEnv: func(k string) (string, bool) {
			v, ok := vars[k]
			return v, ok
		},
		home:     home,
		redactor: secret.NewRedactor(),
	}
	return e, &out, &errb
}

func run(t *testing.T, e *env, args ...string) int {
	t.Helper()
	return Run(context.Background(), e, args)
}

// TestDocs checks every command's help, as Tailscale's cli_test does.
func TestDocs(t *testing.T) {
	e, _, _ := testEnv(t)
	root := newRootCmd(e)
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" {
			return
		}
		t.Run(strings.ReplaceAll(c.CommandPath(), " ", "_"), func(t *testing.T) {
			s := c.Short
			if s == "" {
				t.Fatalf("no Short")
			}
			if r := []rune(s)[0]; !unicode.IsUpper(r) {
				t.Errorf("Short %q does not start with a capital", s)
			}
			if strings.HasSuffix(s, ".") {
				t.Errorf("Short %q ends with a period", s)
			}
			if c.Example == "" {
				t.Errorf("no Example")
			}
			if c.Runnable() && c.Flags().Lookup("json") == nil && c.InheritedFlags().Lookup("json") == nil {
				t.Errorf("no --json")
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

func TestUsageErrorsExit2(t *testing.T) {
	cases := []struct {
		name string
		args []string
	}{
		{"unknown_flag", []string{"status", "--bogus"}},
		{"missing_args", []string{"config", "set", "gateway.bind"}},
		{"extra_args", []string{"status", "extra"}},
		{"bad_profile", []string{"--profile", "../x", "config", "path"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, _, errb := testEnv(t)
			e.getenv = func(string) string { return "" }
			if got := run(t, e, c.args...); got != exitUsage {
				t.Errorf("exit = %d, want %d (stderr %q)", got, exitUsage, errb.String())
			}
		})
	}
}

// TestErrorsAreRedacted: a secret the CLI knows never reaches stderr.
func TestErrorsAreRedacted(t *testing.T) {
	e, _, errb := testEnv(t)
	if got := run(t, e, "onboard", "--non-interactive"); got != 0 {
		t.Fatalf("onboard exit %d: %s", got, errb)
	}
	tok := "sk-" + strings.Repeat("Z", 40)
	// An invalid value for a secret path: the error must not echo it.
	run(t, e, "config", "set", "gateway.auth.token.bogus", tok)
	if strings.Contains(errb.String(), tok) {
		t.Errorf("stderr leaked the secret: %q", errb.String())
	}
}

func TestOnboardIdempotent(t *testing.T) {
	e, out, errb := testEnv(t)
	if got := run(t, e, "onboard", "--non-interactive", "--json"); got != 0 {
		t.Fatalf("exit %d: %s", got, errb)
	}
	first := out.String()
	out.Reset()
	if got := run(t, e, "onboard", "--non-interactive", "--json"); got != 0 {
		t.Fatalf("second onboard exit %d: %s", got, errb)
	}
	if !strings.Contains(out.String(), `"configExisted": true`) || strings.Contains(out.String(), `"tokenCreated": true`) {
		t.Errorf("second onboard = %s (first %s); want config kept and no new token", out, first)
	}
	d, _ := e.dir()
	if _, err := os.Stat(filepath.Join(d.Workspace(), "SOUL.md")); err != nil {
		t.Error(err)
	}
}
