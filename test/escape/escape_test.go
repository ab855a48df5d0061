//go:build linux

// Package escape_test tries to break out of every sandbox backend. Each
// attempt runs a /bin/sh script through sandbox.Run and must fail, and a
// harmless control in the same setup must succeed first, so a sandbox
// that is merely broken cannot pass for a strict one. All traffic stays
// on the host's loopback or inside the sandbox's own network namespace.
//
// Backends plug in from their own files, each registering a constructor
// in init (native here; docker in docker_test.go):
//
//	func init() { register("docker", newDocker) }
//
// A constructor builds a sandbox from the options it is given, or calls
// t.Skip with the reason when its backend cannot run on this machine.
package escape_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/internal/sandbox"
	"gatehouse/internal/sandbox/native"
)

// backend is one sandbox implementation under test.
type backend struct {
	name string
	new  func(t *testing.T, opts sandbox.Options) sandbox.Sandbox
}

// registered holds the backends, added by init functions only.
var registered []backend

// register adds a backend to the suite; call it from init.
func register(name string, newFn func(t *testing.T, opts sandbox.Options) sandbox.Sandbox) {
	registered = append(registered, backend{name: name, new: newFn})
}

// backends returns every registered backend.
func backends(t *testing.T) []backend {
	t.Helper()
	if len(registered) == 0 {
		t.Fatal("no sandbox backend registered")
	}
	return registered
}

func init() { register("native", newNative) }

