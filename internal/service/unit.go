package service

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Mode says which systemd instance runs the unit.
type Mode string

const (
	// ModeSystem is the system manager (PID 1): the unit lives in
	// /etc/systemd/system and runs as a dedicated system account.
	ModeSystem Mode = "system"
	// ModeUser is the calling user's manager (systemctl --user): the unit
	// lives in ~/.config/systemd/user and runs as that user.
	ModeUser Mode = "user"
)

// Sandbox is where the gateway runs the agent's commands. It decides what
// the unit must let the gateway do.
type Sandbox string

const (
	// SandboxNative is the built-in Linux sandbox: the gateway creates
	// user, mount, pid, net, ipc, uts and cgroup namespaces, mounts inside
	// them, and the commands run as its descendants, under this unit's
	// seccomp filters.
	SandboxNative Sandbox = "native"
	// SandboxDocker is a container engine reached over its unix socket;
	// the commands run under the engine, not under this unit.
	SandboxDocker Sandbox = "docker"
	// SandboxNone means agents.defaults.sandbox.mode off: nothing runs
	// sandboxed.
	SandboxNone Sandbox = "none"
)

// Defaults of a Unit's zero fields.
const (
	// DefaultExec is where a system install puts the binary.
	DefaultExec = "/usr/local/bin/gatehouse"
	// DefaultMemoryMax bounds the gateway and every sandbox together.
	DefaultMemoryMax = "2G"
	// DefaultTasksMax bounds the processes and threads of the gateway and
	// every sandbox together.
	DefaultTasksMax = 512
	// WatchdogSec is the unit's watchdog; the gateway pings every half of it.
	WatchdogSec = 30
	// CredentialName is the systemd credential that holds the secret
	// store's key; internal/secret reads $CREDENTIALS_DIRECTORY/ with this
	// name.
	CredentialName = "gatehouse-secret-key"
)

// Unit describes the service for one gateway. The CLI fills it from the
// flags and the gateway's configuration; [Unit.Render] turns it into a
// systemd unit file. Zero fields take the defaults above.
type Unit struct {
	Mode Mode
	// Instance names a second gateway (gatehouse --profile NAME): the unit
	// becomes gatehouse-NAME.service and, in system mode, runs as the
	// account gatehouse-NAME. Empty for the default gateway.
	Instance string
	// Exec is the absolute path of the gatehouse binary the unit starts.
	Exec string
	// StateDir is the gateway's state directory, absolute: the only
	// directory the unit may write besides WritablePaths.
	StateDir string
	// Sandbox is the backend the gateway's tools use.
	Sandbox Sandbox
	// HostCommands reports that the gateway runs commands on the host as
	// its own descendants (tools.elevated.enabled).
	HostCommands bool
	// Netlink lets the gateway list network interfaces, which
	// gateway.bind tailnet needs.
	Netlink bool
	// WritablePaths are directories outside StateDir the gateway writes,
	// such as a workspace configured elsewhere. Absolute.
	WritablePaths []string
	// EngineSocket is the container engine's unix socket (SandboxDocker),
	// absolute, or empty when the engine is reached over TCP.
	EngineSocket string
	// EngineGroup is the group that may open EngineSocket (docker), added
	// to the system account's supplementary groups. System mode only.
	EngineGroup string
	// Environment holds extra NAME=VALUE pairs for the gateway, such as a
	// DOCKER_HOST the engine was found by.
	Environment []string
	// SecretKeyCredential, when set, is a root-only file systemd passes to
	// the gateway as the credential CredentialName (LoadCredential=), so
	// the secret store's key need not live in the state directory.
	SecretKeyCredential string
	// MemoryMax and TasksMax bound the gateway and all its sandboxes
	// together (MemoryMax=, TasksMax=).
	MemoryMax string
	TasksMax  int
}

