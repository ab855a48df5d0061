package native

import (
	"gatehouse/internal/sandbox"

	"encoding/binary"
	"errors"
	"fmt"
	"syscall"
	"unsafe"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// seccompAvailable reports whether the kernel takes seccomp filters.
func seccompAvailable() error {
	if _, err := unix.PrctlRetInt(unix.PR_GET_SECCOMP, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("this kernel has no seccomp (CONFIG_SECCOMP): %w", err)
	}
	action := uint32(unix.SECCOMP_RET_ERRNO)
	_, _, errno := syscall.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_GET_ACTION_AVAIL, 0, uintptr(unsafe.Pointer(&action)))
	if errno != 0 {
		return fmt.Errorf("this kernel has no seccomp filters (CONFIG_SECCOMP_FILTER): %w", errno)
	}
	return nil
}

// seccompProgram assembles the filter once, in the parent. It returns the
// program (8 bytes per instruction) and how many syscalls it denies
// outright.
//
// The policy is compiled by go-seccomp-bpf. Two checks that library cannot
// express are written here in BPF and run first: a foreign architecture
// (i386 on amd64) is killed, because the library lets a foreign
// architecture through with the default action (allow); and ioctl's
// command is compared on its low 32 bits only, as the kernel reads it, so
// high bits cannot smuggle TIOCSTI past an exact 64-bit match.
func seccompProgram() ([]byte, int, error) {
	info, err := arch.GetInfo("")
	if err != nil {
		return nil, 0, err
	}
	var names []string
	for _, n := range sandbox.DeniedSyscalls {
		if _, ok := info.SyscallNames[n]; ok {
			names = append(names, n)
		}
	}
	policy := seccomp.Policy{
		DefaultAction: seccomp.ActionAllow,
		Syscalls: []seccomp.SyscallGroup{
			{Action: seccomp.ActionErrno, Names: names},
			// clone3 passes its flags in memory, out of the filter's
			// reach: ENOSYS makes libc fall back to clone, whose flags
			// the filter checks.
			{Action: seccomp.ActionErrno | seccomp.Action(unix.ENOSYS), Names: []string{"clone3"}},
			{Action: seccomp.ActionErrno, NamesWithCondtions: []seccomp.NameWithConditions{
				{Name: "clone", Conditions: seccomp.ArgumentConditions{
					{Argument: 0, Operation: seccomp.BitsSet, Value: sandbox.CloneNamespaceFlags},
				}},
				// Only the default persona (0) and the query (0xffffffff).
				{Name: "personality", Conditions: seccomp.ArgumentConditions{
					{Argument: 0, Operation: seccomp.NotEqual, Value: 0},
					{Argument: 0, Operation: seccomp.NotEqual, Value: 0xffffffff},
				}},
			}},
		},
	}
	body, err := policy.Assemble()
	if err != nil {
		return nil, 0, err
	}
	arg1Lo := uint32(16 + 8*1) // offsetof(struct seccomp_data, args[1])
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		arg1Lo += 4
	}
	eperm := uint32(unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM))
	prologue := []bpf.Instruction{
		bpf.LoadAbsolute{Off: 4, Size: 4}, // arch
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(info.ID), SkipTrue: 1},
		bpf.RetConstant{Val: unix.SECCOMP_RET_KILL_PROCESS},
		bpf.LoadAbsolute{Off: 0, Size: 4}, // syscall number
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(info.SyscallNames["ioctl"]), SkipFalse: 4},
		bpf.LoadAbsolute{Off: arg1Lo, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.TIOCSTI, SkipTrue: 1},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.TIOCLINUX, SkipFalse: 1},
		bpf.RetConstant{Val: eperm},
	}
	raw, err := bpf.Assemble(append(prologue, body...))
	if err != nil {
		return nil, 0, err
	}
	if len(raw) > unix.BPF_MAXINSNS {
		return nil, 0, errors.New("filter too long")
	}
	prog := make([]byte, 0, 8*len(raw))
	for _, in := range raw {
		prog = binary.NativeEndian.AppendUint16(prog, in.Op)
		prog = append(prog, in.Jt, in.Jf)
		prog = binary.NativeEndian.AppendUint32(prog, in.K)
	}
	return prog, len(names), nil
}

// applySeccomp loads prog on the calling thread (no_new_privs must be
// set). It is the last thing before execve: from here on, the init itself
// is filtered.
func applySeccomp(prog []byte) error {
	if len(prog) == 0 || len(prog)%8 != 0 {
		return errors.New("malformed filter")
	}
	filter := make([]unix.SockFilter, len(prog)/8)
	for i := range filter {
		b := prog[8*i:]
		filter[i] = unix.SockFilter{
			Code: binary.NativeEndian.Uint16(b),
			Jt:   b[2],
			Jf:   b[3],
			K:    binary.NativeEndian.Uint32(b[4:]),
		}
	}
	fprog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	_, _, errno := syscall.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&fprog)))
	if errno != 0 {
		return fmt.Errorf("seccomp(SECCOMP_SET_MODE_FILTER): %w", errno)
	}
	return nil
}
