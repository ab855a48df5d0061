package cli

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"gatehouse/internal/audit"
	"gatehouse/internal/sandbox"
	"gatehouse/internal/sandbox/backend"
	"gatehouse/internal/state"
)

// Exit codes of security audit: the report's highest severity, so that
// scripts and CI can gate on it. 2 is also exitUsage; the audit's usage
// errors exit 2 as well, which gates the same way.
const (
	exitAuditClean    = 0
	exitAuditWarn     = 1
	exitAuditCritical = 2
)

type securityAuditOptions struct {
	deep bool
	fix  bool
}

func newSecurityCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "security",
		Short: "Audit this Gatehouse's configuration, files, gateway and host",
		Example: `  gatehouse security audit
  gatehouse security audit --deep --json
  gatehouse security checks`,
	}
	cmd.AddCommand(newSecurityAuditCmd(e), newSecurityChecksCmd(e))
	return cmd
}

func newSecurityAuditCmd(e *env) *cobra.Command {
	var o securityAuditOptions
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Report security findings, and repair the safe ones with --fix",
		Long: `Audit the configuration and the state directory: bind and authentication,
the gateway token, the control UI, channel access policies, tool policy and
the sandbox, budgets, models, plaintext secrets, file modes and owners,
symlinks, and SOUL.md. Every finding has a stable checkId, a severity
(critical, warn or info), a detail and the command that fixes it;
gatehouse security checks lists them all.

--deep also probes the running gateway as an attacker on this host would,
always through loopback: routes without credentials, a WebSocket with a
foreign Origin, a foreign Host header, an RPC before authenticating, and the
lockout after ten wrong tokens (sent from a spare loopback address such as
127.213.4.5, so the owner's CLI on 127.0.0.1 is never locked out). It reads
this host with read-only commands: the gateway's listening sockets, the
firewall (ufw, nft or iptables), the DOCKER-USER chain when Docker is
installed, the unit's systemd-analyze security score, tailscale funnel status
and the user the gateway runs as. What cannot run is listed as skipped, with
the reason; reading the firewall needs root.

--fix repairs what is safe: file modes (and owners, as root), redaction,
mDNS, the control UI's insecure auth, open group policies (to allowlist),
configWrites and missing sandbox limits. It prints each change and audits
again. It never rotates a secret and never changes the bind.

Exit status: 0 when no finding is worse than info, 1 for warnings only, 2
for any critical finding.`,
		Example: `  gatehouse security audit
  gatehouse security audit --deep
  gatehouse security audit --fix
  sudo gatehouse security audit --deep --json | jq '.findings[] | select(.severity=="critical")'`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return e.runSecurityAudit(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVar(&o.deep, "deep", false, "also probe the running gateway through loopback and check the host")
	cmd.Flags().BoolVar(&o.fix, "fix", false, "repair file modes and the safe config settings, then audit again")
	return cmd
}

func (e *env) runSecurityAudit(ctx context.Context, o securityAuditOptions) error {
	d, err := e.dir()
	if err != nil {
		return err
	}
	opts := e.auditOptions(d)
	opts.Deep, opts.Fix = o.deep, o.fix
	rep, err := audit.Run(ctx, opts)
	if err != nil {
		return err
	}
	if e.json {
		if err := e.printJSON(rep); err != nil {
			return err
		}
	} else {
		e.renderAudit(rep)
	}
	switch rep.Highest() {
	case audit.SeverityCritical:
		return &codeError{code: exitAuditCritical}
	case audit.SeverityWarn:
		return &codeError{code: exitAuditWarn}
	}
	return nil
}

// auditOptions are the audit's options for this CLI invocation.
func (e *env) auditOptions(d state.Dir) audit.Options {
	return audit.Options{
		StateDir:      d,
		Home:          e.home,
		Command:       e.commandName(),
		Getenv:        e.getenv,
		LookupEnv:     e.lookupEnv,
		SandboxLayers: e.sandboxLayers,
	}
}

// commandName is how remediations should name this CLI: with the flags
// that chose the state directory, so that a pasted command acts on it.
func (e *env) commandName() string {
	switch {
	case e.stateDirFlag != "":
		return "gatehouse --state-dir " + quoteForShell(e.stateDirFlag)
	case e.profile != "":
		return "gatehouse --profile " + e.profile
	}
	return "gatehouse"
}

func quoteForShell(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r == '/' || r == '.' || r == '-' || r == '_' || r == '~' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// sandboxLayers opens the configured sandbox backend and reports its
// layers, for the audit's deep check.
func (e *env) sandboxLayers(ctx context.Context) ([]sandbox.Layer, error) {
	s, err := e.sandboxEnv()
	if err != nil {
		return nil, err
	}
	sb, err := backend.Open(ctx, s.cfg.Agents.Defaults.Sandbox, s.opts, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	defer sb.Close()
	return sb.Layers(ctx), nil
}

// renderAudit prints the report for people: findings by severity, each
// with its fix; what the deep audit sent; what was skipped; what --fix
// changed; the counts.
func (e *env) renderAudit(rep *audit.Report) {
	kind := "Security audit"
	if rep.Deep {
		kind = "Deep security audit"
	}
	e.printf("%s of %s\n\n", kind, rep.StateDir)
	if len(rep.Findings) == 0 {
		e.printf("No findings.\n")
	}
	for _, f := range rep.Findings {
		e.printf("%-8s  %s  %s\n", strings.ToUpper(string(f.Severity)), f.CheckID, f.Subject)
		e.printf("          %s\n", f.Title)
		if f.Detail != "" {
			e.printf("          %s\n", f.Detail)
		}
		if f.Remediation != "" {
			fix := "fix: " + f.Remediation
			if f.Fixable {
				fix += "  (--fix repairs this)"
			}
			e.printf("          %s\n", fix)
		}
	}
	if len(rep.Probes) > 0 {
		e.printf("\nProbes of the running gateway (loopback only):\n")
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		for _, p := range rep.Probes {
			verdict := "ok"
			if !p.Secure {
				verdict = "OPEN"
			}
			src := ""
			if p.Source != "" {
				src = " (from " + p.Source + ")"
			}
			fmt.Fprintf(tw, "  %s\t%s%s\t→ %s\n", verdict, p.Request, src, p.Result)
		}
		tw.Flush()
	}
	var skipped []audit.CheckResult
	for _, c := range rep.Checks {
		if c.Status == audit.StatusSkip {
			skipped = append(skipped, c)
		}
	}
	if len(skipped) > 0 {
		e.printf("\nSkipped (could not run here):\n")
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		for _, c := range skipped {
			fmt.Fprintf(tw, "  %s\t%s\n", c.CheckID, c.Reason)
		}
		tw.Flush()
	}
	if len(rep.Changes) > 0 {
		e.printf("\nFixed:\n")
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		config := false
		for _, c := range rep.Changes {
			if c.Error != "" {
				fmt.Fprintf(tw, "  FAILED\t%s\t%s\t%s\n", c.Subject, c.Action, c.Error)
				continue
			}
			fmt.Fprintf(tw, "  fixed\t%s\t%s\n", c.Subject, c.Action)
			config = config || c.Config
		}
		tw.Flush()
		if config {
			e.printf("  The running gateway applies config changes when it reloads: %s gateway restart\n", e.commandName())
		}
	}
	s := rep.Summary
	e.printf("\n%d critical, %d warn, %d info (%d checks, %d skipped)", s.Critical, s.Warn, s.Info, s.Checks, s.Skipped)
	if !rep.Deep {
		e.printf("; the gateway and host checks need --deep")
	}
	e.printf("\n")
}

func newSecurityChecksCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "checks",
		Short: "List every check the audit runs",
		Long: `List the audit's catalog: each check's stable checkId, category, the highest
severity it reports, whether --fix repairs it, whether it needs --deep, and
what it looks for.`,
		Example: `  gatehouse security checks
  gatehouse security checks --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cat := audit.Catalog()
			if e.json {
				return e.printJSON(cat)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "CHECK\tSEVERITY\tFIX\tDEEP\tTITLE\n")
			for _, c := range cat {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.ID, c.Severity, yesNo(c.Fixable), yesNo(c.Deep), c.Title)
			}
			return tw.Flush()
		},
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "-"
}
