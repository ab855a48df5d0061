package cli

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"gatehouse/internal/state"
	"gatehouse/internal/workspace"
)

func newSoulCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "soul",
		Short: "Lock SOUL.md, the agent's identity, and check it for changes",
		Long: `SOUL.md is the first thing in every prompt. soul lock makes it read-only
(root-owned 0444 and immutable when run as root, 0400 otherwise) and records
its SHA-256 in <state dir>/soul.sha256, outside the workspace. The gateway
checks it at start and on every reload, the daily self-audit checks it, and
a change is reported to the owner as critical.

The baseline is a sha256sum line: sha256sum -c <state dir>/soul.sha256 works
too, as in the seed guides' weekly cron.`,
		Example: `  gatehouse soul lock
  gatehouse soul verify
  gatehouse soul unlock && $EDITOR ~/.gatehouse/workspace/SOUL.md && gatehouse soul lock`,
	}
	cmd.AddCommand(newSoulLockCmd(e), newSoulUnlockCmd(e), newSoulVerifyCmd(e))
	return cmd
}

// soulPaths returns the state dir, its workspace and SOUL.md's baseline.
func (e *env) soulPaths() (d state.Dir, ws, baseline string, err error) {
	d, f, err := e.loadConfig()
	if err != nil {
		return d, "", "", err
	}
	return d, e.workspaceDir(d, f.Config()), workspace.BaselinePath(d), nil
}

func newSoulLockCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "lock",
		Short: "Make SOUL.md read-only and record its SHA-256 baseline",
		Example: `  gatehouse soul lock
  sudo gatehouse --state-dir /home/gatehouse/.gatehouse soul lock`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, ws, baseline, err := e.soulPaths()
			if err != nil {
				return err
			}
			s, err := workspace.Lock(ws, baseline)
			if err != nil {
				return err
			}
			if e.json {
				return e.printJSON(s)
			}
			e.printf("locked %s\n", s.Path)
			e.renderSoulFile(s)
			e.printf("  baseline: %s (sha256sum -c checks it too)\n", s.Baseline)
			if os.Geteuid() != 0 {
				e.printf("not run as root: SOUL.md stays yours, read-only. For a root-owned, immutable SOUL.md that the gateway's user cannot replace: sudo gatehouse --state-dir %s soul lock\n", shellQuote(d.Root))
			}
			e.printf("the gateway checks it at start and on every reload; gatehouse soul verify checks it now\n")
			return nil
		},
	}
}

func newSoulUnlockCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "unlock",
		Short:   "Make SOUL.md editable again and drop its baseline",
		Example: "  gatehouse soul unlock",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, ws, baseline, err := e.soulPaths()
			if err != nil {
				return err
			}
			s, err := workspace.Unlock(ws, baseline)
			if err != nil {
				return err
			}
			if e.json {
				return e.printJSON(s)
			}
			e.printf("unlocked %s (mode %s); the baseline is removed\n", s.Path, s.Mode)
			e.printf("edit it, then run gatehouse soul lock again: until then the audit reports SOUL.md as not locked\n")
			return nil
		},
	}
}

func newSoulVerifyCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "verify",
		Short: "Check SOUL.md against its baseline; exit 1 unless it is unchanged and locked",
		Example: `  gatehouse soul verify
  gatehouse soul verify --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, ws, baseline, err := e.soulPaths()
			if err != nil {
				return err
			}
			s, err := workspace.Verify(ws, baseline)
			if err != nil {
				return err
			}
			if e.json {
				if err := e.printJSON(s); err != nil {
					return err
				}
			} else {
				e.renderSoulVerdict(s)
			}
			if !s.OK() {
				return &codeError{code: exitError}
			}
			return nil
		},
	}
}

func (e *env) renderSoulVerdict(s workspace.Soul) {
	switch s.State {
	case workspace.SoulOK:
		e.printf("SOUL.md: ok, unchanged since soul lock (%s)\n", s.LockedAt.Local().Format(time.DateTime))
		e.renderSoulFile(s)
		return
	case workspace.SoulDrift:
		e.printf("SOUL.md: CHANGED since soul lock (%s)\n", s.LockedAt.Local().Format(time.DateTime))
		e.printf("  file:          %s\n", s.Path)
		e.printf("  locked sha256: %s\n", s.Locked)
		if s.SHA256 != "" {
			e.printf("  now sha256:    %s\n", s.SHA256)
		}
	case workspace.SoulBadMode:
		e.printf("SOUL.md: unchanged, but no longer locked down\n")
		e.renderSoulFile(s)
	case workspace.SoulNoBaseline:
		e.printf("SOUL.md: not locked (%s)\n", s.Path)
	}
	for _, p := range s.Problems {
		e.printf("  - %s\n", p)
	}
	if s.State == workspace.SoulDrift {
		e.printf("nobody should have changed it: if you did not, treat it as a compromise (gatehouse incident).\nIf the change is yours: gatehouse soul unlock, review it, gatehouse soul lock\n")
	}
}

func (e *env) renderSoulFile(s workspace.Soul) {
	e.printf("  sha256:   %s (%d bytes)\n", s.SHA256, s.Size)
	attrs := []string{fmt.Sprintf("uid %d", s.UID), "mode " + s.Mode}
	if s.Immutable {
		attrs = append(attrs, "immutable")
	}
	e.printf("  file:     %s\n", strings.Join(attrs, ", "))
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./+=:@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
