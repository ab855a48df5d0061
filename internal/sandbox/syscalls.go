package sandbox

// DeniedSyscalls are the system calls both backends refuse (EPERM) to a
// sandboxed command: mounts and the filesystem tree, namespaces, other
// processes' memory and handles, and kernel attack surface or
// administration. Most need a capability the command lacks anyway; the
// rest (namespaces, keyrings, bpf, userfaultfd, io_uring, ptrace) are
// reachable by an unprivileged process otherwise. Names an architecture
// lacks (iopl on arm64) are skipped by each backend.
var DeniedSyscalls = []string{
	// Mounts and the filesystem tree.
	"mount", "umount2", "pivot_root", "chroot", "fsopen", "fsmount", "fsconfig", "fspick", "move_mount",
	"open_tree", "open_tree_attr", "mount_setattr", "swapon", "swapoff", "quotactl", "quotactl_fd",
	// Namespaces.
	"unshare", "setns",
	// Other processes' memory and handles.
	"ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp",
	// Kernel attack surface and administration.
	"bpf", "perf_event_open", "userfaultfd", "keyctl", "add_key", "request_key",
	"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
	"open_by_handle_at", "name_to_handle_at", "reboot", "syslog", "acct", "iopl", "ioperm",
	"io_uring_setup", "io_uring_enter", "io_uring_register", "lookup_dcookie", "uselib", "vhangup",
}

// CloneNamespaceFlags are clone(2)'s namespace flags (CLONE_NEWNS,
// CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER,
// CLONE_NEWPID, CLONE_NEWNET), refused by both backends. CLONE_NEWTIME is
// left out: for clone(2) that bit is part of the exit signal; only unshare
// and clone3 (both refused) take it.
const CloneNamespaceFlags = 0x7e020000
