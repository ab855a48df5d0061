package native

import (
	"fmt"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"gatehouse/internal/sandbox"
)

// The Landlock layer talks to the kernel directly (golang.org/x/sys/unix)
// rather than through go-landlock: go-landlock enforces on every thread
// through libpsx, which this module does not carry, and the init only
// needs the calling thread restricted, because it executes the command
// from that thread right away and execve keeps the domain.

// landlockSpec is the ruleset the init enforces.
type landlockSpec struct {
	ABI        int            `json:"abi"`
	HandledFS  uint64         `json:"handledFs"`
	HandledNet uint64         `json:"handledNet"`
	Scoped     uint64         `json:"scoped"`
	Rules      []landlockRule `json:"rules"`
}

// landlockRule grants Access beneath Path (a path inside the new root).
type landlockRule struct {
	Path   string `json:"path"`
	Access uint64 `json:"access"`
}

// Filesystem rights by the ABI that introduced them.
const (
	llRead    = unix.LANDLOCK_ACCESS_FS_READ_FILE
	llReadDir = unix.LANDLOCK_ACCESS_FS_READ_DIR
	llExec    = unix.LANDLOCK_ACCESS_FS_EXECUTE
	llWrite   = unix.LANDLOCK_ACCESS_FS_WRITE_FILE
	llTrunc   = unix.LANDLOCK_ACCESS_FS_TRUNCATE  // ABI 3
	llIoctl   = unix.LANDLOCK_ACCESS_FS_IOCTL_DEV // ABI 5
	llRefer   = unix.LANDLOCK_ACCESS_FS_REFER     // ABI 2
	llMakeDev = unix.LANDLOCK_ACCESS_FS_MAKE_CHAR | unix.LANDLOCK_ACCESS_FS_MAKE_BLOCK

	llABI1 = unix.LANDLOCK_ACCESS_FS_EXECUTE | unix.LANDLOCK_ACCESS_FS_WRITE_FILE | unix.LANDLOCK_ACCESS_FS_READ_FILE |
		unix.LANDLOCK_ACCESS_FS_READ_DIR | unix.LANDLOCK_ACCESS_FS_REMOVE_DIR | unix.LANDLOCK_ACCESS_FS_REMOVE_FILE |
		unix.LANDLOCK_ACCESS_FS_MAKE_CHAR | unix.LANDLOCK_ACCESS_FS_MAKE_DIR | unix.LANDLOCK_ACCESS_FS_MAKE_REG |
		unix.LANDLOCK_ACCESS_FS_MAKE_SOCK | unix.LANDLOCK_ACCESS_FS_MAKE_FIFO | unix.LANDLOCK_ACCESS_FS_MAKE_BLOCK |
		unix.LANDLOCK_ACCESS_FS_MAKE_SYM
	// llFileRights are the rights a rule on a file (not a directory) may carry.
	llFileRights = llRead | llWrite | llExec | llTrunc | llIoctl
)

// handledFS is every filesystem right the kernel's ABI knows; those not
// granted by a rule are denied.
func handledFS(abi int) uint64 {
	h := uint64(llABI1)
	if abi >= 2 {
		h |= llRefer
	}
	if abi >= 3 {
		h |= llTrunc
	}
	if abi >= 5 {
		h |= llIoctl
	}
	return h
}

// landlockRules builds the ruleset for binds (and the sandbox's own
// tmpfs mounts).
func (s *Sandbox) landlockRules(binds []bind) *landlockSpec {
	abi := s.host.landlockABI
	h := handledFS(abi)
	ls := &landlockSpec{ABI: abi, HandledFS: h}
	if s.layerOn(layerLandlockNet) {
		ls.HandledNet = unix.LANDLOCK_ACCESS_NET_BIND_TCP | unix.LANDLOCK_ACCESS_NET_CONNECT_TCP
	}
	if abi >= 6 {
		ls.Scoped = unix.LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | unix.LANDLOCK_SCOPE_SIGNAL
	}
	rw := h &^ llMakeDev
	add := func(path string, access uint64) {
		ls.Rules = append(ls.Rules, landlockRule{Path: path, Access: access & h})
	}
	add("/", llReadDir)
	add("/etc", llRead|llReadDir)
	add("/proc", llRead|llReadDir)
	add("/tmp", rw)
	add("/dev/shm", rw)
	for _, b := range binds {
		switch {
		case b.Dst == sandbox.WorkspaceMount && b.RW:
			add(b.Dst, rw)
		case b.Dst == sandbox.WorkspaceMount:
			add(b.Dst, llRead|llReadDir|llExec)
		case b.Dev && (b.Dst == "/dev/random" || b.Dst == "/dev/urandom"):
			add(b.Dst, llRead|llIoctl)
		case b.Dev:
			add(b.Dst, llRead|llWrite|llTrunc|llIoctl)
		case b.File || b.Dst == "/etc/alternatives":
			// Covered by /etc.
		default:
			add(b.Dst, llRead|llReadDir|llExec)
		}
	}
	return ls
}

// rulesetAttr is struct landlock_ruleset_attr; its size tells the kernel
// which fields we know, so it is cut to what the ABI has.
type rulesetAttr struct {
	handledFS  uint64
	handledNet uint64 // ABI 4
	scoped     uint64 // ABI 6
}

// pathBeneathAttr is struct landlock_path_beneath_attr (packed: 12 bytes).
type pathBeneathAttr struct {
	allowed  uint64
	parentFD int32
}

// applyLandlock enforces ls on the calling thread (which must be locked
// to its goroutine and have no_new_privs set).
func applyLandlock(ls *landlockSpec) (string, error) {
	attr := rulesetAttr{handledFS: ls.HandledFS, handledNet: ls.HandledNet, scoped: ls.Scoped}
	size := uintptr(8)
	switch {
	case ls.ABI >= 6:
		size = 24
	case ls.ABI >= 4:
		size = 16
	}
	fd, _, errno := syscall.RawSyscall(unix.SYS_LANDLOCK_CREATE_RULESET, uintptr(unsafe.Pointer(&attr)), size, 0)
	if errno != 0 {
		if ls.HandledNet != 0 {
			return layerLandlockNet, fmt.Errorf("landlock_create_ruleset with TCP rules: %w", errno)
		}
		return layerLandlock, fmt.Errorf("landlock_create_ruleset: %w", errno)
	}
	defer unix.Close(int(fd))
	for _, r := range ls.Rules {
		pfd, err := unix.Open(r.Path, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err == unix.ENOENT {
			continue // an optional bind this host lacks: nothing to grant
		}
		if err != nil {
			return layerLandlock, fmt.Errorf("opening %s for a rule: %w", r.Path, err)
		}
		access := r.Access
		var st unix.Stat_t
		if unix.Fstat(pfd, &st) == nil && st.Mode&unix.S_IFMT != unix.S_IFDIR {
			access &= llFileRights
		}
		pb := pathBeneathAttr{allowed: access, parentFD: int32(pfd)}
		_, _, errno := syscall.RawSyscall6(unix.SYS_LANDLOCK_ADD_RULE, fd, unix.LANDLOCK_RULE_PATH_BENEATH,
			uintptr(unsafe.Pointer(&pb)), 0, 0, 0)
		unix.Close(pfd)
		if errno != 0 {
			return layerLandlock, fmt.Errorf("landlock_add_rule %s: %w", r.Path, errno)
		}
	}
	if _, _, errno := syscall.RawSyscall(unix.SYS_LANDLOCK_RESTRICT_SELF, fd, 0, 0); errno != 0 {
		return layerLandlock, fmt.Errorf("landlock_restrict_self: %w", errno)
	}
	return "", nil
}
