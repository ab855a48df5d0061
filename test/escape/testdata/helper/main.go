// Command helper runs inside sandboxes for the escape suite. Each
// subcommand attempts one thing; it prints what happened and exits 0 only
// when the attempt worked (for an attack: the sandbox was escaped). It
// imports only the standard library and is built static (CGO_ENABLED=0),
// so it runs in any sandbox root.
package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

func main() {
	if len(os.Args) < 2 {
		fail("usage: helper ok|connect ADDR|dns NAME|mount DIR|unshare|setns|chroot|ptrace|privs|alloc MIB|kill PID|tiocsti|sleep")
	}
	arg := func(i int) string {
		if len(os.Args) <= i {
			fail("missing argument")
		}
		return os.Args[i]
	}
	switch os.Args[1] {
	case "ok":
		fmt.Println("ok")
	case "connect":
		c, err := net.DialTimeout("tcp", arg(2), 3*time.Second)
		if err == nil {
			c.Close()
		}
		result(err)
	case "dns":
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		addrs, err := net.DefaultResolver.LookupHost(ctx, arg(2))
		if err == nil && len(addrs) == 0 {
			err = fmt.Errorf("no addresses")
		}
		result(err)
	case "mount":
		result(syscall.Mount("none", arg(2), "tmpfs", 0, ""))
	case "unshare":
		// Each flag alone; any success is an escape.
		var errs []string
		for _, f := range []int{syscall.CLONE_NEWUSER, syscall.CLONE_NEWNS, syscall.CLONE_NEWNET, syscall.CLONE_NEWPID} {
			if err := syscall.Unshare(f); err == nil {
				result(nil)
			} else {
				errs = append(errs, err.Error())
			}
		}
		fail(strings.Join(errs, "; "))
	case "setns":
		f, err := os.Open("/proc/self/ns/net")
		if err != nil {
			fail(err.Error())
		}
		// syscall has no SYS_SETNS: the number by architecture.
		nr, ok := map[string]uintptr{"amd64": 308, "arm64": 268}[runtime.GOARCH]
		if !ok {
			fail("setns: unknown syscall number on " + runtime.GOARCH)
		}
		_, _, errno := syscall.RawSyscall(nr, f.Fd(), syscall.CLONE_NEWNET, 0)
		result(errnoErr(errno))
	case "chroot":
		result(syscall.Chroot("/tmp"))
	case "ptrace":
		self, err := os.Executable()
		if err != nil {
			fail(err.Error())
		}
		child := exec.Command(self, "sleep")
		if err := child.Start(); err != nil {
			fail(err.Error())
		}
		defer child.Process.Kill()
		err = syscall.PtraceAttach(child.Process.Pid)
		child.Process.Kill()
		result(err)
	case "privs":
		// An escape: running as uid 0 or holding any capability.
		capEff := status("CapEff")
		fmt.Printf("euid %d, CapEff %s\n", os.Geteuid(), capEff)
		if os.Geteuid() == 0 || strings.Trim(capEff, "0") != "" {
			os.Exit(0)
		}
		os.Exit(1)
	case "alloc":
		mib, err := strconv.Atoi(arg(2))
		if err != nil {
			fail(err.Error())
		}
		var keep [][]byte
		for i := 0; i < mib; i++ {
			b := make([]byte, 1<<20)
			for j := 0; j < len(b); j += 4096 {
				b[j] = 1
			}
			keep = append(keep, b)
		}
		fmt.Printf("allocated %d MiB\n", len(keep))
	case "kill":
		pid, err := strconv.Atoi(arg(2))
		if err != nil {
			fail(err.Error())
		}
		result(syscall.Kill(pid, 0))
	case "tiocsti":
		c := byte('x')
		_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, 0, syscall.TIOCSTI, uintptr(unsafe.Pointer(&c)))
		result(errnoErr(errno))
	case "sleep":
		time.Sleep(time.Hour)
	default:
		fail("unknown subcommand " + os.Args[1])
	}
}

// result reports an attempt: nil means it worked.
func result(err error) {
	if err == nil {
		fmt.Println("ESCAPED: the attempt worked")
		os.Exit(0)
	}
	fail(err.Error())
}

func fail(msg string) {
	fmt.Println(msg)
	os.Exit(1)
}

func errnoErr(e syscall.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

// status returns a field of /proc/self/status.
func status(key string) string {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return "?"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}