// newNative builds the native backend. Where this host does not delegate
// cgroups (an unprivileged run) it waives them as an owner would, so the
// suite checks that the rlimits that stand in hold.
func newNative(t *testing.T, opts sandbox.Options) sandbox.Sandbox {
	t.Helper()
	s, err := native.New(opts)
	if err != nil {
		t.Fatalf("native.New: %v", err)
	}
	for _, l := range s.Layers(context.Background()) {
		switch {
		case l.Name == "cgroups" && l.State == sandbox.LayerMissing:
			t.Logf("native: cgroups waived on this host (%s)", l.Detail)
			opts.AllowWithout = append(slices.Clone(opts.AllowWithout), "cgroups")
			if s, err = native.New(opts); err != nil {
				t.Fatalf("native.New: %v", err)
			}
		case l.State == sandbox.LayerMissing:
			t.Fatalf("native: layer %s is missing on this host: %s", l.Name, l.Detail)
		}
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// env is the host side of one attempt.
type env struct {
	workspace string // host directory mounted at /workspace
	state     string // the gateway's state directory: never visible
	canary    string // a secret: in the state directory and this process's environment
	port      int    // a listener on the host's 127.0.0.1
	conns     *atomic.Int32
	pid       int    // this test process
	name      string // a unique file name for write attempts
}

// newEnv makes the workspace (with the helper, a setuid copy of it and a
// file), a state directory with a secret, and a loopback listener.
func newEnv(t *testing.T, access string) *env {
	t.Helper()
	e := &env{workspace: t.TempDir(), state: t.TempDir(), canary: "canary-" + randHex(8), pid: os.Getpid(),
		name: "gatehouse-escape-" + randHex(6), conns: new(atomic.Int32)}
	// Readable (and for rw writable) by a backend that runs as another
	// user, like docker's 65534.
	mode := os.FileMode(0o755)
	if access == "rw" {
		mode = 0o777
	}
	must(t, os.Chmod(e.workspace, mode))
	must(t, os.WriteFile(filepath.Join(e.workspace, "hello"), []byte("hello\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(e.state, "secret"), []byte(e.canary+"\n"), 0o600))
	t.Setenv("GATEHOUSE_ESCAPE_CANARY", e.canary)
	if helperBin != "" {
		copyFile(t, helperBin, filepath.Join(e.workspace, "helper"), 0o755)
		suid := filepath.Join(e.workspace, "suid-helper")
		copyFile(t, helperBin, suid, 0o755)
		if os.Geteuid() == 0 {
			must(t, os.Chown(suid, 0, 0))
		}
		must(t, os.Chmod(suid, 0o755|os.ModeSetuid))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	t.Cleanup(func() { ln.Close() })
	e.port = ln.Addr().(*net.TCPAddr).Port
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			e.conns.Add(1)
			c.Close()
		}
	}()
	return e
}

// attempt is one way out that must fail.
type attempt struct {
	name string
	// access is the workspace access; "" means ro.
	access string
	limits sandbox.Limits
	// helper: the scripts run /workspace/helper.
	helper bool
	// only lists the backends the attempt applies to; nil means all.
	only []string
	// control must succeed; attack must fail.
	control, attack func(e *env) string
	// denied, when set, must appear in the attack's output: it says the
	// attack failed for the right reason.
	denied string
	// after checks the host once the attack returned.
	after func(t *testing.T, e *env, out string)
}

// anyOf is a script that exits 0 ("ESCAPED") if any of cmds succeeds,
// and prints why each one failed.
func anyOf(cmds ...string) string {
	var b strings.Builder
	for _, c := range cmds {
		q := strings.ReplaceAll(c, "'", `'\''`)
		fmt.Fprintf(&b, "if out=$( ( %s ) 2>&1 ); then echo 'ESCAPED: %s'; echo \"$out\"; exit 0; fi; echo 'denied: %s:' \"$out\"\n", c, q, q)
	}
	b.WriteString("exit 1\n")
	return b.String()
}

func fixed(s string) func(*env) string { return func(*env) string { return s } }

var helperOK = fixed("/workspace/helper ok")

var attempts = []attempt{
	{
		name:    "read_etc_shadow",
		control: fixed("cat /etc/passwd >/dev/null"),
		attack: fixed(anyOf("cat /etc/shadow", "cat /etc/gshadow", "cat /proc/1/root/etc/shadow",
			"cat /proc/self/root/etc/shadow")),
	},
	{
		name:    "read_state_dir",
		control: fixed("cat /workspace/hello"),
		attack: func(e *env) string {
			// The bracket keeps the pattern from matching itself in a
			// command line; /proc is left out for the same reason.
			pattern := e.canary[:1] + "[" + e.canary[1:2] + "]" + e.canary[2:]
			return anyOf("cat "+e.state+"/secret", "ls "+e.state, "cat /workspace/../"+filepath.Base(e.state)+"/secret",
				"ln -s "+e.state+"/secret /tmp/link && cat /tmp/link",
				"grep -rqs '"+pattern+"' /workspace /tmp /etc /home /root /var /run /opt /srv /mnt")
		},
		after: func(t *testing.T, e *env, out string) {
			if strings.Contains(out, e.canary) {
				t.Errorf("the state directory's secret reached the sandbox: %q", out)
			}
		},
	},
	{
		name:    "write_outside_workspace",
		access:  "rw",
		control: func(e *env) string { return "echo x > /workspace/" + e.name + " && echo x > /tmp/" + e.name },
		attack: func(e *env) string {
			var cmds []string
			for _, p := range outsidePaths(e) {
				cmds = append(cmds, "echo x > "+p)
			}
			return anyOf(append(cmds, "mkdir -p /home/"+e.name, "echo x > /workspace/../"+e.name)...)
		},
		after: func(t *testing.T, e *env, _ string) {
			for _, p := range append(outsidePaths(e), "/home/"+e.name, filepath.Join(filepath.Dir(e.workspace), e.name)) {
				if _, err := os.Lstat(p); err == nil {
					os.RemoveAll(p)
					t.Errorf("the sandbox wrote %s on the host", p)
				}
			}
		},
	},
	{
		name:    "write_workspace_read_only",
		control: fixed("cat /workspace/hello"),
		attack: fixed(anyOf("echo x > /workspace/new", "echo x >> /workspace/hello", "rm /workspace/hello",
			"mkdir /workspace/dir", "mv /workspace/hello /workspace/moved", "chmod 777 /workspace/hello",
			"ln -s /etc /workspace/link")),
		after: func(t *testing.T, e *env, _ string) {
			for _, n := range []string{"new", "dir", "moved", "link"} {
				if _, err := os.Lstat(filepath.Join(e.workspace, n)); err == nil {
					t.Errorf("the sandbox made %s in the read-only workspace", n)
				}
			}
			b, _ := os.ReadFile(filepath.Join(e.workspace, "hello"))
			fi, _ := os.Stat(filepath.Join(e.workspace, "hello"))
			if string(b) != "hello\n" || fi == nil || fi.Mode().Perm() != 0o644 {
				t.Errorf("the sandbox changed the read-only workspace's file: %q, %v", b, fi)
			}
		},
	},
	{
		name:    "tcp_connect_host_loopback",
		helper:  true,
		control: helperOK,
		attack: func(e *env) string {
			return anyOf(fmt.Sprintf("/workspace/helper connect 127.0.0.1:%d", e.port),
				fmt.Sprintf("/workspace/helper connect localhost:%d", e.port))
		},
		after: func(t *testing.T, e *env, _ string) {
			if n := e.conns.Load(); n != 0 {
				t.Errorf("the host listener accepted %d connections from the sandbox", n)
			}
		},
	},
	{
		name:    "see_host_sockets",
		control: fixed("cat /proc/net/tcp >/dev/null"),
		attack: func(e *env) string {
			p := fmt.Sprintf(":%04X ", e.port)
			return anyOf("grep -q '"+p+"' /proc/net/tcp", "grep -q '"+p+"' /proc/net/tcp6")
		},
	},
	{
		name:    "network_interfaces_and_routes",
		control: fixed("grep -q 'lo:' /proc/net/dev"),
		attack: fixed(anyOf("grep -v -e '^Inter' -e '^ face' -e '^ *lo:' /proc/net/dev | grep .",
			"tail -n +2 /proc/net/route | grep .", "grep -v ' lo$' /proc/net/ipv6_route | grep .")),
	},
	{
		name:    "resolve_dns",
		helper:  true,
		control: helperOK,
		attack:  fixed(anyOf("/workspace/helper dns example.com", "getent hosts example.com")),
	},
	{
		name:    "see_or_signal_host_processes",
		control: fixed("ls /proc >/dev/null"),
		attack: func(e *env) string {
			// This test binary's name, bracketed so the pattern does not
			// match the command line of the grep (or the script) itself.
			name := filepath.Base(os.Args[0])
			cmds := []string{"grep -qs '" + name[:1] + "[" + name[1:2] + "]" + name[2:] + "' /proc/[0-9]*/cmdline"}
			if e.pid > 1000 { // far above any sandbox's own pids
				cmds = append(cmds, fmt.Sprintf("test -e /proc/%d", e.pid), fmt.Sprintf("kill -0 %d", e.pid))
			}
			return anyOf(cmds...)
		},
	},
	{
		name:    "host_environment",
		control: fixed("cat /proc/1/environ /proc/self/environ >/dev/null"),
		attack: func(e *env) string {
			return anyOf("grep -q "+e.canary+" /proc/1/environ", "grep -q "+e.canary+" /proc/self/environ",
				"env | grep -q "+e.canary)
		},
	},
	{
		name:    "mount",
		helper:  true,
		control: helperOK,
		// Targets a fresh directory, so even a success would hide nothing.
		attack: fixed(anyOf("mkdir -p /tmp/escape-mnt && /workspace/helper mount /tmp/escape-mnt",
			"mount -t tmpfs none /tmp/escape-mnt", "mount --bind /tmp/escape-mnt /tmp/escape-mnt")),
		denied: "operation not permitted",
	},
	{
		name:    "unshare",
		helper:  true,
		control: helperOK,
		attack:  fixed(anyOf("/workspace/helper unshare", "unshare -U true", "unshare -rm true")),
		denied:  "operation not permitted",
	},
	{
		name:    "setns",
		helper:  true,
		control: helperOK,
		attack:  fixed(anyOf("/workspace/helper setns")),
		denied:  "operation not permitted",
	},
	{
		name:    "chroot",
		helper:  true,
		control: helperOK,
		attack:  fixed(anyOf("/workspace/helper chroot")),
		denied:  "operation not permitted",
	},
	{
		// Both backends' seccomp filters refuse ptrace outright.
		name:    "ptrace",
		helper:  true,
		control: helperOK,
		attack:  fixed(anyOf("/workspace/helper ptrace")),
		denied:  "operation not permitted",
	},
	{
		name:   "setuid_privileges",
		helper: true,
		// The helper reports (exit 1) that the sandbox runs unprivileged.
		control: fixed("/workspace/helper privs; [ $? -eq 1 ]"),
		attack: fixed(anyOf("/workspace/suid-helper privs", "su -c true root </dev/null",
			"sudo -n true", "newgrp root </dev/null")),
	},
	{
		name:    "tiocsti",
		helper:  true,
		control: helperOK,
		attack:  fixed(anyOf("/workspace/helper tiocsti", "/workspace/helper tiocsti </dev/tty")),
	},
	{
		name:    "write_kernel_settings",
		control: fixed("cat /proc/sys/kernel/printk_ratelimit >/dev/null"),
		// Each writes back the current value: harmless if it got through.
		attack: fixed(anyOf(
			"v=$(cat /proc/sys/kernel/printk_ratelimit) && echo $v > /proc/sys/kernel/printk_ratelimit",
			"v=$(cat /proc/sys/vm/overcommit_ratio) && echo $v > /proc/sys/vm/overcommit_ratio")),
	},
	{
		name:    "raw_devices",
		control: fixed("head -c 1 /dev/urandom >/dev/null"),
		attack: fixed(anyOf("head -c 1 /dev/mem", "head -c 1 /dev/kmem", "head -c 1 /dev/port",
			"head -c 1 /dev/vda", "head -c 1 /dev/sda", "head -c 1 /dev/nvme0n1", "ls /dev/disk")),
	},
	{
		name:    "remount_or_mknod",
		control: fixed("true"),
		// A device node is an escape only if it opens.
		attack: fixed(anyOf("mount -o remount,rw /", "mount -o remount,rw /usr",
			"mknod /tmp/sda b 8 0 && head -c 1 /tmp/sda", "mknod /tmp/vda b 254 0 && head -c 1 /tmp/vda")),
	},
	{
		name:    "kernel_memory_and_sysfs",
		control: fixed("true"),
		// The writes put back the current value: harmless if they got through.
		attack: fixed(anyOf("head -c 1 /proc/kcore | grep -q .",
			"v=$(cat /sys/kernel/mm/ksm/run) && echo $v > /sys/kernel/mm/ksm/run",
			"v=$(cat /sys/fs/cgroup/memory/release_agent) && echo \"$v\" > /sys/fs/cgroup/memory/release_agent")),
	},
	{
		name:    "privileges_flags",
		control: fixed("grep -q NoNewPrivs /proc/self/status"),
		attack: fixed(anyOf("grep -q 'NoNewPrivs:.*0' /proc/self/status", `[ "$(id -u)" = 0 ]`,
			`[ "$(grep ^CapEff /proc/self/status | cut -f2)" != 0000000000000000 ]`,
			`[ "$(grep ^CapBnd /proc/self/status | cut -f2)" != 0000000000000000 ]`)),
	},
	{
		name:    "workspace_symlink_out",
		access:  "rw",
		control: fixed("ln -s /workspace/hello /workspace/ok && cat /workspace/ok"),
		attack: func(e *env) string {
			return anyOf("ln -sf "+e.state+"/secret /workspace/link && cat /workspace/link",
				"ln -sf / /workspace/root && cat /workspace/root/etc/shadow")
		},
		after: func(t *testing.T, e *env, out string) {
			if strings.Contains(out, e.canary) {
				t.Errorf("a workspace symlink reached the state directory: %q", out)
			}
		},
	},
	{
		name:    "raise_limits",
		limits:  sandbox.Limits{OpenFiles: 64, FileSizeBytes: 1 << 20, TmpfsBytes: 4 << 20},
		control: fixed("ulimit -n 32 && head -c 100000 /dev/zero > /tmp/small"),
		attack: fixed(anyOf("ulimit -n 100000", "ulimit -f unlimited",
			"head -c 3000000 /dev/zero > /tmp/big; [ $(wc -c < /tmp/big) -gt 2000000 ]",
			"for i in 1 2 3 4 5 6; do head -c 900000 /dev/zero > /tmp/f$i; done; [ $(cat /tmp/f* | wc -c) -gt 5000000 ]")),
	},
	{
		name:    "pids_limit",
		limits:  sandbox.Limits{Pids: 32},
		control: fixed("for i in 1 2 3 4; do sleep 0.1 & done; wait"),
		attack:  fixed("for i in $(seq 100); do sleep 5 & done; wait"),
	},
	{
		name:    "memory_limit",
		helper:  true,
		limits:  sandbox.Limits{MemoryBytes: 64 << 20},
		control: fixed("/workspace/helper alloc 8"),
		attack:  fixed("/workspace/helper alloc 1024"),
	},
}

// outsidePaths are host paths write attempts aim at.
func outsidePaths(e *env) []string {
	return []string{"/" + e.name, "/usr/" + e.name, "/etc/" + e.name, "/var/tmp/" + e.name, "/root/" + e.name}
}

func TestEscapeAttempts(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			for _, a := range attempts {
				t.Run(a.name, func(t *testing.T) {
					if a.only != nil && !slices.Contains(a.only, b.name) {
						t.Skipf("%s only", strings.Join(a.only, ", "))
					}
					if a.helper && helperBin == "" {
						t.Skip(helperSkip)
					}
					access := a.access
					if access == "" {
						access = "ro"
					}
					e := newEnv(t, access)
					sb := b.new(t, sandbox.Options{Workspace: e.workspace, WorkspaceAccess: access, StateDir: e.state, Limits: a.limits})
					if res := runScript(t, sb, a.control(e), 30*time.Second); res.ExitCode != 0 {
						t.Fatalf("control failed, so the attack would prove nothing: exit %d, signal %q, output %q",
							res.ExitCode, res.Signal, res.Output)
					}
					res := runScript(t, sb, a.attack(e), 30*time.Second)
					out := string(res.Output)
					if res.ExitCode == 0 || strings.Contains(out, "ESCAPED") {
						t.Errorf("escaped: exit %d, output:\n%s", res.ExitCode, out)
					}
					if a.denied != "" && !strings.Contains(strings.ToLower(out), a.denied) {
						t.Errorf("the attack failed but not with %q:\n%s", a.denied, out)
					}
					if a.after != nil {
						a.after(t, e, out)
					}
				})
			}
		})
	}
}

// TestForkBomb: a real fork bomb must end within the timeout without
// harming the host, and the sandbox must work afterwards.
func TestForkBomb(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			e := newEnv(t, "ro")
			sb := b.new(t, sandbox.Options{Workspace: e.workspace, WorkspaceAccess: "ro", StateDir: e.state,
				Limits: sandbox.Limits{Pids: 32, Timeout: 10 * time.Second}})
			start := time.Now()
			res := runScript(t, sb, "bomb() { bomb | bomb & }; bomb; sleep 3", 10*time.Second)
			if took := time.Since(start); took > 25*time.Second {
				t.Errorf("the fork bomb held the sandbox for %v", took)
			}
			t.Logf("fork bomb: exit %d, signal %q, timed out %v, %v", res.ExitCode, res.Signal, res.TimedOut, res.Duration)
			if err := exec.Command("true").Run(); err != nil {
				t.Errorf("the host cannot fork after the bomb: %v", err)
			}
			if res := runScript(t, sb, "echo alive", 10*time.Second); string(res.Output) != "alive\n" {
				t.Errorf("the sandbox does not work after the bomb: %+v", res)
			}
		})
	}
}

