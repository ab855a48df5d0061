// Package sandbox defines how tools run commands contained: the [Sandbox]
// interface, what a command asks for ([Request]) and gets back ([Result]),
// the limits every backend applies ([Limits]), and the report of what each
// isolation layer does on this host ([Layer]).
//
// Two backends implement it: native (package sandbox/native: user, mount,
// pid, network, ipc, uts and cgroup namespaces, Landlock, seccomp, rlimits,
// cgroups, built into the gatehouse binary) and docker (package
// sandbox/docker: the Docker Engine API, which Podman also serves).
// Package sandbox/backend picks one from the configuration.
//
// Every backend fails closed: a layer it cannot apply is an error naming
// the layer and why ([LayerError]), unless the owner listed that layer in
// the configuration as one the sandbox may run without.
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gatehouse/internal/config"
)

// Sandbox runs commands contained. Implementations are safe for
// concurrent use.
type Sandbox interface {
	// Backend names the implementation: "native" or "docker".
	Backend() string
	// Run runs one command to completion, or until its timeout or ctx
	// ends, and kills everything it started. A command that ran and
	// failed is a Result with a non-zero ExitCode, not an error; the
	// error is for a sandbox that could not be set up (a *LayerError
	// when an isolation layer is missing).
	Run(ctx context.Context, req Request) (*Result, error)
	// Layers reports what each isolation layer does on this host, for
	// `gatehouse sandbox status` and the audit.
	Layers(ctx context.Context) []Layer
	// Explain describes what a command run for scope would get: mounts,
	// network, limits.
	Explain(ctx context.Context, scope string) Explanation
	// Prune removes sandboxes (containers) idle for longer than idle, and
	// returns how many it removed. Backends without long-lived state
	// return 0.
	Prune(ctx context.Context, idle time.Duration) (int, error)
	// Close releases what the sandbox holds (connections, not containers).
	Close() error
}

// Request is one command to run.
type Request struct {
	// Scope is the key of the sandbox the command runs in: a session key,
	// "agent:ID" or "shared", per agents.defaults.sandbox.scope. Backends
	// with long-lived sandboxes (docker) keep one per scope.
	Scope string
	// Argv is the command; Argv[0] is looked up on the sandbox's PATH
	// (/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin).
	// A shell string is run as []string{"/bin/sh", "-c", s}.
	Argv []string
	// Dir is the working directory inside the sandbox; empty means
	// /workspace when the workspace is mounted, else /tmp.
	Dir string
	// Env is added to the sandbox's clean environment (PATH, HOME=/tmp,
	// LANG=C.UTF-8, TERM=dumb), as KEY=VALUE. Nothing of the host's
	// environment is ever passed.
	Env []string
	// Stdin is the command's standard input; empty means /dev/null.
	Stdin []byte
	// Timeout bounds the command; zero or more than Limits.Timeout means
	// Limits.Timeout.
	Timeout time.Duration
	// MaxOutput caps the combined output kept; zero means DefaultMaxOutput.
	MaxOutput int
}

// DefaultMaxOutput is the output kept of a command when Request.MaxOutput is 0.
const DefaultMaxOutput = 64 << 10

// Result is how a command ended.
type Result struct {
	// Output is stdout and stderr interleaved as written, at most
	// MaxOutput bytes.
	Output []byte `json:"-"`
	// Truncated reports that output past MaxOutput was dropped.
	Truncated bool `json:"truncated,omitempty"`
	// ExitCode is the command's exit status; -1 when a signal ended it.
	ExitCode int `json:"exitCode"`
	// Signal names the signal that ended it ("killed"), if one did.
	Signal string `json:"signal,omitempty"`
	// TimedOut reports that the timeout killed it (with its children).
	TimedOut bool          `json:"timedOut,omitempty"`
	Duration time.Duration `json:"durationNs"`
}

// Layer is one isolation layer as applied on this host.
type Layer struct {
	// Name is stable: userns, mountns, pidns, netns, ipcns, utsns,
	// cgroupns, capabilities, nonewprivs, landlock, landlock-net, seccomp,
	// rlimits, cgroups, timeout (native); engine, network, readonly-root, seccomp,
	// capabilities, nonewprivs, user, limits (docker).
	Name string `json:"name"`
	// State is "on" (applied), "off" (turned off by configuration),
	// "missing" (cannot be applied here and the sandbox refuses to run)
	// or "waived" (cannot be applied here and the owner allowed it).
	State string `json:"state"`
	// Detail says what the layer does, or why it is not applied.
	Detail string `json:"detail"`
}

