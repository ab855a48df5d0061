package service

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// Status is what `gatehouse service status` reports about one unit.
type Status struct {
	Unit      string `json:"unit"`
	Mode      Mode   `json:"mode"`
	Path      string `json:"path"`
	Installed bool   `json:"installed"`
	// Systemd is "running", or "not running" when PID 1 is not systemd
	// (or, for a user unit, no user manager answers).
	Systemd string `json:"systemd"`
	// Enabled and Active are what systemctl is-enabled and is-active say
	// (enabled, disabled, …; active, inactive, failed, …), when systemd
	// runs and the unit is installed.
	Enabled string `json:"enabled,omitempty"`
	Active  string `json:"active,omitempty"`
	// Exposure is the installed unit's overall exposure level from
	// systemd-analyze security --offline=true, 0.0 (best) to 10.0.
	Exposure *float64 `json:"exposure,omitempty"`
	// ExposureError says why there is no Exposure (no systemd-analyze).
	ExposureError string `json:"exposureError,omitempty"`
}

// Systemd states in Status.
const (
	SystemdRunning    = "running"
	SystemdNotRunning = "not running"
)

// Probe reports on the unit u installed in unitDir. root prefixes the
// paths read, as ApplyOptions.Root does.
func Probe(ctx context.Context, h Host, u Unit, unitDir, root string) Status {
	u = u.withDefaults()
	path := filepath.Join(unitDir, u.FileName())
	st := Status{Unit: u.FileName(), Mode: u.Mode, Path: path, Systemd: SystemdNotRunning}
	file := filepath.Join("/", root, path)
	if _, err := os.Stat(file); err == nil {
		st.Installed = true
	}
	if h.ManagerRunning(u.Mode) {
		st.Systemd = SystemdRunning
		if st.Installed {
			// Both exit non-zero for anything but enabled and active;
			// the word on stdout is the answer either way.
			st.Enabled = firstWord(h.Run(ctx, append(u.systemctl(), "is-enabled", u.FileName())...))
			st.Active = firstWord(h.Run(ctx, append(u.systemctl(), "is-active", u.FileName())...))
		}
	}
	if st.Installed {
		if x, err := Exposure(ctx, h, file); err != nil {
			st.ExposureError = err.Error()
		} else {
			st.Exposure = &x
		}
	}
	return st
}

func firstWord(out []byte, _ error) string {
	f := strings.Fields(string(out))
	if len(f) == 0 {
		return "unknown"
	}
	return f[0]
}

// ErrNoAnalyzer is returned by Exposure and Verify where systemd-analyze
// is not installed (Debian: apt-get install systemd).
var ErrNoAnalyzer = errors.New("systemd-analyze is not installed (Debian: apt-get install systemd)")

var exposureLine = regexp.MustCompile(`Overall exposure level for \S+: ([0-9]+)\.([0-9])\b`)

// Exposure scores the unit file at path with systemd-analyze security
// --offline=true, which needs no running systemd, and returns the overall
// exposure level as systemd prints it: 0.0 (best) to 10.0.
func Exposure(ctx context.Context, r Runner, path string) (float64, error) {
	out, err := r.Run(ctx, "systemd-analyze", "security", "--offline=true", "--no-pager", path)
	if errors.Is(err, exec.ErrNotFound) {
		return 0, ErrNoAnalyzer
	}
	m := exposureLine.FindSubmatch(out)
	if m == nil {
		if err == nil {
			err = errors.New("no overall exposure level in its output")
		}
		return 0, fmt.Errorf("systemd-analyze security %s: %w: %s", path, err, lastLines(strings.TrimSpace(string(out)), 5))
	}
	whole, _ := strconv.Atoi(string(m[1]))
	tenth, _ := strconv.Atoi(string(m[2]))
	return float64(whole) + float64(tenth)/10, nil
}

// Verify checks the unit file at path with systemd-analyze verify: its
// syntax, that every key is known, and that the programs it runs exist.
// Any complaint, even a warning, is an error.
func Verify(ctx context.Context, r Runner, path string) error {
	out, err := r.Run(ctx, "systemd-analyze", "verify", path)
	if errors.Is(err, exec.ErrNotFound) {
		return ErrNoAnalyzer
	}
	msg := strings.TrimSpace(string(out))
	switch {
	case err != nil && msg != "":
		return fmt.Errorf("systemd-analyze verify %s: %w: %s", path, err, msg)
	case err != nil:
		return fmt.Errorf("systemd-analyze verify %s: %w", path, err)
	case msg != "":
		return fmt.Errorf("systemd-analyze verify %s: %s", path, msg)
	}
	return nil
}
