package native

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"gatehouse/internal/sandbox"
)

// Layer names (see sandbox.Layer).
const (
	layerUserns       = "userns"
	layerMountns      = "mountns"
	layerPidns        = "pidns"
	layerNetns        = "netns"
	layerIpcns        = "ipcns"
	layerUtsns        = "utsns"
	layerCgroupns     = "cgroupns"
	layerCapabilities = "capabilities"
	layerNoNewPrivs   = "nonewprivs"
	layerLandlock     = "landlock"
	layerLandlockNet  = "landlock-net"
	layerSeccomp      = "seccomp"
	layerRlimits      = "rlimits"
	layerCgroups      = "cgroups"
	layerTimeout      = "timeout"
)

// layerOrder is the order Layers reports them in, which is also roughly
// the order the init applies them.
var layerOrder = []string{
	layerUserns, layerMountns, layerPidns, layerNetns, layerIpcns, layerUtsns, layerCgroupns,
	layerCapabilities, layerNoNewPrivs, layerLandlock, layerLandlockNet, layerSeccomp,
	layerRlimits, layerCgroups, layerTimeout,
}

// hostInfo is what New learned about this host. It is read-only after
// New (tests change it before running anything).
type hostInfo struct {
	euid, egid int
	// unavailable maps a layer to why this host cannot apply it.
	unavailable map[string]string
	landlockABI int
	seccompProg []byte // assembled filter
	seccompN    int    // syscalls denied outright
	cgroups     *cgroupManager
	// hardLimits are the host's hard rlimits, which a sandbox cannot
	// exceed (raising them needs CAP_SYS_RESOURCE).
	hardLimits map[int]uint64
}

// probeHost looks at the kernel and the process without starting
// anything.
func probeHost() *hostInfo {
	h := &hostInfo{
		euid:        os.Geteuid(),
		egid:        os.Getegid(),
		unavailable: map[string]string{},
		hardLimits:  map[int]uint64{},
	}
	for layer, ns := range map[string]string{
		layerUserns: "user", layerMountns: "mnt", layerPidns: "pid", layerNetns: "net",
		layerIpcns: "ipc", layerUtsns: "uts", layerCgroupns: "cgroup",
	} {
		if _, err := os.Lstat("/proc/self/ns/" + ns); err != nil {
			h.unavailable[layer] = fmt.Sprintf("the kernel has no %s namespaces (CONFIG_%s_NS)", ns, strings.ToUpper(ns))
			continue
		}
		if n, err := readInt("/proc/sys/user/max_" + ns + "_namespaces"); err == nil && n == 0 {
			h.unavailable[layer] = fmt.Sprintf("%s namespaces are disabled (user.max_%s_namespaces = 0): raise it with sysctl", ns, ns)
		}
	}
	if h.euid != 0 {
		if n, err := readInt("/proc/sys/kernel/unprivileged_userns_clone"); err == nil && n == 0 {
			h.unavailable[layerUserns] = "unprivileged user namespaces are disabled: " + usernsHint(h.euid)
		}
	}

	h.landlockABI = landlockABI()
	switch {
	case h.landlockABI < 0:
		h.unavailable[layerLandlock] = "Landlock is built into this kernel but not enabled: add landlock to the lsm= kernel parameter"
	case h.landlockABI == 0:
		h.unavailable[layerLandlock] = "this kernel has no Landlock (needs Linux 5.13 with CONFIG_SECURITY_LANDLOCK)"
	}
	if h.landlockABI < 4 {
		h.unavailable[layerLandlockNet] = fmt.Sprintf("Landlock TCP rules need ABI 4 (Linux 6.7); this kernel has %s", abiName(h.landlockABI))
	}

	if err := seccompAvailable(); err != nil {
		h.unavailable[layerSeccomp] = err.Error()
	} else if prog, n, err := seccompProgram(); err != nil {
		h.unavailable[layerSeccomp] = "building the filter: " + err.Error()
	} else {
		h.seccompProg, h.seccompN = prog, n
	}

	if cg, err := findCgroups(); err != nil {
		h.unavailable[layerCgroups] = err.Error()
	} else {
		h.cgroups = cg
	}

	for _, r := range []int{unix.RLIMIT_NPROC, unix.RLIMIT_NOFILE, unix.RLIMIT_FSIZE, unix.RLIMIT_CPU, unix.RLIMIT_DATA} {
		var rl unix.Rlimit
		if err := unix.Getrlimit(r, &rl); err == nil {
			h.hardLimits[r] = rl.Max
		}
	}
	return h
}