// MaxExposure is the highest overall exposure `systemd-analyze security
// --offline=true` (systemd 252) gives a unit rendered for mode and sandbox,
// whatever else the Unit holds; the tests hold every rendering to it, so an
// audit can hold an installed unit to it too.
//
// The system units for docker and for no sandbox meet the 1.5 an audit
// aims for. A native-sandbox unit cannot: systemd-analyze charges every
// namespace kind the sandbox creates and the @mount and @privileged calls it
// makes, 1.8 before anything else (see TestExposure). A user unit scores
// higher still: the scorer counts it as root (a user manager takes no
// User=), and a user manager cannot apply ProtectKernelTunables= and
// ProtectKernelLogs=.
func MaxExposure(mode Mode, sandbox Sandbox) float64 {
	native := sandbox == SandboxNative || sandbox == ""
	switch {
	case mode == ModeUser && native:
		return 2.9
	case mode == ModeUser:
		return 1.9
	case native:
		return 2.1
	}
	return 1.2
}

// Name is the unit's name without the .service suffix, which is also the
// system account it runs as: gatehouse, or gatehouse-INSTANCE.
func (u Unit) Name() string {
	if u.Instance == "" {
		return "gatehouse"
	}
	return "gatehouse-" + u.Instance
}

// FileName is the unit's file name, NAME.service.
func (u Unit) FileName() string { return u.Name() + ".service" }

// SystemStateDir is the state directory of a system install that names
// none: /var/lib/NAME, made by systemd (StateDirectory=).
func (u Unit) SystemStateDir() string { return "/var/lib/" + u.Name() }

