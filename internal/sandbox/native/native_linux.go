package native

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/sandbox"
)

// initArg0 is the argv[0] the sandbox init is started with; IsInit looks
// for it.
const initArg0 = "gatehouse-sandbox-init"

// Sandbox user inside every sandbox: the host user running gatehouse is
// mapped to it, and it holds no capabilities.
const (
	sandboxUID  = 1000
	sandboxGID  = 1000
	sandboxUser = "sandbox"
	hostname    = "sandbox"
)

// Option configures the native backend beyond sandbox.Options.
type Option func(*settings)

type settings struct {
	exe    string
	logger *slog.Logger
}

// WithExe sets the binary re-executed as the sandbox init. It must call
// IsInit and InitMain first thing in main (or TestMain). The default,
// "/proc/self/exe", is the running binary even after it was replaced on
// disk by an upgrade.
func WithExe(path string) Option {
	return func(s *settings) { s.exe = path }
}

// WithLogger sets the logger; the default discards.
func WithLogger(l *slog.Logger) Option {
	return func(s *settings) { s.logger = l }
}

// Sandbox is the native Linux backend. It keeps no long-lived sandboxes:
// each Run builds one and tears it down. The zero value is not usable;
// call New. It is safe for concurrent use.
type Sandbox struct {
	opts sandbox.Options // limits filled with defaults
	exe  string
	log  *slog.Logger
	host *hostInfo
	tmpl spec // the parts of every run's spec that do not depend on the request

	seq    atomic.Uint64 // names cgroups
	closed atomic.Bool

	probeMu sync.Mutex        // serializes the live probe
	liveMu  sync.Mutex        // guards live
	live    map[string]string // layer -> reason, from the live probe; nil until it ran

	// testFailLayer makes the init report this layer as failing (tests).
	testFailLayer string
}

var _ sandbox.Sandbox = (*Sandbox)(nil)

// New checks opts, probes what this host can apply, and returns the
// backend. Zero limits take the configuration's defaults. It starts no
// process; a layer this host lacks is reported by Layers and refused by
// Run, not by New.
func New(opts sandbox.Options, nopts ...Option) (*Sandbox, error) {
	st := settings{exe: "/proc/self/exe"}
	for _, o := range nopts {
		o(&st)
	}
	return newSandbox(opts, st, nil)
}

// newSandbox is New; adjust, when set, changes what the host probe found
// before anything is derived from it (tests simulate missing layers).
func newSandbox(opts sandbox.Options, st settings, adjust func(*hostInfo)) (*Sandbox, error) {
	if st.logger == nil {
		st.logger = slog.New(slog.DiscardHandler)
	}
	if _, err := os.Stat(st.exe); err != nil {
		return nil, fmt.Errorf("native sandbox: the binary to re-execute as sandbox init: %w", err)
	}
	opts.Limits = withDefaultLimits(opts.Limits)
	switch opts.WorkspaceAccess {
	case "":
		opts.WorkspaceAccess = "ro"
	case "none", "ro", "rw":
	default:
		return nil, fmt.Errorf("native sandbox: workspaceAccess %q: use none, ro or rw", opts.WorkspaceAccess)
	}
	for _, l := range opts.AllowWithout {
		if !slices.Contains(config.WaivableLayers, l) {
			return nil, fmt.Errorf("native sandbox: allowWithout %q: the sandbox never runs without it; use only %s",
				l, strings.Join(config.WaivableLayers, ", "))
		}
	}
	if opts.WorkspaceAccess == "none" {
		opts.Workspace = ""
	}
	if opts.Workspace != "" {
		ws, err := filepath.EvalSymlinks(opts.Workspace)
		if err != nil {
			return nil, fmt.Errorf("native sandbox: workspace: %w", err)
		}
		fi, err := os.Stat(ws)
		if err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("native sandbox: workspace %s is not a directory", ws)
		}
		opts.Workspace = ws
	}
	host := probeHost()
	if adjust != nil {
		adjust(host)
	}
	s := &Sandbox{opts: opts, exe: st.exe, log: st.logger, host: host}
	tmpl, err := s.buildTemplate()
	if err != nil {
		return nil, err
	}
	s.tmpl = tmpl
	return s, nil
}

