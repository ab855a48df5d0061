package cli

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"gatehouse/internal/config"
	"gatehouse/internal/state"
)

func newConfigCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Read and change gatehouse.json",
		Long: `Read and change the gateway configuration, gatehouse.json in the state
directory. Keys are dotted paths with the seed guides' names, for example
gateway.bind or channels.telegram.dmPolicy. Unknown keys and invalid values
are refused before anything is written.`,
		Example: `  gatehouse config get gateway.bind
  gatehouse config set gateway.port 18790
  gatehouse config set tools.deny '["gateway", "nodes"]'
  gatehouse config validate`,
	}
	cmd.AddCommand(newConfigGetCmd(e), newConfigSetCmd(e), newConfigUnsetCmd(e),
		newConfigValidateCmd(e), newConfigSchemaCmd(e), newConfigPathCmd(e))
	return cmd
}

func newConfigGetCmd(e *env) *cobra.Command {
	var reveal bool
	cmd := &cobra.Command{
		Use:   "get [KEY]",
		Short: "Print a configuration value",
		Long: `Print the effective value of KEY (defaults included), or the whole
configuration without KEY. Strings print bare; other values as JSON.
Secrets print redacted, or as their reference ({"secret": "NAME"},
"${VAR}"), unless --reveal is given.`,
		Example: `  gatehouse config get gateway.bind
  gatehouse config get tools.elevated --json
  gatehouse config get gateway.auth.token --reveal`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			key := ""
			if len(args) == 1 {
				key = args[0]
			}
			d, f, err := e.loadConfig()
			if err != nil {
				return err
			}
			v, err := f.Get(key)
			if err != nil {
				return err
			}
			if reveal {
				v, err = e.revealSecrets(d, f.Config(), key, v)
				if err != nil {
					return err
				}
			} else {
				v = config.Redact(v, key)
			}
			if s, ok := v.(string); ok && !e.json {
				e.printf("%s\n", s)
				return nil
			}
			return e.printJSON(v)
		},
	}
	cmd.Flags().BoolVar(&reveal, "reveal", false, "print secret values in clear")
	return cmd
}

// revealSecrets replaces secret references under key with their values.
func (e *env) revealSecrets(d state.Dir, cfg *config.Config, key string, v any) (any, error) {
	if config.IsSecretPath(key) {
		for _, sf := range cfg.Secrets() {
			if sf.Path == key {
				return e.resolveSecret(d, sf.Secret)
			}
		}
		return v, nil
	}
	// A subtree: reveal nothing implicitly; secrets inside print in the
	// form they are written. Plaintext ones were never redacted here.
	return v, nil
}

func newConfigSetCmd(e *env) *cobra.Command {
	var plaintext bool
	cmd := &cobra.Command{
		Use:   "set KEY VALUE",
		Short: "Set a configuration value",
		Long: `Set KEY to VALUE. VALUE is read as JSON when it parses (true, 18789,
["a","b"]), else as a string. The new configuration is validated before it
is written; the previous file is kept as gatehouse.json.bak.

A secret (gateway.auth.token, channels.*.token, models.providers.*.apiKey …)
is stored in the encrypted secret store and the config refers to it, unless
--plaintext is given. Prefer "gatehouse secrets set NAME" (value from stdin)
so the secret never appears in a command line.`,
		Example: `  gatehouse config set gateway.bind loopback
  gatehouse config set channels.telegram.dmPolicy pairing
  gatehouse config set agents.defaults.sandbox.docker.readOnlyRoot true`,
		Args: exactArgs(2, "KEY and VALUE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, raw := args[0], args[1]
			d, f, err := e.loadConfig()
			if err != nil {
				return err
			}
			if err := d.Ensure(); err != nil {
				return err
			}
			stored := false
			if config.IsSecretPath(key) && !plaintext && !isSecretReference(raw) {
				e.redactor.Add(raw)
				// Validate the path before writing the secret anywhere.
				if err := f.Set(key, raw); err != nil {
					return err
				}
				store, err := e.openSecrets(d)
				if err != nil {
					return err
				}
				// The same value set twice (the seeds set gateway.auth.token
				// and gateway.remote.token alike) shares one stored secret.
				name := store.NameOf(raw)
				if name == "" {
					name = key
					if err := store.Set(name, raw); err != nil {
						return err
					}
				}
				ref, _ := json.Marshal(map[string]string{"secret": name})
				raw = string(ref)
				stored = true
			}
			if err := f.Set(key, raw); err != nil {
				return err
			}
			if err := f.Save(); err != nil {
				return err
			}
			if e.json {
				return e.printJSON(map[string]any{"key": key, "ok": true, "secretStored": stored})
			}
			if stored {
				e.printf("set %s (kept in the encrypted secret store)\n", key)
			} else {
				e.printf("set %s\n", key)
			}
			e.hintReload(d)
			return nil
		},
	}
	cmd.Flags().BoolVar(&plaintext, "plaintext", false, "write a secret value into gatehouse.json itself (discouraged)")
	return cmd
}

