package native

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"gatehouse/internal/sandbox"
)

// cgroupManager makes one cgroup per run, with a memory and a pid limit,
// below the cgroups this process is in: cgroup v2 where memory and pids
// are delegated to it, else cgroup v1 memory and pids hierarchies it may
// write.
type cgroupManager struct {
	v2 bool
	// v2: the delegated cgroup; v1: the memory and pids parents.
	dir, memDir, pidsDir string
	// swap reports that swap can be limited too (memory.swap.max,
	// memory.memsw.limit_in_bytes).
	swap bool
}

// cgroupRun is one run's cgroup.
type cgroupRun struct {
	m     *cgroupManager
	dirs  []string
	fd    int // v2: open cgroup directory for CLONE_INTO_CGROUP
	procs []string
}

// findCgroups finds where this process may make limited cgroups.
func findCgroups() (*cgroupManager, error) {
	own, err := ownCgroups()
	if err != nil {
		return nil, fmt.Errorf("reading /proc/self/cgroup: %w", err)
	}
	mounts, err := cgroupMounts()
	if err != nil {
		return nil, fmt.Errorf("reading /proc/self/mountinfo: %w", err)
	}
	var why []string
	if path, ok := own[""]; ok {
		for _, m := range mounts {
			if m.fstype != "cgroup2" {
				continue
			}
			dir, ok := m.dirFor(path)
			if !ok {
				continue
			}
			ctl, _ := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
			fields := strings.Fields(string(ctl))
			switch {
			case !slices.Contains(fields, "memory") || !slices.Contains(fields, "pids"):
				why = append(why, fmt.Sprintf("cgroup v2 %s does not delegate memory and pids to its children (cgroup.subtree_control: %q)",
					dir, strings.TrimSpace(string(ctl))))
			case unix.Access(dir, unix.W_OK) != nil:
				why = append(why, fmt.Sprintf("cgroup v2 %s is not writable by uid %d", dir, os.Geteuid()))
			default:
				_, err := os.Stat(filepath.Join(dir, "memory.swap.max"))
				return &cgroupManager{v2: true, dir: dir, swap: err == nil}, nil
			}
			break
		}
	}
	v1 := map[string]string{}
	for _, ctl := range []string{"memory", "pids"} {
		for _, m := range mounts {
			if m.fstype != "cgroup" || !slices.Contains(strings.Split(m.superOpts, ","), ctl) {
				continue
			}
			if dir, ok := m.dirFor(own[ctl]); ok {
				v1[ctl] = dir
				break
			}
		}
		switch dir, ok := v1[ctl]; {
		case !ok:
			why = append(why, fmt.Sprintf("no cgroup v1 %s hierarchy", ctl))
		case unix.Access(dir, unix.W_OK) != nil:
			why = append(why, fmt.Sprintf("cgroup v1 %s is not writable by uid %d", dir, os.Geteuid()))
			delete(v1, ctl)
		}
	}
	if len(v1) == 2 {
		_, err := os.Stat(filepath.Join(v1["memory"], "memory.memsw.limit_in_bytes"))
		return &cgroupManager{memDir: v1["memory"], pidsDir: v1["pids"], swap: err == nil}, nil
	}
	return nil, fmt.Errorf("no cgroup with memory and pids controllers is delegated to gatehouse (%s): run gatehouse as root, "+
		"or under systemd with Delegate=yes; without cgroups only rlimits bound memory (RLIMIT_DATA) and processes",
		strings.Join(why, "; "))
}

// ownCgroups maps each v1 controller (and "" for v2) to this process's
// cgroup path.
func ownCgroups() (map[string]string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	own := map[string]string{}
	for line := range strings.Lines(string(b)) {
		parts := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[1] == "" {
			own[""] = parts[2]
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			own[c] = parts[2]
		}
	}
	return own, nil
}

type cgroupMount struct {
	root, mountpoint, fstype, superOpts string
}

// dirFor maps a cgroup path to its directory under this mount.
func (m cgroupMount) dirFor(path string) (string, bool) {
	if path == "" {
		return "", false
	}
	rel, ok := strings.CutPrefix(path, m.root)
	if !ok || (m.root != "/" && rel != "" && !strings.HasPrefix(rel, "/")) {
		return "", false
	}
	dir := filepath.Join(m.mountpoint, rel)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return "", false
	}
	return dir, true
}