// withDefaultLimits fills zero limits from the configuration defaults.
func withDefaultLimits(l sandbox.Limits) sandbox.Limits {
	d := sandbox.LimitsFrom(config.Default().Agents.Defaults.Sandbox.Limits)
	if l.MemoryBytes <= 0 {
		l.MemoryBytes = d.MemoryBytes
	}
	if l.Pids <= 0 {
		l.Pids = d.Pids
	}
	if l.CPUSeconds <= 0 {
		l.CPUSeconds = d.CPUSeconds
	}
	if l.OpenFiles <= 0 {
		l.OpenFiles = d.OpenFiles
	}
	if l.FileSizeBytes <= 0 {
		l.FileSizeBytes = d.FileSizeBytes
	}
	if l.TmpfsBytes <= 0 {
		l.TmpfsBytes = d.TmpfsBytes
	}
	if l.Timeout <= 0 {
		l.Timeout = d.Timeout
	}
	return l
}

// Backend returns "native".
func (s *Sandbox) Backend() string { return "native" }

// Prune returns 0: native sandboxes live only as long as their command.
func (s *Sandbox) Prune(ctx context.Context, idle time.Duration) (int, error) { return 0, nil }

// Close makes later Runs fail. Runs in progress finish.
func (s *Sandbox) Close() error {
	s.closed.Store(true)
	return nil
}

// ErrClosed is returned by Run after Close.
var ErrClosed = errors.New("native sandbox is closed")

// Run runs req.Argv in a fresh sandbox. See sandbox.Sandbox.
func (s *Sandbox) Run(ctx context.Context, req sandbox.Request) (*sandbox.Result, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	if len(req.Argv) == 0 || req.Argv[0] == "" {
		return nil, errors.New("native sandbox: empty command: set Request.Argv")
	}
	for _, e := range req.Env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" || strings.ContainsRune(e, 0) {
			return nil, fmt.Errorf("native sandbox: environment entry %q: write KEY=VALUE", e)
		}
	}
	if req.Dir != "" && !filepath.IsAbs(req.Dir) {
		return nil, fmt.Errorf("native sandbox: working directory %q must be absolute", req.Dir)
	}
	if err := s.refuseMissing(true); err != nil {
		return nil, err
	}
	sp := s.tmpl
	sp.FailLayer = s.testFailLayer
	sp.Argv = req.Argv
	sp.Env = environ(req.Env)
	sp.Dir = req.Dir
	if sp.Dir == "" {
		sp.Dir = "/tmp"
		if s.opts.Workspace != "" {
			sp.Dir = sandbox.WorkspaceMount
		}
	}
	timeout := s.opts.Limits.Timeout
	if req.Timeout > 0 && req.Timeout < timeout {
		timeout = req.Timeout
	}
	return s.run(ctx, &sp, req.Stdin, req.MaxOutput, timeout)
}

// environ is the clean environment plus extra; later entries win.
func environ(extra []string) []string {
	env := []string{"PATH=" + sandbox.DefaultPath, "HOME=/tmp", "LANG=C.UTF-8", "TERM=dumb"}
	for _, e := range extra {
		k, _, _ := strings.Cut(e, "=")
		env = slices.DeleteFunc(env, func(have string) bool { return strings.HasPrefix(have, k+"=") })
		env = append(env, e)
	}
	return env
}

