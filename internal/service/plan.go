package service

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
)

// Op is what a Step does.
type Op string

const (
	OpRun    Op = "run"    // run Argv
	OpMkdir  Op = "mkdir"  // make the directory Path with Perm, owned by Owner
	OpCopy   Op = "copy"   // copy the file From to Path with Perm, replacing it atomically
	OpWrite  Op = "write"  // write Data to Path with Perm, replacing it atomically
	OpRemove Op = "remove" // remove the file Path
)

// Step is one action of an install or uninstall plan. Its String is the
// shell command that does the same, so a plan can be shown before it runs
// (--dry-run) and run by hand where gatehouse cannot.
type Step struct {
	Op   Op
	Argv []string
	Path string
	From string
	Perm fs.FileMode
	// Owner is the account that owns a directory made by OpMkdir, with
	// its primary group; empty keeps the creator's.
	Owner string
	Data  []byte
	// Manager is set on steps that talk to systemd (systemctl): Apply
	// skips them when that manager is not running here.
	Manager Mode
}

// String returns the step as a shell command.
func (s Step) String() string {
	switch s.Op {
	case OpRun:
		return shellJoin(s.Argv)
	case OpMkdir:
		owner := ""
		if s.Owner != "" {
			owner = fmt.Sprintf(" -o %s -g %s", s.Owner, s.Owner)
		}
		return fmt.Sprintf("install -d -m %04o%s %s", uint32(s.Perm), owner, shellQuote(s.Path))
	case OpCopy:
		return fmt.Sprintf("install -m %04o %s %s", uint32(s.Perm), shellQuote(s.From), shellQuote(s.Path))
	case OpWrite:
		return fmt.Sprintf("install -m %04o /dev/stdin %s  # %d bytes", uint32(s.Perm), shellQuote(s.Path), len(s.Data))
	case OpRemove:
		return "rm -f " + shellQuote(s.Path)
	}
	return string(s.Op)
}

// Install is one installation: the unit, and what the caller found on the
// host that decides which steps it takes. Paths are as the host sees them,
// without ApplyOptions.Root.
type Install struct {
	Unit Unit
	// UnitDir is where the unit file goes: /etc/systemd/system, or the
	// user's ~/.config/systemd/user.
	UnitDir string
	// Source is the running gatehouse binary. A system install copies it
	// to Unit.Exec unless it is that file already.
	Source string
	// AccountExists reports that the system account Unit.Name() exists,
	// so it is not created. System mode only.
	AccountExists bool
	// Nologin is the login shell of a new system account.
	Nologin string
	// Configured reports that the state directory has a config file; if
	// not, the plan onboards it (a token, the secret key, the defaults),
	// or the gateway could not start.
	Configured bool
}

// UnitPath is where the unit file goes.
func (in Install) UnitPath() string { return filepath.Join(in.UnitDir, in.Unit.FileName()) }

// Steps returns the plan. In system mode: the account (useradd, locked,
// no login shell, home /var/lib/NAME), the binary in /usr/local/bin, the
// state directory (0700, the account's), onboarding as the account, the
// unit (0644: it holds no secret), then systemctl daemon-reload, enable and
// restart. In user mode: onboarding, the unit, systemctl --user.
func (in Install) Steps() ([]Step, error) {
	u := in.Unit.withDefaults()
	if err := u.Validate(); err != nil {
		return nil, err
	}
	if in.UnitDir == "" || !filepath.IsAbs(in.UnitDir) {
		return nil, fmt.Errorf("unit directory %q is not absolute", in.UnitDir)
	}
	data, err := u.Render()
	if err != nil {
		return nil, err
	}
	var steps []Step
	onboard := []string{u.Exec, "--state-dir", u.StateDir}
	if u.Instance != "" {
		onboard = append(onboard, "--profile", u.Instance)
	}
	onboard = append(onboard, "onboard", "--non-interactive")

	if u.Mode == ModeSystem {
		name, home := u.Name(), u.SystemStateDir()
		if !in.AccountExists {
			shell := in.Nologin
			if shell == "" {
				shell = "/usr/sbin/nologin"
			}
			steps = append(steps, Step{Op: OpRun, Argv: []string{"useradd", "--system", "--user-group",
				"--home-dir", home, "--no-create-home", "--shell", shell, "--password", "!",
				"--comment", "Gatehouse AI agent gateway", name}})
		}
		if in.Source == "" {
			return nil, fmt.Errorf("no binary to install at %s: name the running gatehouse", u.Exec)
		}
		if in.Source != u.Exec {
			steps = append(steps, Step{Op: OpCopy, From: in.Source, Path: u.Exec, Perm: 0o755})
		}
		steps = append(steps, Step{Op: OpMkdir, Path: u.StateDir, Perm: 0o700, Owner: name})
		if !in.Configured {
			steps = append(steps, Step{Op: OpRun, Argv: append([]string{"runuser", "-u", name, "--",
				"env", "HOME=" + home}, onboard...)})
		}
	} else if !in.Configured {
		steps = append(steps, Step{Op: OpRun, Argv: onboard})
	}

	dirPerm := fs.FileMode(0o755)
	if u.Mode == ModeUser {
		dirPerm = 0o700
	}
	steps = append(steps,
		Step{Op: OpMkdir, Path: in.UnitDir, Perm: dirPerm},
		Step{Op: OpWrite, Path: in.UnitPath(), Perm: 0o644, Data: data})
	ctl := u.systemctl()
	steps = append(steps,
		Step{Op: OpRun, Argv: append(ctl, "daemon-reload"), Manager: u.Mode},
		Step{Op: OpRun, Argv: append(ctl, "enable", u.FileName()), Manager: u.Mode},
		// restart, not start: a reinstall picks up the new unit and binary.
		Step{Op: OpRun, Argv: append(ctl, "restart", u.FileName()), Manager: u.Mode})
	return steps, nil
}

// UninstallSteps returns the plan that stops, disables and removes the
// unit at unitDir. It keeps the state directory, the account and the
// binary.
func UninstallSteps(u Unit, unitDir string) []Step {
	u = u.withDefaults()
	ctl := u.systemctl()
	return []Step{
		{Op: OpRun, Argv: append(ctl, "disable", "--now", u.FileName()), Manager: u.Mode},
		{Op: OpRemove, Path: filepath.Join(unitDir, u.FileName())},
		{Op: OpRun, Argv: append(ctl, "daemon-reload"), Manager: u.Mode},
	}
}

// ManagerCommands are the systemctl commands that start an installed unit,
// for a host where systemd was not running at install time.
func (u Unit) ManagerCommands() []string {
	u = u.withDefaults()
	ctl := shellJoin(u.systemctl())
	return []string{ctl + " daemon-reload", ctl + " enable --now " + u.FileName()}
}

// systemctl is the command that talks to the unit's manager; a new slice
// each time, so callers may append.
func (u Unit) systemctl() []string {
	if u.Mode == ModeUser {
		return []string{"systemctl", "--user"}
	}
	return []string{"systemctl"}
}

// shellJoin quotes argv for a POSIX shell.
func shellJoin(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:@+,%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