// isSecretReference reports whether raw already is {"secret": …} or "${VAR}".
func isSecretReference(raw string) bool {
	var s config.Secret
	if err := json.Unmarshal([]byte(raw), &s); err == nil && (s.Ref != "" || s.Env != "") {
		return true
	}
	b, _ := json.Marshal(raw)
	if err := json.Unmarshal(b, &s); err == nil && s.Env != "" {
		return true
	}
	return false
}

// hintReload tells the user how a running gateway picks up a change.
func (e *env) hintReload(d state.Dir) {
	if pid, err := state.LockHolder(d.Lock()); err == nil && pid > 0 {
		e.warnf("the gateway (pid %d) is running: apply with gatehouse gateway restart\n", pid)
	}
}

func newConfigUnsetCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "unset KEY",
		Short:   "Remove a configuration value so its default applies",
		Example: "  gatehouse config unset gateway.port",
		Args:    exactArgs(1, "KEY"),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, f, err := e.loadConfig()
			if err != nil {
				return err
			}
			if err := f.Unset(args[0]); err != nil {
				return err
			}
			if err := f.Save(); err != nil {
				return err
			}
			if e.json {
				return e.printJSON(map[string]any{"key": args[0], "ok": true})
			}
			e.printf("unset %s\n", args[0])
			e.hintReload(d)
			return nil
		},
	}
}

// validateReport is what `config validate --json` prints.
type validateReport struct {
	Path   string          `json:"path"`
	Exists bool            `json:"exists"`
	Valid  bool            `json:"valid"`
	Errors []validateIssue `json:"errors"`
}

type validateIssue struct {
	Path       string `json:"path,omitempty"`
	Message    string `json:"message"`
	DidYouMean string `json:"didYouMean,omitempty"`
}

func newConfigValidateCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "validate",
		Short:   "Check gatehouse.json against the schema",
		Example: "  gatehouse config validate --json",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := e.dir()
			if err != nil {
				return err
			}
			rep := validateReport{Path: d.Config(), Valid: true, Errors: []validateIssue{}}
			f, err := config.Load(d.Config())
			if err == nil {
				rep.Exists = f.Exists
			} else {
				rep.Exists = true
				rep.Valid = false
				rep.Errors = issuesOf(err)
			}
			if e.json {
				if err := e.printJSON(rep); err != nil {
					return err
				}
			} else if rep.Valid {
				if rep.Exists {
					e.printf("%s is valid\n", rep.Path)
				} else {
					e.printf("%s does not exist; the defaults apply\n", rep.Path)
				}
			} else {
				e.printf("%s is invalid:\n", rep.Path)
				for _, is := range rep.Errors {
					e.printf("  %s\n", is.Message)
				}
			}
			if !rep.Valid {
				return &codeError{code: exitError}
			}
			return nil
		},
	}
}

// issuesOf flattens a config error into one issue per field error.
func issuesOf(err error) []validateIssue {
	var out []validateIssue
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var fe *config.FieldError
		if errors.As(err, &fe) {
			out = append(out, validateIssue{Path: fe.Path, Message: fe.Error(), DidYouMean: fe.DidYouMean})
			return
		}
		out = append(out, validateIssue{Message: err.Error()})
	}
	walk(err)
	return out
}

func newConfigSchemaCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "schema",
		Short:   "Print the JSON Schema of gatehouse.json, for editors",
		Example: "  gatehouse config schema > gatehouse.schema.json",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := config.Schema()
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(e.stdout, "%s\n", b)
			return err
		},
	}
}

func newConfigPathCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "path",
		Short:   "Print the path of gatehouse.json",
		Example: "  $EDITOR \"$(gatehouse config path)\"",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := e.dir()
			if err != nil {
				return err
			}
			if e.json {
				return e.printJSON(map[string]string{"path": d.Config(), "stateDir": d.Root})
			}
			e.printf("%s\n", d.Config())
			return nil
		},
	}
}