// run starts the init with sp and waits for it.
func (s *Sandbox) run(ctx context.Context, sp *spec, stdin []byte, maxOutput int, timeout time.Duration) (*sandbox.Result, error) {
	runCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var cg *cgroupRun
	if s.host.cgroups != nil && s.layerOn(layerCgroups) {
		var err error
		cg, err = s.host.cgroups.create(fmt.Sprintf("gatehouse-sandbox-%d-%d", os.Getpid(), s.seq.Add(1)), s.opts.Limits)
		if err != nil {
			return nil, &sandbox.LayerError{Layer: layerCgroups, Reason: err.Error()}
		}
		defer cg.remove(s.log)
	}

	specR, specW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("native sandbox: spec pipe: %w", err)
	}
	defer specW.Close()
	statusR, statusW, err := os.Pipe()
	if err != nil {
		specR.Close()
		return nil, fmt.Errorf("native sandbox: status pipe: %w", err)
	}
	defer statusR.Close()

	out := sandbox.NewOutputBuffer(maxOutput)
	cmd := exec.CommandContext(runCtx, s.exe)
	cmd.Args = []string{initArg0}
	// The init's own environment: nothing of the host's. It is replaced
	// by the command's clean environment at exec.
	cmd.Env = []string{"GOMAXPROCS=1", "GOGC=off"}
	cmd.Dir = "/"
	if len(stdin) > 0 {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.ExtraFiles = []*os.File{specR, statusW} // fds 3 and 4
	cmd.SysProcAttr = s.sysProcAttr(cg)
	cmd.WaitDelay = 2 * time.Second

	// Pdeathsig fires when the thread that forked the init exits, so keep
	// this goroutine on its thread until the init is gone.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	start := time.Now()
	err = cmd.Start()
	specR.Close()
	statusW.Close()
	if err != nil {
		return nil, s.startError(err)
	}
	fail := func(err error) (*sandbox.Result, error) {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, err
	}
	// The spec goes first, so the init builds the sandbox while the
	// cgroup move (an RCU grace period on cgroup v1) is under way; closing
	// the pipe is the go-ahead the init waits for before it sets limits
	// and runs anything.
	if err := json.NewEncoder(specW).Encode(sp); err != nil && !errors.Is(err, syscall.EPIPE) {
		return fail(fmt.Errorf("native sandbox: sending the spec to the init: %w", err))
	}
	if cg != nil {
		if err := cg.join(cmd.Process.Pid); err != nil {
			return fail(&sandbox.LayerError{Layer: layerCgroups, Reason: err.Error()})
		}
	}
	specW.Close()
	// The status pipe closes on exec (close-on-exec) or carries why the
	// init could not set the sandbox up.
	status, _ := io.ReadAll(io.LimitReader(statusR, 64<<10))
	if len(status) > 0 {
		return fail(statusError(status))
	}
	waitErr := cmd.Wait()
	dur := time.Since(start)
	if cmd.ProcessState == nil {
		return nil, fmt.Errorf("native sandbox: waiting for the command: %w", waitErr)
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("native sandbox: run canceled: %w", ctx.Err())
	}
	res := &sandbox.Result{
		Output:    out.Bytes(),
		Truncated: out.Truncated(),
		Duration:  dur,
		ExitCode:  cmd.ProcessState.ExitCode(),
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		res.ExitCode = -1
		res.Signal = ws.Signal().String()
	}
	res.TimedOut = errors.Is(runCtx.Err(), context.DeadlineExceeded) && res.Signal != ""
	return res, nil
}

// statusError turns the init's report into an error.
func statusError(status []byte) error {
	layer, reason, _ := strings.Cut(strings.TrimSpace(string(status)), "\t")
	if layer == "" || layer == "-" {
		return fmt.Errorf("native sandbox: init: %s", reason)
	}
	return &sandbox.LayerError{Layer: layer, Reason: reason}
}

// startError explains why the init could not be started.
func (s *Sandbox) startError(err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		switch errno {
		case syscall.EPERM, syscall.EACCES, syscall.ENOSPC, syscall.EUSERS, syscall.EINVAL:
			return &sandbox.LayerError{Layer: layerUserns, Reason: fmt.Sprintf(
				"creating the sandbox namespaces failed (%v): %s", errno, usernsHint(s.host.euid))}
		}
	}
	return fmt.Errorf("native sandbox: starting %s as sandbox init: %w", s.exe, err)
}

// sysProcAttr is how the init is cloned: into new namespaces, as the
// sandbox user, with just the capabilities it needs to build the sandbox
// (it drops them before it runs the command).
func (s *Sandbox) sysProcAttr(cg *cgroupRun) *syscall.SysProcAttr {
	flags := uintptr(syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS | syscall.CLONE_NEWPID |
		syscall.CLONE_NEWNET | syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS)
	if s.layerOn(layerCgroupns) {
		flags |= syscall.CLONE_NEWCGROUP
	}
	a := &syscall.SysProcAttr{
		Cloneflags:                 flags,
		UidMappings:                []syscall.SysProcIDMap{{ContainerID: sandboxUID, HostID: s.host.euid, Size: 1}},
		GidMappings:                []syscall.SysProcIDMap{{ContainerID: sandboxGID, HostID: s.host.egid, Size: 1}},
		GidMappingsEnableSetgroups: false,
		AmbientCaps:                []uintptr{capSysAdmin, capNetAdmin, capSetpcap},
		Setsid:                     true,
		Pdeathsig:                  syscall.SIGKILL,
	}
	if fd, ok := cg.cloneFD(); ok {
		a.UseCgroupFD = true
		a.CgroupFD = fd
	}
	return a
}

