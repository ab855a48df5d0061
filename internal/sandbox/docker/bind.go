package docker

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"gatehouse/internal/sandbox"
)

// ErrSensitiveBind is returned (wrapped) by [CheckBindSource] for a host
// path that must never be mounted into a sandbox.
var ErrSensitiveBind = errors.New("sensitive bind source")

// sensitiveRoots are host paths a sandbox must not see, nor any path under
// them, nor any parent of them. The parent rule is what refuses "/", /var
// and the home directory itself.
var sensitiveRoots = []string{
	"/etc", "/proc", "/sys", "/dev", "/root", "/boot", "/run", "/var/run",
	// Engine sockets and storage: a container that sees them owns the host.
	"/var/run/docker.sock", "/run/podman/podman.sock",
	"/var/lib/docker", "/var/lib/containers",
}

// sensitiveHome are directories under the owner's home that hold
// credentials.
var sensitiveHome = []string{".ssh", ".aws", ".config", ".gnupg", ".kube", ".docker"}

// CheckBindSource reports whether the host path src may be mounted into a
// sandbox. It canonicalises src (absolute, symlinks resolved: the path
// must exist) and refuses it when it is, is under, or is a parent of a
// sensitive path: /, /etc, /proc, /sys, /dev, /root, /boot, /run,
// /var/run, the engine sockets and storage (/var/lib/docker,
// /var/lib/containers), home's .ssh, .aws, .config, .gnupg, .kube and
// .docker, and stateDir, the gateway's state directory (whose workspace
// subdirectory, stateDir/workspace, is allowed: it is the default
// workspace). /root is refused unless home is /root, where the rules for
// home apply instead. A unix socket is refused whatever its name. home and
// stateDir may be empty, which skips their rules.
//
// It returns the canonical path, which is what must be mounted: a check of
// one path and a mount of another would let a symlink swapped in between
// redirect the mount.
func CheckBindSource(src, home, stateDir string) (string, error) {
	if src == "" {
		return "", fmt.Errorf("bind source is empty: give an absolute host path")
	}
	abs, err := filepath.Abs(src)
	if err != nil {
		return "", fmt.Errorf("bind source %q: %w", src, err)
	}
	canon, err := filepath.EvalSymlinks(abs)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("bind source %q does not exist: create it first (the engine must not create host paths)", src)
		}
		return "", fmt.Errorf("bind source %q: %w", src, err)
	}
	fi, err := os.Stat(canon)
	if err != nil {
		return "", fmt.Errorf("bind source %q: %w", src, err)
	}
	if fi.Mode()&fs.ModeSocket != 0 {
		return "", fmt.Errorf("bind source %q is a unix socket (%s): a sandbox never gets a socket to the host: %w", src, canon, ErrSensitiveBind)
	}

	type rule struct {
		path, why string
		allow     string // a subtree of path that may be mounted
	}
	var rules []rule
	homeCanon := ""
	if home != "" {
		homeCanon = canonical(home)
	}
	for _, p := range sensitiveRoots {
		if p == "/root" && homeCanon == "/root" {
			continue // the owner's own home: its credential directories are listed below
		}
		rules = append(rules, rule{path: p, why: p})
	}
	if home != "" {
		for _, d := range sensitiveHome {
			rules = append(rules, rule{path: filepath.Join(home, d), why: "~/" + d})
		}
	}
	if stateDir != "" {
		// The agent's workspace lives in the state dir by default.
		rules = append(rules, rule{path: stateDir, why: "the gateway state directory", allow: "workspace"})
	}
	for _, r := range rules {
		for _, p := range []string{filepath.Clean(r.path), canonical(r.path)} {
			switch {
			case canon == p:
				return "", fmt.Errorf("bind source %q is %s: %w", src, r.why, ErrSensitiveBind)
			case within(canon, p):
				if a := filepath.Join(p, r.allow); r.allow != "" && (canon == a || within(canon, a)) {
					continue
				}
				return "", fmt.Errorf("bind source %q (%s) is inside %s: %w", src, canon, r.why, ErrSensitiveBind)
			case within(p, canon):
				return "", fmt.Errorf("bind source %q (%s) contains %s: %w", src, canon, r.why, ErrSensitiveBind)
			}
		}
	}
	return canon, nil
}

// canonical resolves symlinks in p when it exists, else returns it cleaned.
func canonical(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return filepath.Clean(p)
	}
	if c, err := filepath.EvalSymlinks(abs); err == nil {
		return c
	}
	// Resolve the longest existing parent, so that /var/run/x (with
	// /var/run -> /run) still compares equal to /run/x.
	dir, rest := filepath.Dir(abs), filepath.Base(abs)
	for dir != "/" && dir != "." {
		if c, err := filepath.EvalSymlinks(dir); err == nil {
			return filepath.Join(c, rest)
		}
		rest = filepath.Join(filepath.Base(dir), rest)
		dir = filepath.Dir(dir)
	}
	return abs
}

// within reports whether p is strictly inside dir. Both are clean and
// absolute.
func within(p, dir string) bool {
	if dir == "/" {
		return p != "/"
	}
	return strings.HasPrefix(p, dir+"/")
}

// Bind is one extra host path mounted into the sandbox.
type Bind struct {
	Source   string // canonical host path
	Target   string // absolute path in the container
	ReadOnly bool
}

// ParseBind parses spec, host:container[:ro|rw] (read-only when the mode is
// left out), checks the source with [CheckBindSource] and returns it with
// the canonical source.
func ParseBind(spec, home, stateDir string) (Bind, error) {
	parts := strings.Split(spec, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return Bind{}, fmt.Errorf("bind %q: want host:container[:ro|rw]", spec)
	}
	b := Bind{Target: filepath.Clean(parts[1]), ReadOnly: true}
	if len(parts) == 3 {
		switch parts[2] {
		case "ro":
		case "rw":
			b.ReadOnly = false
		default:
			return Bind{}, fmt.Errorf("bind %q: mode %q is not ro or rw", spec, parts[2])
		}
	}
	if !filepath.IsAbs(parts[0]) {
		return Bind{}, fmt.Errorf("bind %q: host path %q is not absolute", spec, parts[0])
	}
	if err := checkTarget(b.Target); err != nil {
		return Bind{}, fmt.Errorf("bind %q: %w", spec, err)
	}
	src, err := CheckBindSource(parts[0], home, stateDir)
	if err != nil {
		return Bind{}, err
	}
	if strings.ContainsAny(src, ":,") {
		return Bind{}, fmt.Errorf("bind %q: host path %q contains ':' or ',', which the engine cannot mount unambiguously: rename it", spec, src)
	}
	b.Source = src
	return b, nil
}

// checkTarget refuses container paths that would shadow what the sandbox
// itself provides.
func checkTarget(t string) error {
	if !filepath.IsAbs(t) {
		return fmt.Errorf("container path %q is not absolute", t)
	}
	if strings.ContainsAny(t, ":,") {
		return fmt.Errorf("container path %q contains ':' or ','", t)
	}
	for _, p := range []string{"/", "/proc", "/sys", "/dev", sandbox.WorkspaceMount, "/tmp"} {
		if t == p || (p != "/" && within(t, p)) {
			return fmt.Errorf("container path %q would cover %s, which the sandbox provides", t, p)
		}
	}
	return nil
}
