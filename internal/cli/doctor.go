package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"gatehouse/internal/audit"
	"gatehouse/internal/config"
	"gatehouse/internal/gateway"
	"gatehouse/internal/secret"
	"gatehouse/internal/state"
	"gatehouse/internal/store"
)

// Doctor check results.
const (
	checkOK    = "ok"
	checkWarn  = "warn"
	checkFail  = "fail"
	checkFixed = "fixed"
	checkSkip  = "skip"
)

// doctorCheck is one row of the doctor's report.
type doctorCheck struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Title  string `json:"title"`
	Detail string `json:"detail,omitempty"`
	Fix    string `json:"fix,omitempty"`
}

// doctorReport is what `doctor --json` prints.
type doctorReport struct {
	StateDir string        `json:"stateDir"`
	Checks   []doctorCheck `json:"checks"`
	OK       bool          `json:"ok"`
}

func newDoctorCmd(e *env) *cobra.Command {
	var fix bool
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check the state dir, config, token, secrets, port and database",
		Long: `Check this Gatehouse's installation: state dir and file modes (700/600) and
ownership, config validity, gateway token strength, plaintext secrets in the
config, the secret store, whether the port is free or held by our gateway,
and database integrity. --fix repairs file modes and says what it changed.
Exits 1 when a check fails.`,
		Example: `  gatehouse doctor
  gatehouse doctor --fix
  gatehouse doctor --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := e.dir()
			if err != nil {
				return err
			}
			rep := e.doctor(cmd.Context(), d, fix)
			if e.json {
				if err := e.printJSON(rep); err != nil {
					return err
				}
			} else {
				for _, c := range rep.Checks {
					e.printf("%-5s  %s", strings.ToUpper(c.Status), c.Title)
					if c.Detail != "" {
						e.printf(": %s", c.Detail)
					}
					e.printf("\n")
					if c.Fix != "" && (c.Status == checkWarn || c.Status == checkFail) {
						e.printf("       fix: %s\n", c.Fix)
					}
				}
			}
			if !rep.OK {
				return &codeError{code: exitError}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&fix, "fix", false, "repair file modes under the state dir")
	return cmd
}

func (e *env) doctor(ctx context.Context, d state.Dir, fix bool) doctorReport {
	rep := doctorReport{StateDir: d.Root, OK: true}
	add := func(c doctorCheck) {
		if c.Status == checkFail {
			rep.OK = false
		}
		rep.Checks = append(rep.Checks, c)
	}

	fi, err := os.Stat(d.Root)
	if err != nil {
		add(doctorCheck{ID: "state_dir", Status: checkFail, Title: "state dir " + d.Root,
			Detail: "does not exist", Fix: "gatehouse onboard --non-interactive"})
		return rep
	}
	if !fi.IsDir() {
		add(doctorCheck{ID: "state_dir", Status: checkFail, Title: "state dir " + d.Root, Detail: "is not a directory"})
		return rep
	}
	add(doctorCheck{ID: "state_dir", Status: checkOK, Title: "state dir " + d.Root})

	// Modes, owners and symlinks: the audit's file checks, which expect
	// the state dir's owner when run as root and leave a locked SOUL.md
	// (root-owned, read-only) alone.
	for _, c := range e.doctorFiles(ctx, d, fix) {
		add(c)
	}

	// Config.
	f, err := config.Load(d.Config())
	if err != nil {
		add(doctorCheck{ID: "config", Status: checkFail, Title: "config " + d.Config(), Detail: err.Error(),
			Fix: "gatehouse config validate, then correct the key it names"})
		return rep
	}
	if !f.Exists {
		add(doctorCheck{ID: "config", Status: checkFail, Title: "config " + d.Config(), Detail: "missing",
			Fix: "gatehouse onboard --non-interactive"})
		return rep
	}
	add(doctorCheck{ID: "config", Status: checkOK, Title: "config " + d.Config(), Detail: "valid"})
	cfg := f.Config()

	// Secret store.
	if _, err := e.openSecrets(d); err != nil {
		add(doctorCheck{ID: "secret_store", Status: checkFail, Title: "secret store", Detail: err.Error()})
	} else {
		add(doctorCheck{ID: "secret_store", Status: checkOK, Title: "secret store", Detail: "encrypted at rest"})
	}

	// Token.
	add(e.checkToken(d, cfg))

	// Plaintext secrets.
	if ps := cfg.PlaintextSecrets(); len(ps) > 0 {
		add(doctorCheck{ID: "plaintext_secrets", Status: checkWarn, Title: "plaintext secrets in the config",
			Detail: strings.Join(ps, ", "), Fix: "gatehouse secrets migrate"})
	} else {
		add(doctorCheck{ID: "plaintext_secrets", Status: checkOK, Title: "no plaintext secrets in the config"})
	}

	// Port.
	add(e.checkPort(ctx, d, cfg))

	// Database.
	switch err := store.Check(ctx, d.Database()); {
	case errors.Is(err, fs.ErrNotExist):
		add(doctorCheck{ID: "database", Status: checkWarn, Title: "database " + d.Database(), Detail: "missing",
			Fix: "gatehouse onboard --non-interactive"})
	case err != nil:
		add(doctorCheck{ID: "database", Status: checkFail, Title: "database " + d.Database(), Detail: err.Error(),
			Fix: "stop the gateway, move the database away and restore it from a backup"})
	default:
		add(doctorCheck{ID: "database", Status: checkOK, Title: "database " + d.Database(), Detail: "integrity ok"})
	}

	// Workspace.
	ws := e.workspaceDir(d, cfg)
	if _, err := os.Stat(filepath.Join(ws, "SOUL.md")); err != nil {
		add(doctorCheck{ID: "workspace", Status: checkWarn, Title: "workspace " + ws, Detail: "SOUL.md missing",
			Fix: "gatehouse onboard --non-interactive"})
	} else {
		add(doctorCheck{ID: "workspace", Status: checkOK, Title: "workspace " + ws})
	}
	return rep
}

// doctorFiles turns the audit's file findings and repairs into doctor rows.
func (e *env) doctorFiles(ctx context.Context, d state.Dir, fix bool) []doctorCheck {
	rep, err := audit.Files(ctx, audit.Options{StateDir: d, Home: e.home, Fix: fix, Command: e.commandName(),
		Getenv: e.getenv, LookupEnv: e.lookupEnv})
	if err != nil {
		return []doctorCheck{{ID: "permissions", Status: checkFail, Title: "file modes", Detail: err.Error()}}
	}
	shown := func(subject string) string {
		if filepath.IsAbs(subject) {
			return subject
		}
		return filepath.Join(d.Root, subject)
	}
	var rows []doctorCheck
	for _, c := range rep.Changes {
		if c.Error != "" {
			rows = append(rows, doctorCheck{ID: "permissions", Status: checkFail, Title: "file mode " + shown(c.Subject),
				Detail: c.Action + ": " + c.Error, Fix: "fix by hand"})
			continue
		}
		title := "file mode "
		if c.CheckID == audit.CheckOwner {
			title = "owner of "
		}
		rows = append(rows, doctorCheck{ID: "permissions", Status: checkFixed, Title: title + shown(c.Subject), Detail: c.Action})
	}
	failed := false
	for _, f := range rep.Findings {
		if !doctorFileCheck(f) {
			continue
		}
		failed = true
		hint := f.Remediation
		if f.Fixable {
			hint = e.commandName() + " doctor --fix"
		}
		rows = append(rows, doctorCheck{ID: "permissions", Status: checkFail, Title: shown(f.Subject), Detail: f.Detail, Fix: hint})
	}
	if !failed && len(rep.Changes) == 0 {
		rows = append(rows, doctorCheck{ID: "permissions", Status: checkOK, Title: "file modes", Detail: "directories 700, files 600"})
	}
	return rows
}

// doctorFileCheck reports whether an audit finding is one of the doctor's
// file problems: modes, owners, symlinks and unreadable entries in the
// state dir, and group- or world-writable workspace files. SOUL.md's
// presence is the workspace row's; its baseline is gatehouse soul's.
func doctorFileCheck(f audit.Finding) bool {
	switch f.CheckID {
	case audit.CheckSoulMissing, audit.CheckSoulUnlocked, audit.CheckSoulIntegrity, audit.CheckStateDirMissing:
		return false
	}
	return strings.HasPrefix(f.CheckID, "fs.") || f.CheckID == audit.CheckWorkspaceWritable || f.CheckID == audit.CheckSoulWritable
}

// checkToken checks that the gateway secret resolves and is strong.
func (e *env) checkToken(d state.Dir, cfg *config.Config) doctorCheck {
	c := doctorCheck{ID: "token", Title: "gateway token"}
	if cfg.Gateway.Auth.Mode == "none" {
		c.Status, c.Detail, c.Fix = checkFail, "gateway.auth.mode is none; the gateway will not start", "gatehouse config set gateway.auth.mode token"
		return c
	}
	tok, err := e.gatewayToken(d, cfg)
	if err != nil {
		c.Status, c.Detail, c.Fix = checkFail, err.Error(), "gatehouse onboard --non-interactive"
		return c
	}
	bits := secret.EstimateBits(tok)
	c.Detail = fmt.Sprintf("about %d bits", bits)
	switch {
	case bits >= 128:
		c.Status = checkOK
	case cfg.Gateway.Bind == "loopback":
		c.Status, c.Fix = checkWarn, "use a 256-bit token: printf '%s' \"$(openssl rand -hex 32)\" | gatehouse secrets set gateway.auth.token"
	default:
		c.Status, c.Fix = checkFail, "the gateway refuses a non-loopback bind with fewer than 128 bits: printf '%s' \"$(openssl rand -hex 32)\" | gatehouse secrets set gateway.auth.token"
	}
	return c
}

// checkPort reports whether the gateway port is free or held by our gateway.
func (e *env) checkPort(ctx context.Context, d state.Dir, cfg *config.Config) doctorCheck {
	c := doctorCheck{ID: "port", Title: "port " + strconv.Itoa(cfg.Gateway.Port)}
	addr, err := gateway.ListenAddr(cfg)
	if err != nil {
		c.Status, c.Detail = checkFail, err.Error()
		return c
	}
	if pid, err := state.LockHolder(d.Lock()); err == nil && pid > 0 {
		ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		host := dialHost(cfg)
		if ok, _ := probeHealthz(ctx, "http://"+net.JoinHostPort(host, strconv.Itoa(cfg.Gateway.Port))); ok {
			c.Status, c.Detail = checkOK, fmt.Sprintf("held by this gateway (pid %d)", pid)
		} else {
			c.Status, c.Detail = checkWarn, fmt.Sprintf("the gateway (pid %d) holds the lock but does not answer on %s", pid, addr)
			c.Fix = "gatehouse logs"
		}
		return c
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		c.Status, c.Detail = checkFail, fmt.Sprintf("%s is in use by another program", addr)
		c.Fix = "stop that program (ss -tlnp | grep " + strconv.Itoa(cfg.Gateway.Port) + ") or gatehouse config set gateway.port N"
		return c
	}
	ln.Close()
	c.Status, c.Detail = checkOK, addr+" is free"
	return c
}