// Capabilities the init keeps (as ambient capabilities, since it runs as
// a non-root user) to build the sandbox.
const (
	capSetpcap  = 8
	capNetAdmin = 12
	capSysAdmin = 21
)

// refuseMissing returns the LayerError of the first layer that is
// missing; live includes what the live probe found.
func (s *Sandbox) refuseMissing(live bool) error {
	for _, l := range s.layerList(live) {
		if l.State == sandbox.LayerMissing {
			return &sandbox.LayerError{Layer: l.Name, Reason: l.Detail}
		}
	}
	return nil
}

// Layers reports each layer. The first call also starts one sandbox (a
// probe that builds everything and runs nothing) to confirm the layers
// hold here; its result is kept.
func (s *Sandbox) Layers(ctx context.Context) []sandbox.Layer {
	s.liveProbe(ctx)
	return s.layerList(true)
}

// liveProbe runs the probe once and records layers that failed.
func (s *Sandbox) liveProbe(ctx context.Context) {
	s.probeMu.Lock()
	defer s.probeMu.Unlock()
	s.liveMu.Lock()
	done := s.live != nil
	s.liveMu.Unlock()
	if done || s.refuseMissing(false) != nil {
		return
	}
	sp := s.tmpl
	sp.Probe = true
	sp.Argv = []string{"true"}
	sp.Env = environ(nil)
	sp.Dir = "/"
	_, err := s.run(ctx, &sp, nil, 0, 30*time.Second)
	if ctx.Err() != nil {
		return // not a verdict on the host; try again next time
	}
	live := map[string]string{}
	var le *sandbox.LayerError
	switch {
	case errors.As(err, &le):
		live[le.Layer] = le.Reason
	case err != nil:
		s.log.Warn("sandbox probe failed", "err", err)
	}
	s.liveMu.Lock()
	s.live = live
	s.liveMu.Unlock()
}

// Explain describes what every command gets; the native backend keeps no
// per-scope state, so scope changes nothing.
func (s *Sandbox) Explain(ctx context.Context, scope string) sandbox.Explanation {
	return sandbox.Explanation{
		Backend: s.Backend(),
		Scope:   scope,
		Mounts:  s.mounts(),
		Network: "none (own loopback only)",
		User: fmt.Sprintf("%s (uid %d, gid %d; host uid %d), no capabilities, no_new_privs",
			sandboxUser, sandboxUID, sandboxGID, s.host.euid),
		Limits: s.opts.Limits,
		Layers: s.Layers(ctx),
	}
}

// mounts lists what the sandbox sees.
func (s *Sandbox) mounts() []sandbox.Mount {
	var ms []sandbox.Mount
	for _, b := range s.tmpl.Binds {
		mode := "ro"
		if b.RW {
			mode = "rw"
		}
		ms = append(ms, sandbox.Mount{Target: b.Dst, Source: b.Src, Mode: mode})
	}
	// /proc is writable as a mount (a process may write its own files),
	// Landlock makes it read-only; /proc/sys and the like are read-only
	// mounts either way.
	proc := "rw"
	if s.layerOn(layerLandlock) {
		proc = "ro"
	}
	ms = append(ms,
		sandbox.Mount{Target: "/", Source: "tmpfs", Mode: "ro"},
		sandbox.Mount{Target: "/etc", Source: "tmpfs", Mode: "ro"},
		sandbox.Mount{Target: "/proc", Source: "proc", Mode: proc},
		sandbox.Mount{Target: "/tmp", Source: "tmpfs", Mode: "rw"},
		sandbox.Mount{Target: "/dev/shm", Source: "tmpfs", Mode: "rw"},
	)
	slices.SortFunc(ms, func(a, b sandbox.Mount) int { return strings.Compare(a.Target, b.Target) })
	return ms
}
