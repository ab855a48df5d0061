// Package cli is the gatehouse command tree. Each file holds one command
// group; a command parses its flags, calls the gateway or a domain package,
// and renders text or --json. No policy lives here.
//
// Nothing imports cli but cmd/gatehouse.
package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"gatehouse/internal/secret"
)

// Exit codes, chosen in one place (exitCode).
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// Main runs the command line with the process's arguments and environment
// and returns the exit code.
func Main() int {
	privateUmask()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	home, _ := os.UserHomeDir()
	e := &env{
		stdin:     os.Stdin,
		stdout:    os.Stdout,
		stderr:    os.Stderr,
		getenv:    os.Getenv,
		lookupEnv: os.LookupEnv,
		home:      home,
		redactor:  secret.NewRedactor(),
	}
	return Run(ctx, e, os.Args[1:])
}

// Run executes args against the environment e. Tests call it directly.
func Run(ctx context.Context, e *env, args []string) int {
	root := newRootCmd(e)
	root.SetArgs(args)
	root.SetIn(e.stdin)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	err := root.ExecuteContext(ctx)
	return e.exitCode(err)
}

// exitCode maps an error to the process exit code and prints it: what
// happened, then what to do. Every error leaving the process goes through the
// redactor.
func (e *env) exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ex *codeError
	if errors.As(err, &ex) {
		if ex.err != nil {
			fmt.Fprintf(e.stderr, "gatehouse: %s\n", e.redactor.Redact(ex.err.Error()))
		}
		return ex.code
	}
	if errors.Is(err, context.Canceled) {
		return exitError
	}
	fmt.Fprintf(e.stderr, "gatehouse: %s\n", e.redactor.Redact(err.Error()))
	var ue *usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitError
}

// exitError carries an explicit exit code. A nil err prints nothing (the
// command already reported).
type codeError struct {
	code int
	err  error
}

func (e *codeError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *codeError) Unwrap() error { return e.err }

// usageError is a mistake in the command line itself.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() + " (see --help)" }
func (e *usageError) Unwrap() error { return e.err }

func usageErrorf(format string, a ...any) error {
	return &usageError{fmt.Errorf(format, a...)}
}

func newRootCmd(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "gatehouse",
		Short: "A personal AI agent gateway, secure by default",
		Long: `Gatehouse runs a personal AI agent gateway: chat channels in, an agent loop
against LLM providers, tools in a sandbox, replies out. It listens on
127.0.0.1:18789 with token authentication by default.`,
		Example: `  gatehouse onboard --non-interactive
  gatehouse gateway run
  gatehouse status`,
		Version:       versionString(),
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if e.getenv("NO_COLOR") != "" {
				e.noColor = true
			}
			return nil
		},
	}
	root.SetVersionTemplate("gatehouse {{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&e.stateDirFlag, "state-dir", "", "state directory (env GATEHOUSE_STATE_DIR; default ~/.gatehouse)")
	pf.StringVar(&e.profile, "profile", "", "run a separate instance with its state in ~/.gatehouse-NAME")
	pf.BoolVar(&e.json, "json", false, "print machine-readable JSON on stdout")
	pf.BoolVar(&e.noColor, "no-color", false, "disable colour (also NO_COLOR)")
	root.CompletionOptions.HiddenDefaultCmd = true

	root.AddCommand(
		newVersionCmd(e),
		newOnboardCmd(e),
		newConfigCmd(e),
		newSecretsCmd(e),
		newGatewayCmd(e),
		newStatusCmd(e),
		newHealthCmd(e),
		newLogsCmd(e),
		newDoctorCmd(e),
		newAgentCmd(e),
		newModelsCmd(e),
		newSessionsCmd(e),
		newUsageCmd(e),
		newChannelsCmd(e),
		newPluginsCmd(e),
		newPairingCmd(e),
		newApprovalsCmd(e),
		newSandboxCmd(e),
		newSecurityCmd(e),
		newVerifyCmd(e),
		newServiceCmd(e),
		newSoulCmd(e),
		newTokenCmd(e),
		newIncidentCmd(e),
	)
	return root
}

// noArgs is cobra.NoArgs reporting a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErrorf("%s takes no arguments, got %q", cmd.CommandPath(), args[0])
	}
	return nil
}

func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErrorf("%s needs %s", cmd.CommandPath(), names)
		}
		return nil
	}
}
