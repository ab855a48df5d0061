package native

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Files the parent passes to the init (exec.Cmd.ExtraFiles).
const (
	specFD   = 3 // read: the spec, as JSON, then EOF
	statusFD = 4 // write: "layer\treason\n" when setup fails; closes on exec
)

// Exit codes of the init when the command cannot be started, as a shell
// would report them.
const (
	exitCannotRun = 126
	exitNotFound  = 127
	exitSetup     = 125
)

// init hands a sandbox init over to InitMain while packages are being
// initialized. Go initializes a package's imports first, then the others
// in import-path order, so this runs before most of what gatehouse links
// (LLM SDKs, the Docker client, SQLite...) spends its ~7 ms of package
// initialization, which a sandbox init never needs. main's own call to
// IsInit stays as the documented contract and is then never reached.
func init() {
	if IsInit() {
		InitMain()
	}
}

// IsInit reports whether this process was started as a sandbox init. main
// (and TestMain in tests) calls it first and hands over to InitMain.
func IsInit() bool {
	return len(os.Args) > 0 && os.Args[0] == initArg0
}

// InitMain builds the sandbox described by the spec on fd 3 from inside
// the new namespaces and executes the command in its place. It never
// returns: on failure it reports the layer and the reason on fd 4 and
// exits.
func InitMain() {
	// Capabilities, no_new_privs, Landlock and seccomp are per thread: all
	// are applied on this one, which then executes the command (execve
	// keeps them and ends every other thread).
	runtime.LockOSThread()
	layer, err := initRun()
	if layer == "" {
		layer = "-"
	}
	status := os.NewFile(statusFD, "status")
	fmt.Fprintf(status, "%s\t%s\n", layer, strings.ReplaceAll(err.Error(), "\n", " "))
	exit(exitSetup)
}

// initRun sets the sandbox up and executes the command; it returns only
// on failure, with the layer that failed ("" when none applies).
func initRun() (layer string, err error) {
	defer func() {
		if r := recover(); r != nil {
			layer, err = "", fmt.Errorf("sandbox init panicked: %v", r)
		}
	}()
	if _, err := unix.FcntlInt(statusFD, unix.F_SETFD, unix.FD_CLOEXEC); err != nil {
		return "", fmt.Errorf("status pipe: %w", err)
	}
	var sp spec
	f := os.NewFile(specFD, "spec")
	if err := json.NewDecoder(f).Decode(&sp); err != nil {
		return "", fmt.Errorf("reading the spec from the gateway: %w", err)
	}

	step := func(l string, fn func() error) (string, error) {
		if sp.FailLayer == l {
			return l, errors.New("simulated failure (test hook)")
		}
		if fn == nil {
			return "", nil
		}
		if err := fn(); err != nil {
			return l, err
		}
		return "", nil
	}
	steps := []struct {
		layer string
		fn    func() error
	}{
		{layerUserns, nil},
		{layerPidns, nil},
		{layerIpcns, nil},
		{layerCgroupns, nil},
		{layerCgroups, nil},
		{layerMountns, func() error { return buildRoot(&sp) }},
		{layerUtsns, func() error { return unix.Sethostname([]byte(hostname)) }},
		{layerNetns, loopbackUp},
	}
	for _, s := range steps {
		if l, err := step(s.layer, s.fn); err != nil {
			return l, err
		}
	}

	// Wait for the go-ahead (the spec pipe's end): the parent has put this
	// process in its cgroup.
	if _, err := io.Copy(io.Discard, f); err != nil {
		return "", fmt.Errorf("waiting for the go-ahead: %w", err)
	}
	f.Close()

	// From here on failures are the command's, reported as a shell would.
	if err := unix.Chdir(sp.Dir); err != nil {
		cannotRun(exitCannotRun, "cannot enter working directory %s: %v", sp.Dir, err)
	}
	path := ""
	if !sp.Probe {
		path, err = lookPath(sp.Argv[0], sp.Env)
		if err != nil {
			cannotRun(exitNotFound, "%s: %v", sp.Argv[0], err)
		}
	}

	steps = []struct {
		layer string
		fn    func() error
	}{
		{layerRlimits, func() error { return setRlimits(sp.Rlimits) }},
		{layerNoNewPrivs, setNoNewPrivs},
		{layerCapabilities, dropCapabilities},
		{layerTimeout, nil},
	}
	for _, s := range steps {
		if l, err := step(s.layer, s.fn); err != nil {
			return l, err
		}
	}
	if sp.Landlock != nil {
		if l, err := step(layerLandlock, nil); err != nil {
			return l, err
		}
		if l, err := step(layerLandlockNet, nil); err != nil {
			return l, err
		}
		if l, err := applyLandlock(sp.Landlock); err != nil {
			return l, err
		}
	}
	// Nothing this process opened may reach the command.
	unix.CloseRange(specFD, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	// Seccomp goes last: it would refuse the setup's own mounts.
	if sp.Seccomp != nil {
		if l, err := step(layerSeccomp, func() error { return applySeccomp(sp.Seccomp) }); err != nil {
			return l, err
		}
	}
	if sp.Probe {
		exit(0)
	}
	if layer, err = execve(path, sp.Argv, sp.Env, sp.DataLimit); layer != "" {
		return layer, err
	}
	code := exitCannotRun
	if errors.Is(err, syscall.ENOENT) {
		code = exitNotFound
	}
	cannotRun(code, "%s: %v", sp.Argv[0], err)
	return "", nil // not reached
}

// execve executes path in place of this process. Unlike syscall.Exec it
// allocates nothing between setting RLIMIT_DATA (when data is not 0) and
// the system call, because the Go heap might not grow past that limit.
//
// It returns the layer that failed, or "" and the execve error.
func execve(path string, argv, env []string, data uint64) (string, error) {
	pathp, err := syscall.BytePtrFromString(path)
	if err != nil {
		return "", err
	}
	argvp, err := syscall.SlicePtrFromStrings(argv)
	if err != nil {
		return "", err
	}
	envp, err := syscall.SlicePtrFromStrings(env)
	if err != nil {
		return "", err
	}
	rl := &syscall.Rlimit{Cur: data, Max: data}
	if data != 0 {
		if _, _, errno := syscall.RawSyscall6(unix.SYS_PRLIMIT64, 0, unix.RLIMIT_DATA, uintptr(unsafe.Pointer(rl)), 0, 0, 0); errno != 0 {
			return layerRlimits, fmt.Errorf("setrlimit(RLIMIT_DATA, %d): %w", data, errno)
		}
	}
	_, _, errno := syscall.RawSyscall(unix.SYS_EXECVE, uintptr(unsafe.Pointer(pathp)),
		uintptr(unsafe.Pointer(&argvp[0])), uintptr(unsafe.Pointer(&envp[0])))
	return "", errno
}

// cannotRun reports a command that cannot be started on its output, as a
// shell would, and exits with code.
func cannotRun(code int, format string, args ...any) {
	fmt.Fprintf(os.Stderr, "sandbox: "+format+"\n", args...)
	exit(code)
}

// exit ends the init at once. Unlike os.Exit it skips the runtime's exit
// hooks, such as the race detector's one-second atexit sleep in test
// binaries built with -race.
func exit(code int) {
	syscall.Exit(code)
}

// lookPath finds file on the PATH of env, in the sandbox.
func lookPath(file string, env []string) (string, error) {
	if strings.Contains(file, "/") {
		return file, nil
	}
	path := ""
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range strings.Split(path, ":") {
		if dir == "" {
			dir = "."
		}
		p := dir + "/" + file
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errors.New("command not found")
}

// loopbackUp brings up lo, the only interface of the sandbox's network
// namespace.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("reading lo flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bringing lo up: %w", err)
	}
	return nil
}