// cgroupMounts lists the cgroup and cgroup2 mounts.
func cgroupMounts() ([]cgroupMount, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ms []cgroupMount
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent maj:min root mountpoint opts [optional...] - fstype source superopts
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		a, b := strings.Fields(pre), strings.Fields(post)
		if len(a) < 5 || len(b) < 3 || (b[0] != "cgroup" && b[0] != "cgroup2") {
			continue
		}
		ms = append(ms, cgroupMount{root: unescapeMount(a[3]), mountpoint: unescapeMount(a[4]), fstype: b[0], superOpts: b[2]})
	}
	return ms, sc.Err()
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var out strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				out.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		out.WriteByte(s[i])
	}
	return out.String()
}

// describe says what the cgroups layer does.
func (m *cgroupManager) describe(lim sandbox.Limits) string {
	swap := " (swap not limited: no swap accounting)"
	if m.swap {
		swap = ", no swap"
	}
	if m.v2 {
		return fmt.Sprintf("cgroup v2 below %s: memory %s%s, pids %d", m.dir, mib(lim.MemoryBytes), swap, lim.Pids)
	}
	return fmt.Sprintf("cgroup v1 below %s and %s: memory %s%s, pids %d", m.memDir, m.pidsDir, mib(lim.MemoryBytes), swap, lim.Pids)
}

// create makes the run's cgroup with its limits.
func (m *cgroupManager) create(name string, lim sandbox.Limits) (r *cgroupRun, err error) {
	r = &cgroupRun{m: m, fd: -1}
	defer func() {
		if err != nil {
			r.remove(nil)
		}
	}()
	mem := strconv.FormatInt(lim.MemoryBytes, 10)
	pids := strconv.Itoa(lim.Pids)
	if m.v2 {
		dir := filepath.Join(m.dir, name)
		if err := r.mkdir(dir); err != nil {
			return r, err
		}
		writes := [][2]string{{"memory.max", mem}, {"pids.max", pids}}
		if m.swap {
			writes = append(writes, [2]string{"memory.swap.max", "0"})
		}
		if err := writeAll(dir, writes); err != nil {
			return r, err
		}
		r.fd, err = unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return r, fmt.Errorf("opening cgroup %s: %w", dir, err)
		}
		return r, nil
	}
	memDir, pidsDir := filepath.Join(m.memDir, name), filepath.Join(m.pidsDir, name)
	if err := r.mkdir(memDir); err != nil {
		return r, err
	}
	writes := [][2]string{{"memory.limit_in_bytes", mem}}
	if m.swap {
		writes = append(writes, [2]string{"memory.memsw.limit_in_bytes", mem})
	}
	if err := writeAll(memDir, writes); err != nil {
		return r, err
	}
	if err := r.mkdir(pidsDir); err != nil {
		return r, err
	}
	if err := writeAll(pidsDir, [][2]string{{"pids.max", pids}}); err != nil {
		return r, err
	}
	r.procs = []string{filepath.Join(memDir, "cgroup.procs"), filepath.Join(pidsDir, "cgroup.procs")}
	return r, nil
}

func (r *cgroupRun) mkdir(dir string) error {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return fmt.Errorf("making cgroup: %w", err)
	}
	r.dirs = append(r.dirs, dir)
	return nil
}

func writeAll(dir string, writes [][2]string) error {
	for _, w := range writes {
		if err := os.WriteFile(filepath.Join(dir, w[0]), []byte(w[1]), 0); err != nil {
			return fmt.Errorf("setting cgroup limit: %w", err)
		}
	}
	return nil
}

// cloneFD returns the cgroup to clone the init into (cgroup v2).
func (r *cgroupRun) cloneFD() (int, bool) {
	if r == nil || r.fd < 0 {
		return 0, false
	}
	return r.fd, true
}

// join moves pid (the init, before it runs anything) into the cgroup
// (cgroup v1; with v2 the init is cloned straight into it).
func (r *cgroupRun) join(pid int) error {
	for _, procs := range r.procs {
		if err := os.WriteFile(procs, []byte(strconv.Itoa(pid)), 0); err != nil {
			return fmt.Errorf("moving the sandbox into its cgroup: %w", err)
		}
	}
	return nil
}

// remove deletes the cgroup once everything in it has exited.
func (r *cgroupRun) remove(log *slog.Logger) {
	if r.fd >= 0 {
		unix.Close(r.fd)
		r.fd = -1
	}
	for i := len(r.dirs) - 1; i >= 0; i-- {
		var err error
		for try := 0; try < 50; try++ {
			if err = unix.Rmdir(r.dirs[i]); err == nil || errors.Is(err, unix.ENOENT) {
				err = nil
				break
			}
			if !errors.Is(err, unix.EBUSY) {
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		if err != nil && log != nil {
			log.Warn("sandbox cgroup not removed", "dir", r.dirs[i], "err", err)
		}
	}
	r.dirs = nil
}