var (
	instanceName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)
	// safePath is what a path may hold to be written into a unit file
	// unquoted: no spaces, quotes, specifiers (%), variables ($) or
	// escapes.
	safePath  = regexp.MustCompile(`^/[A-Za-z0-9._@+/-]*$`)
	groupName = regexp.MustCompile(`^[a-z_][a-z0-9_-]*\$?$`)
	envPair   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=[A-Za-z0-9._@+/:,=-]*$`)
	memoryMax = regexp.MustCompile(`^([0-9]+[KMGT]?|[0-9]{1,2}%|infinity)$`)
)

// maxUserName is the longest account name useradd accepts.
const maxUserName = 32

// withDefaults returns u with its zero fields filled.
func (u Unit) withDefaults() Unit {
	if u.Mode == "" {
		u.Mode = ModeSystem
	}
	if u.Exec == "" {
		u.Exec = DefaultExec
	}
	if u.StateDir == "" && u.Mode == ModeSystem {
		u.StateDir = u.SystemStateDir()
	}
	if u.Sandbox == "" {
		u.Sandbox = SandboxNative
	}
	if u.MemoryMax == "" {
		u.MemoryMax = DefaultMemoryMax
	}
	if u.TasksMax == 0 {
		u.TasksMax = DefaultTasksMax
	}
	return u
}

// Validate reports the first field that cannot be rendered, saying what
// to use instead.
func (u Unit) Validate() error {
	u = u.withDefaults()
	switch u.Mode {
	case ModeSystem, ModeUser:
	default:
		return fmt.Errorf("service mode %q: use system or user", u.Mode)
	}
	if err := CheckInstance(u.Mode, u.Instance); err != nil {
		return err
	}
	switch u.Sandbox {
	case SandboxNative, SandboxDocker, SandboxNone:
	default:
		return fmt.Errorf("sandbox backend %q: use native, docker or none", u.Sandbox)
	}
	paths := [][2]string{{"binary", u.Exec}, {"state dir", u.StateDir}}
	if u.EngineSocket != "" {
		paths = append(paths, [2]string{"engine socket", u.EngineSocket})
	}
	if u.SecretKeyCredential != "" {
		paths = append(paths, [2]string{"secret key credential", u.SecretKeyCredential})
	}
	for _, p := range u.WritablePaths {
		paths = append(paths, [2]string{"writable path", p})
	}
	for _, p := range paths {
		if err := checkPath(p[1]); err != nil {
			return fmt.Errorf("%s: %w", p[0], err)
		}
	}
	if u.StateDir == "/" || filepath.Dir(u.StateDir) == "/" {
		return fmt.Errorf("state dir %s is too close to / to be the only writable directory: use a directory of its own, such as /var/lib/gatehouse", u.StateDir)
	}
	if u.EngineGroup != "" && !groupName.MatchString(u.EngineGroup) {
		return fmt.Errorf("engine socket group %q is not a valid group name", u.EngineGroup)
	}
	for _, kv := range u.Environment {
		if !envPair.MatchString(kv) {
			return fmt.Errorf("environment entry %q: want NAME=VALUE with no spaces, quotes, %% or $", kv)
		}
	}
	if !memoryMax.MatchString(u.MemoryMax) {
		return fmt.Errorf("MemoryMax %q: use bytes with an optional K, M, G or T suffix (2G), a percentage of RAM (50%%), or infinity", u.MemoryMax)
	}
	if u.TasksMax < 16 {
		return fmt.Errorf("TasksMax %d: the gateway alone runs dozens of threads; use at least 16 (default %d)", u.TasksMax, DefaultTasksMax)
	}
	return nil
}

// CheckInstance reports whether name can name an instance in mode: a
// profile name (^[a-z0-9][a-z0-9_-]{0,31}$) that, in system mode, also
// makes an account name useradd accepts.
func CheckInstance(mode Mode, name string) error {
	if name == "" {
		return nil
	}
	if !instanceName.MatchString(name) {
		return fmt.Errorf("instance name %q must match %s: use lowercase letters, digits, _ and -", name, instanceName)
	}
	if mode == ModeSystem && len("gatehouse-"+name) > maxUserName {
		return fmt.Errorf("instance name %q is too long for the system account gatehouse-%s: use at most %d characters",
			name, name, maxUserName-len("gatehouse-"))
	}
	return nil
}

func checkPath(p string) error {
	switch {
	case !filepath.IsAbs(p):
		return fmt.Errorf("%q is not absolute", p)
	case filepath.Clean(p) != p:
		return fmt.Errorf("%q is not clean: use %s", p, filepath.Clean(p))
	case !safePath.MatchString(p):
		return fmt.Errorf("%q holds characters a unit file cannot take unquoted: use a path of letters, digits and . _ - + @ /", p)
	}
	return nil
}

// homeDirs are what ProtectHome= hides.
var homeDirs = []string{"/home", "/root", "/run/user"}

func underHome(p string) bool {
	for _, h := range homeDirs {
		if p == h || strings.HasPrefix(p, h+"/") {
			return true
		}
	}
	return false
}

// nativeDevNodes are the device nodes the native sandbox binds read-write
// into its own /dev (internal/sandbox/native devNodes). PrivateDevices=
// makes the unit's /dev read-only, and the kernel will not let a user
// namespace make a bind of it writable again.
var nativeDevNodes = []string{"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "-/dev/tty"}

// nativeSyscalls are what the native sandbox calls beyond @system-service:
// the mounts that build its root (inside its own user namespace),
// sethostname in its UTS namespace, and Landlock and seccomp, which it
// applies to itself before it executes the command.
var nativeSyscalls = []string{"@mount", "sethostname", "landlock_create_ruleset", "landlock_add_rule",
	"landlock_restrict_self", "seccomp"}

// Render returns the unit file. See the comments it carries for why each
// directive is there or not.
func (u Unit) Render() ([]byte, error) {
	if err := u.Validate(); err != nil {
		return nil, err
	}
	u = u.withDefaults()
	native := u.Sandbox == SandboxNative
	// Commands that are the gateway's own descendants inherit every
	// seccomp filter below.
	descendants := native || u.HostCommands
	system := u.Mode == ModeSystem

	w := &unitWriter{}
	w.comment("Rendered by `gatehouse service install`, which overwrites it; to change it,",
		"use `systemctl "+u.ctl()+"edit "+u.FileName()+"`. "+u.summary()+".")

	w.section("Unit")
	desc := "Gatehouse AI agent gateway"
	if u.Instance != "" {
		desc += " (" + u.Instance + ")"
	}
	w.set("Description", desc)
	w.set("Wants", "network-online.target")
	w.set("After", "network-online.target")
	w.set("StartLimitIntervalSec", "300")
	w.set("StartLimitBurst", "5")

	w.section("Service")
	w.set("Type", "notify")
	w.comment("The gateway sends READY, RELOADING, STOPPING and STATUS itself, and pings",
		"the watchdog every half of WatchdogSec; SIGUSR1 re-executes it in place.")
	w.set("NotifyAccess", "main")
	exec := u.Exec + " gateway run"
	if u.Instance != "" {
		exec += " --profile " + u.Instance
	}
	w.set("ExecStart", exec)
	// /bin/sh is on every system; /bin/kill (procps) is not on minimal ones.
	w.set("ExecReload", "/bin/sh -c 'kill -HUP ${MAINPID}'")
	w.set("Restart", "on-failure")
	w.set("RestartSec", "5s")
	w.set("TimeoutStartSec", "90s")
	w.set("TimeoutStopSec", "30s")
	w.set("WatchdogSec", strconv.Itoa(WatchdogSec)+"s")
	if system {
		w.set("User", u.Name())
		w.set("Group", u.Name())
		if u.EngineGroup != "" {
			w.comment("Opens the container engine's socket; membership is as good as root on",
				"this host, which the docker backend needs.")
			w.set("SupplementaryGroups", u.EngineGroup)
		}
	}
	w.set("Environment", "GATEHOUSE_STATE_DIR="+u.StateDir)
	for _, kv := range u.Environment {
		w.set("Environment", kv)
	}
	if system && u.StateDir == u.SystemStateDir() {
		w.set("StateDirectory", u.Name())
		w.set("StateDirectoryMode", "0700")
	}
	if u.SecretKeyCredential != "" {
		w.set("LoadCredential", CredentialName+":"+u.SecretKeyCredential)
	}
	w.set("UMask", "0077")
	w.set("SyslogIdentifier", u.Name())
	w.blank()

	w.comment("The gateway and all its sandboxes together.")
	w.set("MemoryMax", u.MemoryMax)
	w.set("TasksMax", strconv.Itoa(u.TasksMax))
	w.blank()

	u.renderFilesystem(w, native)
	w.blank()
	u.renderKernel(w, native, descendants)
	return []byte(w.String()), nil
}

// renderFilesystem writes what the gateway sees of the file system.
func (u Unit) renderFilesystem(w *unitWriter, native bool) {
	system := u.Mode == ModeSystem
	w.comment("Read-only everywhere but the state directory and the paths made writable below.")
	w.set("ProtectSystem", "strict")

	var rw, bindRW, bindRO []string
	if !(system && u.StateDir == u.SystemStateDir()) {
		rw = append(rw, u.StateDir)
	}
	rw = append(rw, u.WritablePaths...)
	// What lives in a home directory is bound into an empty one.
	homeRW := slices.ContainsFunc(rw, underHome)
	if !system || homeRW || underHome(u.Exec) {
		for _, p := range rw {
			if underHome(p) {
				bindRW = append(bindRW, p)
			}
		}
		rw = slices.DeleteFunc(rw, underHome)
		if underHome(u.Exec) {
			bindRO = append(bindRO, u.Exec)
		}
		if u.EngineSocket != "" && underHome(u.EngineSocket) {
			bindRO = append(bindRO, u.EngineSocket)
		}
		if !system {
			// The user manager's notify socket is in $XDG_RUNTIME_DIR
			// (/run/user/UID), which ProtectHome= hides.
			bindRO = append(bindRO, "-%t/systemd/notify")
		}
		w.comment("Home directories are an empty tmpfs: only what is bound below is there.")
		w.set("ProtectHome", "tmpfs")
		w.setList("BindPaths", bindRW)
		w.setList("BindReadOnlyPaths", bindRO)
	} else {
		w.set("ProtectHome", "yes")
	}
	w.setList("ReadWritePaths", rw)
	w.set("PrivateTmp", "yes")
	w.set("PrivateDevices", "yes")
	if native {
		w.comment("The native sandbox binds these nodes read-write into its own /dev.")
		w.setList("ReadWritePaths", nativeDevNodes)
	}
	w.set("DevicePolicy", "closed")
	w.set("PrivateMounts", "yes")
	w.set("PrivateUsers", "yes")
	if system {
		// A user manager fails this with 226/NAMESPACE (systemd 252), as
		// it does ProtectKernelTunables= and ProtectKernelLogs=.
		w.set("PrivateIPC", "yes")
	}
	w.set("ProtectProc", "invisible")
	w.set("ProcSubset", "pid")
	w.set("ProtectControlGroups", "yes")
	if native {
		w.comment("No Delegate=: the native sandbox's memory and process limits fall back to",
			"rlimits, and MemoryMax=/TasksMax= above bound all sandboxes together.")
	}
}

// renderKernel writes what the gateway may ask of the kernel: capabilities,
// namespaces, sockets and system calls.
func (u Unit) renderKernel(w *unitWriter, native, descendants bool) {
	system := u.Mode == ModeSystem
	if native {
		w.comment("No capabilities: the native sandbox gets its own inside its user namespace.")
	}
	w.set("NoNewPrivileges", "yes")
	w.set("CapabilityBoundingSet", "")
	w.set("AmbientCapabilities", "")
	w.set("ProtectClock", "yes")
	if native {
		w.comment("No ProtectHostname=: its seccomp filter would refuse the sandbox's",
			"sethostname in its own UTS namespace.")
	} else {
		w.set("ProtectHostname", "yes")
	}
	if system {
		w.set("ProtectKernelLogs", "yes")
	}
	w.set("ProtectKernelModules", "yes")
	if system {
		w.set("ProtectKernelTunables", "yes")
	}
	w.set("KeyringMode", "private")
	w.set("LockPersonality", "yes")
	if descendants {
		w.comment("No MemoryDenyWriteExecute=: the gateway needs none, but the commands it runs",
			"inherit it, and JIT runtimes (node, java) abort under it.")
	} else {
		w.set("MemoryDenyWriteExecute", "yes")
	}
	w.set("RemoveIPC", "yes")
	w.set("RestrictRealtime", "yes")
	w.set("RestrictSUIDSGID", "yes")

	families := []string{"AF_UNIX", "AF_INET", "AF_INET6"}
	if u.Netlink {
		families = append(families, "AF_NETLINK")
	}
	w.comment("AF_UNIX for sd_notify and the container engine; AF_INET* to listen and",
		"to reach model providers and chat platforms.")
	w.setList("RestrictAddressFamilies", families)
	if native {
		w.comment("The native sandbox creates every kind of namespace but time.")
		w.set("RestrictNamespaces", "user mnt pid net ipc uts cgroup")
	} else {
		w.set("RestrictNamespaces", "yes")
	}
	w.set("SystemCallArchitectures", "native")
	allow := []string{"@system-service"}
	deny := []string{"@resources"}
	if native {
		allow = append(allow, nativeSyscalls...)
	} else {
		deny = append([]string{"@privileged"}, deny...)
	}
	w.setList("SystemCallFilter", allow)
	w.set("SystemCallFilter", "~"+strings.Join(deny, " "))
	w.set("SystemCallErrorNumber", "EPERM")

	w.section("Install")
	if system {
		w.set("WantedBy", "multi-user.target")
	} else {
		w.set("WantedBy", "default.target")
	}
}

// summary says in a few words what the unit is for.
func (u Unit) summary() string {
	s := "Sandbox: " + string(u.Sandbox)
	if u.HostCommands {
		s += ", elevated host commands on"
	}
	return s
}

// ctl is the systemctl flag for the unit's manager, with a trailing space.
func (u Unit) ctl() string {
	if u.Mode == ModeUser {
		return "--user "
	}
	return ""
}

// unitWriter builds a unit file.
type unitWriter struct {
	b strings.Builder
}

func (w *unitWriter) section(name string) {
	if w.b.Len() > 0 {
		w.b.WriteString("\n")
	}
	w.b.WriteString("[" + name + "]\n")
}

func (w *unitWriter) comment(lines ...string) {
	for _, l := range lines {
		w.b.WriteString("# " + l + "\n")
	}
}

func (w *unitWriter) blank() { w.b.WriteString("\n") }

func (w *unitWriter) set(key, value string) {
	w.b.WriteString(key + "=" + value + "\n")
}

// setList writes key=v1 v2 …, or nothing for an empty list.
func (w *unitWriter) setList(key string, values []string) {
	if len(values) > 0 {
		w.set(key, strings.Join(values, " "))
	}
}

func (w *unitWriter) String() string { return w.b.String() }