// Layer states.
const (
	LayerOn      = "on"
	LayerOff     = "off"
	LayerMissing = "missing"
	LayerWaived  = "waived"
)

// Mount is one filesystem the sandbox sees.
type Mount struct {
	Target string `json:"target"`
	Source string `json:"source"` // host path, "tmpfs" or "proc"
	Mode   string `json:"mode"`   // "ro" or "rw"
}

// Explanation is what a command in one scope would get.
type Explanation struct {
	Backend string  `json:"backend"`
	Scope   string  `json:"scope"`
	Mounts  []Mount `json:"mounts"`
	Network string  `json:"network"`
	User    string  `json:"user"`
	Limits  Limits  `json:"limits"`
	Layers  []Layer `json:"layers"`
}

// Limits bounds a sandboxed command.
type Limits struct {
	MemoryBytes   int64         `json:"memoryBytes"`
	Pids          int           `json:"pids"`
	CPUs          float64       `json:"cpus,omitempty"`
	CPUSeconds    int           `json:"cpuSeconds"`
	OpenFiles     int           `json:"openFiles"`
	FileSizeBytes int64         `json:"fileSizeBytes"`
	TmpfsBytes    int64         `json:"tmpfsBytes"`
	Timeout       time.Duration `json:"timeoutNs"`
}

// LimitsFrom converts the configured limits.
func LimitsFrom(c config.SandboxLimits) Limits {
	return Limits{
		MemoryBytes:   int64(c.MemoryMB) << 20,
		Pids:          c.Pids,
		CPUs:          c.CPUs,
		CPUSeconds:    c.CPUSeconds,
		OpenFiles:     c.OpenFiles,
		FileSizeBytes: int64(c.FileSizeMB) << 20,
		TmpfsBytes:    int64(c.TmpfsMB) << 20,
		Timeout:       time.Duration(c.TimeoutSeconds) * time.Second,
	}
}

// Options are what every backend is built from.
type Options struct {
	// Workspace is the host directory mounted at /workspace; empty, or
	// WorkspaceAccess "none", mounts nothing there.
	Workspace string
	// WorkspaceAccess is "none", "ro" or "rw".
	WorkspaceAccess string
	// StateDir is the gateway's state directory: never mounted, and
	// refused as (or above) any bind source.
	StateDir string
	Limits   Limits
	// AllowWithout lists layers the sandbox may run without when this
	// host cannot apply them (agents.defaults.sandbox.native.allowWithout).
	AllowWithout []string
	// Docker holds the docker backend's settings.
	Docker config.SandboxDocker
}

// OptionsFrom builds Options from the configuration. workspace is the
// resolved workspace directory and stateDir the gateway's state directory.
func OptionsFrom(c config.Sandbox, workspace, stateDir string) Options {
	return Options{
		Workspace:       workspace,
		WorkspaceAccess: c.WorkspaceAccess,
		StateDir:        stateDir,
		Limits:          LimitsFrom(c.Limits),
		AllowWithout:    c.Native.AllowWithout,
		Docker:          c.Docker,
	}
}

// WorkspaceMount is where the workspace appears inside every sandbox.
const WorkspaceMount = "/workspace"

// DefaultPath is the PATH of every sandboxed command.
const DefaultPath = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"

// LayerError reports an isolation layer that cannot be applied, which
// stops the sandbox (fail closed).
type LayerError struct {
	Layer  string
	Reason string
}

func (e *LayerError) Error() string {
	return fmt.Sprintf("sandbox layer %s cannot be applied on this host: %s; the sandbox refuses to run without it "+
		"(if you accept the risk: gatehouse config set agents.defaults.sandbox.native.allowWithout '[\"%s\"]')",
		e.Layer, e.Reason, e.Layer)
}

// ErrUnavailable is returned (wrapped) by a backend that cannot run at
// all here, e.g. no container engine answering.
var ErrUnavailable = errors.New("sandbox backend unavailable")
