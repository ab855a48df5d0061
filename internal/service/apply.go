package service

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
)

// Runner runs commands.
type Runner interface {
	// Run runs argv and returns its combined output. A command that is
	// not installed returns an error wrapping exec.ErrNotFound.
	Run(ctx context.Context, argv ...string) ([]byte, error)
}

// Host is the machine a plan changes and a status asks. [LocalHost] is
// this one; tests use a fake, so no test creates accounts or talks to
// systemd.
type Host interface {
	Runner
	// LookupAccount returns the uid and primary gid of an account.
	LookupAccount(name string) (uid, gid int, err error)
	// ManagerRunning reports whether the systemd instance of mode is
	// running here and reachable by systemctl.
	ManagerRunning(mode Mode) bool
}

// LocalHost returns this machine as a Host. getenv (os.Getenv) finds the
// user manager through XDG_RUNTIME_DIR.
func LocalHost(getenv func(string) string) Host { return localHost{getenv: getenv} }

type localHost struct{ getenv func(string) string }

func (h localHost) Run(ctx context.Context, argv ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "SYSTEMD_COLORS=0", "SYSTEMD_PAGER=", "LC_ALL=C")
	return cmd.CombinedOutput()
}

func (h localHost) LookupAccount(name string) (int, int, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return 0, 0, err
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return 0, 0, fmt.Errorf("account %s: uid %q: %w", name, u.Uid, err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return 0, 0, fmt.Errorf("account %s: gid %q: %w", name, u.Gid, err)
	}
	return uid, gid, nil
}

// ManagerRunning checks what sd_booted(3) checks, and for the user
// manager its private socket, which systemctl --user connects to.
func (h localHost) ManagerRunning(mode Mode) bool {
	if fi, err := os.Stat("/run/systemd/system"); err != nil || !fi.IsDir() {
		return false
	}
	if mode == ModeSystem {
		return true
	}
	dir := h.getenv("XDG_RUNTIME_DIR")
	if dir == "" {
		dir = "/run/user/" + strconv.Itoa(os.Getuid())
	}
	_, err := os.Stat(filepath.Join(dir, "systemd", "private"))
	return err == nil
}

// ApplyOptions says how to carry out a plan.
type ApplyOptions struct {
	// Root is prepended to every path a step writes or removes, as
	// systemctl --root does; "" means /.
	Root string
	// Offline runs no command and changes no ownership: only the files
	// are written (with Root, to prepare an image or to test).
	Offline bool
}

// Result is what became of one step.
type Result struct {
	Step   string `json:"step"`
	Status string `json:"status"` // done, skipped or failed
	Detail string `json:"detail,omitempty"`
}

// Step outcomes.
const (
	StatusDone    = "done"
	StatusSkipped = "skipped"
	StatusFailed  = "failed"
)

// ErrManagerNotRunning is the Detail cause of steps skipped because
// systemd is not running here.
var ErrManagerNotRunning = errors.New("systemd is not running here (PID 1 is not systemd, or no user manager answers)")

// Apply carries out steps in order on h. It stops at the first step that
// fails and returns the results so far with that step's error. Steps that
// need a service manager that is not running are skipped, not failed: the
// files are in place and [Unit.ManagerCommands] starts them later.
func Apply(ctx context.Context, h Host, steps []Step, opts ApplyOptions) ([]Result, error) {
	results := make([]Result, 0, len(steps))
	for _, s := range steps {
		r := Result{Step: s.String(), Status: StatusDone}
		skip, err := apply(ctx, h, s, opts)
		switch {
		case err != nil:
			r.Status, r.Detail = StatusFailed, err.Error()
		case skip != "":
			r.Status, r.Detail = StatusSkipped, skip
		}
		results = append(results, r)
		if err != nil {
			return results, fmt.Errorf("%s: %w", s, err)
		}
	}
	return results, nil
}

// apply does one step; it returns why it skipped it, if it did.
func apply(ctx context.Context, h Host, s Step, opts ApplyOptions) (string, error) {
	path := filepath.Join("/", opts.Root, s.Path)
	switch s.Op {
	case OpRun:
		if opts.Offline {
			return "offline: no command runs", nil
		}
		if s.Manager != "" && !h.ManagerRunning(s.Manager) {
			return ErrManagerNotRunning.Error(), nil
		}
		out, err := h.Run(ctx, s.Argv...)
		if err != nil {
			if msg := strings.TrimSpace(string(out)); msg != "" {
				return "", fmt.Errorf("%w: %s", err, lastLines(msg, 5))
			}
			return "", err
		}
		return "", nil
	case OpMkdir:
		return "", mkdir(h, path, s, opts)
	case OpCopy:
		f, err := os.Open(s.From)
		if err != nil {
			return "", err
		}
		defer f.Close()
		if fi, err := os.Stat(path); err == nil {
			if src, err := f.Stat(); err == nil && os.SameFile(fi, src) {
				return "it is that file already", nil
			}
		}
		return "", writeAtomic(path, f, s.Perm)
	case OpWrite:
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, s.Data) {
			if fi, err := os.Stat(path); err == nil && fi.Mode().Perm() == s.Perm {
				return "unchanged", nil
			}
		}
		return "", writeAtomic(path, bytes.NewReader(s.Data), s.Perm)
	case OpRemove:
		err := os.Remove(path)
		if errors.Is(err, fs.ErrNotExist) {
			return "not there", nil
		}
		return "", err
	}
	return "", fmt.Errorf("unknown step %q", s.Op)
}

// mkdir makes the directory with s.Perm or, when it exists, takes away
// what s.Perm does not allow; it never loosens a mode. Then it gives the
// directory to s.Owner.
func mkdir(h Host, path string, s Step, opts ApplyOptions) error {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(path, s.Perm); err != nil {
			return err
		}
		// The umask may have taken bits away; set the mode asked for.
		if err := os.Chmod(path, s.Perm); err != nil {
			return err
		}
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("%s exists and is not a directory", path)
	case fi.Mode().Perm()&^s.Perm != 0:
		if err := os.Chmod(path, fi.Mode().Perm()&s.Perm); err != nil {
			return err
		}
	}
	if s.Owner == "" || opts.Offline {
		return nil
	}
	uid, gid, err := h.LookupAccount(s.Owner)
	if err != nil {
		return fmt.Errorf("owner %s: %w", s.Owner, err)
	}
	return os.Lchown(path, uid, gid)
}

// writeAtomic replaces path with r's content and mode perm, through a
// temporary file in the same directory.
func writeAtomic(path string, r io.Reader, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// lastLines keeps the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " / ")
}