func readInt(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

func usernsHint(euid int) string {
	if euid == 0 {
		return "check user.max_user_namespaces and that no security module (AppArmor, SELinux) forbids user namespaces"
	}
	return "allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1; on Ubuntu " +
		"kernel.apparmor_restrict_unprivileged_userns=0 or an AppArmor profile for gatehouse), or run gatehouse as root"
}

func abiName(abi int) string {
	if abi <= 0 {
		return "no Landlock"
	}
	return fmt.Sprintf("ABI %d", abi)
}

// allowed reports whether the sandbox may run without layer: the owner
// listed it, or it is cgroups and the gateway is not host root. An
// unprivileged gateway rarely has cgroups delegated (a hardened service
// unit has none), and for it RLIMIT_NPROC, which binds every non-root
// host uid, and RLIMIT_DATA stand in for the pid and memory limits. Host
// root is exempt from RLIMIT_NPROC, so a root gateway needs cgroups.
func (s *Sandbox) allowed(layer string) bool {
	if layer == layerCgroups && s.host.euid != 0 {
		return true
	}
	return slices.Contains(s.opts.AllowWithout, layer)
}

// layerOn reports whether layer is applied.
func (s *Sandbox) layerOn(layer string) bool {
	_, bad := s.host.unavailable[layer]
	return !bad
}

// layerList reports every layer; live adds what the probe run found.
func (s *Sandbox) layerList(live bool) []sandbox.Layer {
	ls := make([]sandbox.Layer, 0, len(layerOrder))
	for _, name := range layerOrder {
		l := sandbox.Layer{Name: name, State: sandbox.LayerOn, Detail: s.layerDetail(name)}
		reason, bad := s.host.unavailable[name]
		if !bad && live {
			s.liveMu.Lock()
			reason, bad = s.live[name]
			s.liveMu.Unlock()
		}
		if bad {
			l.Detail = reason
			l.State = sandbox.LayerMissing
			if s.allowed(name) {
				l.State = sandbox.LayerWaived
				if name == layerCgroups && !slices.Contains(s.opts.AllowWithout, name) {
					l.Detail += "; rlimits stand in (nproc and data), which bind a non-root gateway"
				}
			}
		}
		ls = append(ls, l)
	}
	return ls
}

// layerDetail says what layer does here when it is on.
func (s *Sandbox) layerDetail(name string) string {
	lim := s.opts.Limits
	switch name {
	case layerUserns:
		return fmt.Sprintf("own user namespace: the command runs as %s (uid %d), mapped to host uid %d; setgroups denied",
			sandboxUser, sandboxUID, s.host.euid)
	case layerMountns:
		ws := "none"
		if s.opts.Workspace != "" {
			ws = s.opts.WorkspaceAccess
		}
		return fmt.Sprintf("read-only root on tmpfs: %s read-only, minimal /etc, /proc, /dev, /tmp tmpfs %s, /workspace %s; "+
			"the host root and the state directory are not reachable; all mounts nosuid", strings.Join(s.systemDirs(), ","), mib(lim.TmpfsBytes), ws)
	case layerPidns:
		return "own pid namespace: host processes are invisible; the command is pid 1 and everything it starts dies with it"
	case layerNetns:
		return "own network namespace: loopback only, no route out"
	case layerIpcns:
		return "own IPC namespace: no shared memory or message queues with the host"
	case layerUtsns:
		return "own UTS namespace: hostname " + hostname
	case layerCgroupns:
		return "own cgroup namespace: the host's cgroup tree is hidden"
	case layerCapabilities:
		return "every capability dropped (effective, permitted, inheritable, ambient, bounding); securebits noroot, no_setuid_fixup, no_cap_ambient_raise locked"
	case layerNoNewPrivs:
		return "no_new_privs: setuid binaries and file capabilities grant nothing"
	case layerLandlock:
		ws := ""
		if s.opts.Workspace != "" {
			ws = ",/workspace(" + s.opts.WorkspaceAccess + ")"
		}
		scopes := "; abstract unix sockets and signals scoped to the sandbox"
		if s.host.landlockABI < 6 {
			scopes = "; scopes need ABI 6 (not here)"
		}
		return fmt.Sprintf("Landlock %s: filesystem limited to %s(read,exec),/etc,/proc(read),/dev nodes,/tmp,/dev/shm(rw)%s%s",
			abiName(s.host.landlockABI), strings.Join(s.systemDirs(), ","), ws, scopes)
	case layerLandlockNet:
		return fmt.Sprintf("Landlock %s: TCP bind and connect denied", abiName(s.host.landlockABI))
	case layerSeccomp:
		return fmt.Sprintf("seccomp filter: %d syscalls return EPERM (mount, ptrace, bpf, unshare, setns, keyctl, kexec, modules, "+
			"io_uring, ...), clone with namespace flags EPERM, clone3 ENOSYS, personality changes EPERM, TIOCSTI EPERM, "+
			"other architectures killed", s.host.seccompN)
	case layerRlimits:
		d := fmt.Sprintf("nproc %d, nofile %d, fsize %s, cpu %ds, core 0", s.rlimit(unix.RLIMIT_NPROC, uint64(lim.Pids)),
			s.rlimit(unix.RLIMIT_NOFILE, uint64(lim.OpenFiles)), mib(int64(s.rlimit(unix.RLIMIT_FSIZE, uint64(lim.FileSizeBytes)))),
			s.rlimit(unix.RLIMIT_CPU, uint64(lim.CPUSeconds)))
		if !s.layerOn(layerCgroups) {
			d += fmt.Sprintf(", data %s (no cgroups: private writable memory only; shared memory is not bounded)",
				mib(int64(s.rlimit(unix.RLIMIT_DATA, uint64(lim.MemoryBytes)))))
			if s.host.euid == 0 {
				// copy_process exempts the root user (kuid 0) from RLIMIT_NPROC.
				d += "; nproc is not enforced for a sandbox of host root: without cgroups only the timeout stops a fork bomb"
			}
		}
		return d
	case layerCgroups:
		if s.host.cgroups == nil {
			return ""
		}
		return s.host.cgroups.describe(lim)
	case layerTimeout:
		return fmt.Sprintf("wall clock %s (or less per request): the whole pid namespace is killed", lim.Timeout)
	}
	return ""
}

// rlimit is v capped at the host's hard limit for r.
func (s *Sandbox) rlimit(r int, v uint64) uint64 {
	if max, ok := s.host.hardLimits[r]; ok && max != unix.RLIM_INFINITY && v > max {
		return max
	}
	return v
}

func mib(n int64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// landlockABI returns the kernel's Landlock ABI version, 0 when it has
// none, -1 when it is built in but disabled.
func landlockABI() int {
	v, _, errno := syscall.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	switch {
	case errno == 0:
		return int(v)
	case errors.Is(errno, syscall.EOPNOTSUPP):
		return -1
	}
	return 0
}