// setRlimits sets each limit as both soft and hard limit.
func setRlimits(rls []rlimit) error {
	for _, r := range rls {
		// syscall.Setrlimit, unlike prlimit, also tells the runtime not to
		// restore its saved RLIMIT_NOFILE at exec.
		if err := syscall.Setrlimit(r.Resource, &syscall.Rlimit{Cur: r.Value, Max: r.Value}); err != nil {
			return fmt.Errorf("setrlimit(%d, %d): %w", r.Resource, r.Value, err)
		}
	}
	return nil
}

func setNoNewPrivs() error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_NO_NEW_PRIVS): %w", err)
	}
	if v, err := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0); err != nil || v != 1 {
		return fmt.Errorf("no_new_privs did not stick (%d, %v)", v, err)
	}
	return nil
}

// Securebits (linux/securebits.h).
const (
	secbitNoroot                  = 1 << 0
	secbitNorootLocked            = 1 << 1
	secbitNoSetuidFixup           = 1 << 2
	secbitNoSetuidFixupLocked     = 1 << 3
	secbitKeepCapsLocked          = 1 << 5
	secbitNoCapAmbientRaise       = 1 << 6
	secbitNoCapAmbientRaiseLocked = 1 << 7
)

// dropCapabilities empties every capability set of this thread, the
// bounding set included, and locks securebits so that executing anything
// (even as uid 0, even a file with capabilities) grants none back.
func dropCapabilities() error {
	bits := secbitNoroot | secbitNorootLocked | secbitNoSetuidFixup | secbitNoSetuidFixupLocked |
		secbitKeepCapsLocked | secbitNoCapAmbientRaise | secbitNoCapAmbientRaiseLocked
	if err := unix.Prctl(unix.PR_SET_SECUREBITS, uintptr(bits), 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_SECUREBITS): %w", err)
	}
	for c := 0; c < 64; c++ {
		err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0)
		if errors.Is(err, unix.EINVAL) {
			break // past CAP_LAST_CAP
		}
		if err != nil {
			return fmt.Errorf("dropping capability %d from the bounding set: %w", c, err)
		}
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("clearing ambient capabilities: %w", err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	for _, d := range data {
		if d.Effective|d.Permitted|d.Inheritable != 0 {
			return fmt.Errorf("capabilities remain after capset: %+v", data)
		}
	}
	if v, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, 0, 0, 0, 0); err != nil || v != 0 {
		return fmt.Errorf("bounding set not empty (%d, %v)", v, err)
	}
	return nil
}
