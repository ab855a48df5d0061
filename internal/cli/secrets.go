package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"gatehouse/internal/config"
	"gatehouse/internal/state"
)

func newSecretsCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secrets",
		Short: "Manage the encrypted secret store",
		Long: `The secret store holds tokens and API keys encrypted at rest (age, X25519)
in the state directory. The config refers to a stored secret as
{"secret": "NAME"}. Values are read from standard input, never from the
command line, so they stay out of shell history and process listings.`,
		Example: `  printf '%s' "$TELEGRAM_TOKEN" | gatehouse secrets set telegram.token
  gatehouse config set channels.telegram.token '{"secret": "telegram.token"}'
  gatehouse secrets list`,
	}
	cmd.AddCommand(newSecretsSetCmd(e), newSecretsListCmd(e), newSecretsRmCmd(e), newSecretsMigrateCmd(e))
	return cmd
}

// readSecretValue reads a secret from stdin: a prompt without echo on a
// terminal, else the whole input with one trailing newline removed.
func (e *env) readSecretValue(prompt string) (string, error) {
	if f, ok := e.stdin.(*os.File); ok && isTerminal(f) {
		fmt.Fprint(e.stderr, prompt)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.stderr)
		if err != nil {
			return "", err
		}
		return strings.TrimSpace(string(b)), nil
	}
	b, err := io.ReadAll(io.LimitReader(e.stdin, 1<<20))
	if err != nil {
		return "", err
	}
	v := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if v == "" {
		return "", errors.New("no value on standard input: pipe the secret in, e.g. printf '%s' \"$VALUE\" | gatehouse secrets set NAME")
	}
	return v, nil
}

func newSecretsSetCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "set NAME",
		Short:   "Store a secret read from standard input",
		Example: "  printf '%s' \"$ANTHROPIC_API_KEY\" | gatehouse secrets set anthropic.apiKey",
		Args:    exactArgs(1, "the secret's NAME (its value comes from standard input)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := e.dir()
			if err != nil {
				return err
			}
			if err := d.Ensure(); err != nil {
				return err
			}
			v, err := e.readSecretValue("value for " + args[0] + ": ")
			if err != nil {
				return err
			}
			e.redactor.Add(v)
			store, err := e.openSecrets(d)
			if err != nil {
				return err
			}
			if err := store.Set(args[0], v); err != nil {
				return err
			}
			if e.json {
				return e.printJSON(map[string]any{"name": args[0], "ok": true})
			}
			e.printf("stored %s; refer to it in the config as {\"secret\": %q}\n", args[0], args[0])
			return nil
		},
	}
}

func newSecretsListCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List the names of stored secrets",
		Example: "  gatehouse secrets list --json",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := e.dir()
			if err != nil {
				return err
			}
			store, err := e.openSecrets(d)
			if err != nil {
				return err
			}
			names := store.List()
			if names == nil {
				names = []string{}
			}
			if e.json {
				return e.printJSON(map[string]any{"secrets": names})
			}
			for _, n := range names {
				e.printf("%s\n", n)
			}
			return nil
		},
	}
}

func newSecretsRmCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "rm NAME",
		Aliases: []string{"remove"},
		Short:   "Remove a stored secret",
		Example: "  gatehouse secrets rm old.token",
		Args:    exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, f, err := e.loadConfig()
			if err != nil {
				return err
			}
			for _, sf := range f.Config().Secrets() {
				if sf.Secret.Ref == args[0] {
					return fmt.Errorf("secret %s is still used by %s: change that key first", args[0], sf.Path)
				}
			}
			store, err := e.openSecrets(d)
			if err != nil {
				return err
			}
			if err := store.Delete(args[0]); err != nil {
				return err
			}
			if e.json {
				return e.printJSON(map[string]any{"name": args[0], "ok": true})
			}
			e.printf("removed %s\n", args[0])
			return nil
		},
	}
}

func newSecretsMigrateCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Move plaintext secrets from gatehouse.json into the secret store",
		Long: `Every secret written in plaintext in gatehouse.json (as the seed guides'
"config set gateway.auth.token …" does) moves into the encrypted store, and the
config refers to it as {"secret": "PATH"}. Values do not change.`,
		Example: "  gatehouse secrets migrate",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, f, err := e.loadConfig()
			if err != nil {
				return err
			}
			paths := f.Config().PlaintextSecrets()
			moved := []string{}
			if len(paths) > 0 {
				store, err := e.openSecrets(d)
				if err != nil {
					return err
				}
				for _, sf := range f.Config().Secrets() {
					if !sf.Secret.IsPlaintext() {
						continue
					}
					e.redactor.Add(sf.Secret.Plain)
					name := store.NameOf(sf.Secret.Plain)
					if name == "" {
						name = sf.Path
						if err := store.Set(name, sf.Secret.Plain); err != nil {
							return err
						}
					}
					ref, _ := json.Marshal(map[string]string{"secret": name})
					if err := f.Set(sf.Path, string(ref)); err != nil {
						return err
					}
					moved = append(moved, sf.Path)
				}
				if err := f.Save(); err != nil {
					return err
				}
				// The .bak copy still holds the plaintext: replace it.
				if err := removeBackupSecrets(f); err != nil {
					return err
				}
			}
			if e.json {
				return e.printJSON(map[string]any{"migrated": moved})
			}
			if len(moved) == 0 {
				e.printf("no plaintext secrets in %s\n", d.Config())
				return nil
			}
			for _, p := range moved {
				e.printf("moved %s into the secret store\n", p)
			}
			return nil
		},
	}
}

// removeBackupSecrets overwrites gatehouse.json.bak with the migrated file so
// no plaintext copy is left behind.
func removeBackupSecrets(f *config.File) error {
	bak := f.Path() + ".bak"
	b, err := os.ReadFile(f.Path())
	if err != nil {
		return err
	}
	if _, err := os.Stat(bak); err != nil {
		return nil
	}
	return state.WriteFileAtomic(bak, b)
}

// readLine reads one line of interactive input.
func readLine(r *bufio.Reader) (string, error) {
	s, err := r.ReadString('\n')
	if err != nil && s == "" {
		return "", err
	}
	return strings.TrimSpace(s), nil
}