// TestTimeoutKillsChildren: past its timeout a command is killed with
// every process it started, daemons included.
func TestTimeoutKillsChildren(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			e := newEnv(t, "rw")
			sb := b.new(t, sandbox.Options{Workspace: e.workspace, WorkspaceAccess: "rw", StateDir: e.state})
			script := "(while :; do echo x >> /workspace/child; sleep 0.1; done) & " +
				"(setsid sh -c 'while :; do echo y >> /workspace/daemon; sleep 0.1; done' &); sleep 100"
			start := time.Now()
			res := runScript(t, sb, script, time.Second)
			if !res.TimedOut || time.Since(start) > 15*time.Second {
				t.Fatalf("TimedOut %v after %v; want the 1s timeout to end it promptly", res.TimedOut, time.Since(start))
			}
			sizes := func() (int, int) {
				a, _ := os.ReadFile(filepath.Join(e.workspace, "child"))
				d, _ := os.ReadFile(filepath.Join(e.workspace, "daemon"))
				return len(a), len(d)
			}
			child, daemon := sizes()
			if child == 0 || daemon == 0 {
				t.Fatalf("markers %d, %d bytes: the writers never ran, so the test proves nothing", child, daemon)
			}
			time.Sleep(600 * time.Millisecond) // six of the writers' periods
			if c, d := sizes(); c != child || d != daemon {
				t.Errorf("processes kept writing after Run returned: child %d -> %d, daemon %d -> %d bytes", child, c, daemon, d)
			}
		})
	}
}

func runScript(t *testing.T, sb sandbox.Sandbox, script string, timeout time.Duration) *sandbox.Result {
	t.Helper()
	res, err := sb.Run(context.Background(), sandbox.Request{Argv: []string{"/bin/sh", "-c", script}, Timeout: timeout})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	must(t, err)
	must(t, os.WriteFile(dst, b, mode))
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
