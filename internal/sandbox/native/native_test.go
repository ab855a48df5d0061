//go:build linux

package native

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/sandbox"
)

// newTestSandbox builds a sandbox for a test. On a host that does not
// delegate cgroups (an unprivileged run) it waives them, as an owner
// would, so rlimits stand in; every other layer must be there.
func newTestSandbox(t *testing.T, opts sandbox.Options, adjust func(*hostInfo)) *Sandbox {
	t.Helper()
	if reason, ok := probeHost().unavailable[layerCgroups]; ok && !slices.Contains(opts.AllowWithout, layerCgroups) {
		t.Logf("cgroups waived for this test: %s", reason)
		opts.AllowWithout = append(slices.Clone(opts.AllowWithout), layerCgroups)
	}
	s, err := newSandbox(opts, settings{exe: "/proc/self/exe"}, adjust)
	if err != nil {
		t.Fatalf("newSandbox: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func sh(script string) []string { return []string{"/bin/sh", "-c", script} }

// run runs req and fails the test on an error.
func run(t *testing.T, s *Sandbox, req sandbox.Request) *sandbox.Result {
	t.Helper()
	res, err := s.Run(context.Background(), req)
	if err != nil {
		t.Fatalf("Run(%q): %v", req.Argv, err)
	}
	return res
}

func TestEchoOutputIsExact(t *testing.T) {
	s := newTestSandbox(t, sandbox.Options{}, nil)
	res := run(t, s, sandbox.Request{Argv: []string{"echo", "hello", "world"}})
	if got, want := string(res.Output), "hello world\n"; got != want || res.ExitCode != 0 || res.Truncated {
		t.Errorf("echo: output %q, exit %d, truncated %v; want %q, 0, false", got, res.ExitCode, res.Truncated, want)
	}
	res = run(t, s, sandbox.Request{Argv: sh("echo out; echo err >&2; echo out2")})
	if got, want := string(res.Output), "out\nerr\nout2\n"; got != want {
		t.Errorf("interleaved output = %q, want %q", got, want)
	}
	if res.Duration <= 0 {
		t.Errorf("Duration = %v, want > 0", res.Duration)
	}
}

func TestExitCodes(t *testing.T) {
	s := newTestSandbox(t, sandbox.Options{}, nil)
	tests := []struct {
		name string
		argv []string
		want int
		out  string
	}{
		{name: "zero", argv: []string{"true"}, want: 0},
		{name: "one", argv: []string{"false"}, want: 1},
		{name: "three", argv: sh("exit 3"), want: 3},
		{name: "killed_child", argv: sh("sleep 10 & kill -9 $!; wait $!"), want: 137},
		{name: "not_found", argv: []string{"no-such-command"}, want: 127, out: "command not found"},
		{name: "not_executable", argv: []string{"/etc/passwd"}, want: 126},
		{name: "absolute_path", argv: []string{"/usr/bin/true"}, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := run(t, s, sandbox.Request{Argv: tt.argv})
			if res.ExitCode != tt.want || !strings.Contains(string(res.Output), tt.out) {
				t.Errorf("exit %d, output %q; want exit %d, output containing %q", res.ExitCode, res.Output, tt.want, tt.out)
			}
		})
	}
}

func TestTimeoutKillsEverything(t *testing.T) {
	ws := t.TempDir()
	s := newTestSandbox(t, sandbox.Options{Workspace: ws, WorkspaceAccess: "rw"}, nil)
	tests := []struct {
		name   string
		script string
	}{
		{name: "background_child", script: "sleep 100 & sleep 100"},
		{name: "busy_loop", script: "while :; do :; done"},
		{name: "ignores_term", script: "trap '' TERM INT HUP; sleep 100"},
		{name: "double_forked_daemon", script: "(setsid sh -c 'while :; do echo x >> /workspace/daemon; sleep 0.05; done' &); sleep 100"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			res := run(t, s, sandbox.Request{Argv: sh(tt.script), Timeout: 500 * time.Millisecond})
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("Run returned after %v, want promptly after the 500ms timeout", took)
			}
			if !res.TimedOut || res.Signal != "killed" || res.ExitCode != -1 {
				t.Errorf("TimedOut %v, Signal %q, ExitCode %d; want true, killed, -1", res.TimedOut, res.Signal, res.ExitCode)
			}
		})
	}
	// The daemon wrote while it lived and must write no more.
	marker := filepath.Join(ws, "daemon")
	before, err := os.ReadFile(marker)
	if err != nil || len(before) == 0 {
		t.Fatalf("the daemon never wrote its marker (%v): the test proves nothing", err)
	}
	time.Sleep(300 * time.Millisecond) // six of the daemon's periods
	if after, _ := os.ReadFile(marker); len(after) != len(before) {
		t.Errorf("the daemon kept writing after Run returned: %d -> %d bytes", len(before), len(after))
	}
}

func TestTimeoutIsCappedByLimits(t *testing.T) {
	s := newTestSandbox(t, sandbox.Options{Limits: sandbox.Limits{Timeout: 300 * time.Millisecond}}, nil)
	res := run(t, s, sandbox.Request{Argv: []string{"sleep", "100"}, Timeout: time.Hour})
	if !res.TimedOut || res.Duration > 5*time.Second {
		t.Errorf("TimedOut %v after %v; want the 300ms limit to win over the request's hour", res.TimedOut, res.Duration)
	}
}

func TestOutputCap(t *testing.T) {
	s := newTestSandbox(t, sandbox.Options{}, nil)
	res := run(t, s, sandbox.Request{Argv: sh("yes abc | head -c 100000"), MaxOutput: 1000})
	if len(res.Output) != 1000 || !res.Truncated || res.ExitCode != 0 {
		t.Errorf("kept %d bytes, truncated %v, exit %d; want 1000, true, 0", len(res.Output), res.Truncated, res.ExitCode)
	}
	if !bytes.HasPrefix(res.Output, []byte("abc\nabc\n")) {
		t.Errorf("output starts %q, want the first bytes written", res.Output[:16])
	}
	// A command printing far more than anyone keeps is drained, not
	// blocked and not held in memory.
	res = run(t, s, sandbox.Request{Argv: sh("head -c 300000000 /dev/zero; echo done >&2")})
	if len(res.Output) != sandbox.DefaultMaxOutput || !res.Truncated || res.ExitCode != 0 {
		t.Errorf("kept %d bytes, truncated %v, exit %d; want %d, true, 0", len(res.Output), res.Truncated, res.ExitCode, sandbox.DefaultMaxOutput)
	}
}

func TestEnvironmentIsClean(t *testing.T) {
	t.Setenv("GATEHOUSE_TEST_CANARY", "canary-4f1d2c")
	s := newTestSandbox(t, sandbox.Options{}, nil)
	res := run(t, s, sandbox.Request{Argv: []string{"env"}, Env: []string{"EXTRA=1", "TERM=xterm"}})
	got := strings.Fields(string(res.Output))
	slices.Sort(got)
	want := []string{"EXTRA=1", "HOME=/tmp", "LANG=C.UTF-8", "PATH=" + sandbox.DefaultPath, "TERM=xterm"}
	if !slices.Equal(got, want) {
		t.Errorf("environment = %q, want %q", got, want)
	}
	res = run(t, s, sandbox.Request{Argv: sh("cat /proc/1/environ /proc/self/environ | tr '\\0' '\\n'")})
	if strings.Contains(string(res.Output), "canary-4f1d2c") {
		t.Errorf("the host's environment leaked into the sandbox: %q", res.Output)
	}
}

func TestStdin(t *testing.T) {
	s := newTestSandbox(t, sandbox.Options{}, nil)
	res := run(t, s, sandbox.Request{Argv: []string{"cat"}, Stdin: []byte("line one\nline two\n")})
	if got := string(res.Output); got != "line one\nline two\n" {
		t.Errorf("cat with stdin = %q", got)
	}
	res = run(t, s, sandbox.Request{Argv: []string{"cat"}, Timeout: 5 * time.Second})
	if len(res.Output) != 0 || res.ExitCode != 0 || res.TimedOut {
		t.Errorf("cat without stdin: output %q, exit %d, timed out %v; want it to read /dev/null and end", res.Output, res.ExitCode, res.TimedOut)
	}
}

func TestWorkspaceAccess(t *testing.T) {
	tests := []struct {
		access string
		script string
		want   string
	}{
		{access: "ro", script: "pwd; cat /workspace/hello; touch /workspace/new && echo wrote", want: "/workspace\nhi\n"},
		{access: "rw", script: "pwd; cat /workspace/hello; touch /workspace/new && echo wrote", want: "/workspace\nhi\nwrote\n"},
		{access: "none", script: "pwd; test -e /workspace || echo absent", want: "/tmp\nabsent\n"},
	}
	for _, tt := range tests {
		t.Run(tt.access, func(t *testing.T) {
			ws := t.TempDir()
			if err := os.WriteFile(filepath.Join(ws, "hello"), []byte("hi\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			s := newTestSandbox(t, sandbox.Options{Workspace: ws, WorkspaceAccess: tt.access}, nil)
			res := run(t, s, sandbox.Request{Argv: sh("{ " + tt.script + "; } 2>/dev/null")})
			if got := string(res.Output); got != tt.want {
				t.Errorf("output %q, want %q", got, tt.want)
			}
			_, err := os.Stat(filepath.Join(ws, "new"))
			if wrote := err == nil; wrote != (tt.access == "rw") {
				t.Errorf("file written to the host workspace: %v, want %v", wrote, tt.access == "rw")
			}
		})
	}
}

func TestWorkingDirectory(t *testing.T) {
	s := newTestSandbox(t, sandbox.Options{Workspace: t.TempDir()}, nil)
	res := run(t, s, sandbox.Request{Argv: []string{"pwd"}, Dir: "/usr/bin"})
	if got := string(res.Output); got != "/usr/bin\n" {
		t.Errorf("pwd = %q, want /usr/bin", got)
	}
	res = run(t, s, sandbox.Request{Argv: []string{"pwd"}, Dir: "/nowhere"})
	if res.ExitCode != exitCannotRun || !strings.Contains(string(res.Output), "/nowhere") {
		t.Errorf("missing dir: exit %d, output %q; want %d and a message naming it", res.ExitCode, res.Output, exitCannotRun)
	}
	if _, err := s.Run(context.Background(), sandbox.Request{Argv: []string{"pwd"}, Dir: "relative"}); err == nil {
		t.Error("a relative Dir was accepted")
	}
}

func TestIdentityAndPrivileges(t *testing.T) {
	s := newTestSandbox(t, sandbox.Options{}, nil)
	res := run(t, s, sandbox.Request{Argv: sh(`id -u; id -g; id -un; hostname; grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp):' /proc/self/status`)})
	want := "1000\n1000\nsandbox\nsandbox\n" +
		"CapInh:\t0000000000000000\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n" +
		"CapBnd:\t0000000000000000\nCapAmb:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2\n"
	if got := string(res.Output); got != want {
		t.Errorf("identity:\n%s\nwant:\n%s", got, want)
	}
}

func TestFilesystemView(t *testing.T) {
	state := t.TempDir()
	os.WriteFile(filepath.Join(state, "secret"), []byte("s3cret"), 0o600)
	s := newTestSandbox(t, sandbox.Options{StateDir: state}, nil)
	// What / and /etc hold depends on what the host has.
	root := []string{"dev", "etc", "proc", "tmp"}
	for _, d := range candidateSystemDirs {
		if _, err := os.Lstat(d); err == nil {
			root = append(root, d[1:])
		}
	}
	etc := []string{"group", "hostname", "hosts", "nsswitch.conf", "passwd"}
	for _, f := range []string{"alternatives", "ld.so.cache"} {
		if _, err := os.Stat("/etc/" + f); err == nil {
			etc = append(etc, f)
		}
	}
	slices.Sort(root)
	slices.Sort(etc)
	tests := []struct {
		name   string
		script string
		want   string
	}{
		{name: "root_listing", script: "LC_ALL=C ls /", want: strings.Join(root, "\n") + "\n"},
		{name: "etc_is_minimal", script: "LC_ALL=C ls /etc", want: strings.Join(etc, "\n") + "\n"},
		{name: "no_shadow", script: "cat /etc/shadow || echo denied", want: "denied\n"},
		{name: "no_state_dir", script: "ls " + state + " || echo denied", want: "denied\n"},
		{name: "root_read_only", script: "touch /x || echo denied", want: "denied\n"},
		{name: "usr_read_only", script: "touch /usr/x || echo denied", want: "denied\n"},
		{name: "tmp_writable", script: "echo ok > /tmp/x && cat /tmp/x", want: "ok\n"},
		{name: "dev_null_writable", script: "echo x > /dev/null && echo ok", want: "ok\n"},
		// Writes the current value back: harmless even if it got through.
		{name: "proc_sys_read_only", script: "v=$(cat /proc/sys/kernel/printk_ratelimit) && echo $v > /proc/sys/kernel/printk_ratelimit || echo denied", want: "denied\n"},
		{name: "only_loopback", script: "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '", want: "lo\n"},
		{name: "pid_one", script: "echo $$", want: "1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := run(t, s, sandbox.Request{Argv: sh("{ " + tt.script + "; } 2>/dev/null")})
			if got := string(res.Output); got != tt.want {
				t.Errorf("output %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSyscallsDenied(t *testing.T) {
	s := newTestSandbox(t, sandbox.Options{}, nil)
	tests := []struct {
		name, script string
	}{
		{name: "unshare_user", script: "unshare -U true"},
		{name: "unshare_net", script: "unshare -rn true"},
		{name: "tcp_connect_own_loopback", script: "bash -c 'echo > /dev/tcp/127.0.0.1/9'"},
		{name: "setarch", script: "setarch x86_64 -R true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := run(t, s, sandbox.Request{Argv: sh(tt.script)})
			if res.ExitCode == 0 {
				t.Errorf("%s succeeded in the sandbox: %q", tt.script, res.Output)
			}
			if !strings.Contains(strings.ToLower(string(res.Output)), "not permitted") &&
				!strings.Contains(strings.ToLower(string(res.Output)), "permission denied") {
				t.Errorf("%s failed for another reason than a denial: %q", tt.script, res.Output)
			}
		})
	}
}

func TestResourceLimits(t *testing.T) {
	limits := sandbox.Limits{MemoryBytes: 32 << 20, Pids: 16, FileSizeBytes: 1 << 20, TmpfsBytes: 4 << 20, OpenFiles: 64}
	modes := []struct {
		name   string
		adjust func(*hostInfo)
	}{
		{name: "host"},
		// Where cgroups are not delegated and the owner waived them,
		// RLIMIT_DATA and RLIMIT_NPROC must still stop the same commands.
		{name: "rlimits_only", adjust: func(h *hostInfo) {
			h.unavailable[layerCgroups] = "simulated: not delegated"
			h.cgroups = nil
		}},
	}
	tests := []struct {
		name    string
		script  string
		control string
	}{
		{name: "pids", script: "for i in $(seq 40); do sleep 5 & done; wait", control: "for i in $(seq 4); do sleep 0.1 & done; wait"},
		{name: "memory", script: `x=$(head -c 100000000 /dev/zero | tr '\0' a); echo ${#x}`, control: `x=$(head -c 1000000 /dev/zero | tr '\0' a); echo ${#x}`},
		{name: "file_size", script: "head -c 2000000 /dev/zero > /tmp/big", control: "head -c 500000 /dev/zero > /tmp/big"},
		{name: "tmpfs_size", script: "for i in 1 2 3 4 5 6; do head -c 900000 /dev/zero > /tmp/f$i || exit 1; done", control: "head -c 900000 /dev/zero > /tmp/f"},
		{name: "open_files", control: "ulimit -n | grep -qx 64"},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			s := newTestSandbox(t, sandbox.Options{Limits: limits, AllowWithout: []string{layerCgroups}}, m.adjust)
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					if res := run(t, s, sandbox.Request{Argv: sh(tt.control), Timeout: 20 * time.Second}); res.ExitCode != 0 {
						t.Fatalf("control failed: exit %d, signal %q, %q", res.ExitCode, res.Signal, res.Output)
					}
					if tt.script == "" {
						return
					}
					if tt.name == "pids" && m.adjust != nil && os.Geteuid() == 0 {
						t.Skip("the kernel exempts host root (kuid 0) from RLIMIT_NPROC: only the pids cgroup limits processes for root")
					}
					res := run(t, s, sandbox.Request{Argv: sh(tt.script), Timeout: 20 * time.Second})
					if res.ExitCode == 0 || res.TimedOut {
						t.Errorf("past the limit: exit %d, signal %q, timed out %v, %q; want it stopped by the limit",
							res.ExitCode, res.Signal, res.TimedOut, res.Output)
					}
				})
			}
		})
	}
}

func TestLayersReport(t *testing.T) {
	s := newTestSandbox(t, sandbox.Options{Workspace: t.TempDir()}, nil)
	layers := s.Layers(context.Background())
	var names []string
	for _, l := range layers {
		names = append(names, l.Name)
		if l.Detail == "" {
			t.Errorf("layer %s has no detail", l.Name)
		}
		want := sandbox.LayerOn
		if l.Name == layerCgroups && slices.Contains(s.opts.AllowWithout, layerCgroups) {
			want = sandbox.LayerWaived
		}
		if l.State != want {
			t.Errorf("layer %s is %s (%s), want %s on this host", l.Name, l.State, l.Detail, want)
		}
		t.Logf("%-13s %-7s %s", l.Name, l.State, l.Detail)
	}
	if !slices.Equal(names, layerOrder) {
		t.Errorf("layers %q, want %q", names, layerOrder)
	}
	if d := layers[slices.Index(names, layerLandlock)].Detail; !strings.Contains(d, "Landlock ABI") || !strings.Contains(d, "/workspace(ro)") {
		t.Errorf("landlock detail %q does not say the ABI and the workspace rule", d)
	}
}

func TestLayerErrors(t *testing.T) {
	// Every layer the init applies reports its own failure, by name.
	for _, layer := range layerOrder {
		t.Run(layer, func(t *testing.T) {
			s := newTestSandbox(t, sandbox.Options{}, nil)
			s.testFailLayer = layer
			res, err := s.Run(context.Background(), sandbox.Request{Argv: []string{"echo", "ran"}})
			var le *sandbox.LayerError
			if !errors.As(err, &le) || le.Layer != layer {
				t.Fatalf("Run = %v, %v; want a *sandbox.LayerError for %s", res, err, layer)
			}
			if !strings.Contains(err.Error(), "allowWithout") {
				t.Errorf("error %q does not say what the owner can do", err)
			}
		})
	}
}

func TestMissingLayers(t *testing.T) {
	missing := func(layers ...string) func(*hostInfo) {
		return func(h *hostInfo) {
			for _, l := range layers {
				h.unavailable[l] = "simulated: not on this host"
			}
		}
	}
	tests := []struct {
		name      string
		missing   []string
		allow     []string
		wantErr   string // layer of the LayerError; "" means it runs
		wantState string
	}{
		{name: "seccomp_missing", missing: []string{layerSeccomp}, wantErr: layerSeccomp, wantState: sandbox.LayerMissing},
		{name: "seccomp_waived", missing: []string{layerSeccomp}, allow: []string{layerSeccomp}, wantState: sandbox.LayerWaived},
		{name: "landlock_waived", missing: []string{layerLandlock, layerLandlockNet}, allow: []string{layerLandlock, layerLandlockNet}, wantState: sandbox.LayerWaived},
		{name: "landlock_net_missing", missing: []string{layerLandlockNet}, wantErr: layerLandlockNet, wantState: sandbox.LayerMissing},
		{name: "cgroupns_waived", missing: []string{layerCgroupns}, allow: []string{layerCgroupns}, wantState: sandbox.LayerWaived},
		// Host root needs cgroups (RLIMIT_NPROC does not bind kuid 0); for
		// any other gateway rlimits stand in.
		cgroupsCase(),
		{name: "userns_missing", missing: []string{layerUserns}, wantErr: layerUserns, wantState: sandbox.LayerMissing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := newSandbox(sandbox.Options{AllowWithout: tt.allow}, settings{exe: "/proc/self/exe"}, func(h *hostInfo) {
				missing(tt.missing...)(h)
				if _, ok := h.unavailable[layerCgroups]; ok && !slices.Contains(tt.missing, layerCgroups) && !slices.Contains(tt.allow, layerCgroups) {
					delete(h.unavailable, layerCgroups) // keep the unprivileged run about the layer under test
					h.cgroups = nil
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			res, err := s.Run(context.Background(), sandbox.Request{Argv: sh("grep Seccomp: /proc/self/status")})
			var le *sandbox.LayerError
			switch {
			case tt.wantErr != "" && (!errors.As(err, &le) || le.Layer != tt.wantErr):
				t.Errorf("Run = %v, %v; want a LayerError for %s", res, err, tt.wantErr)
			case tt.wantErr == "" && err != nil:
				t.Errorf("Run with the layer waived: %v", err)
			}
			for _, l := range s.Layers(context.Background()) {
				if slices.Contains(tt.missing, l.Name) && (l.State != tt.wantState || !strings.Contains(l.Detail, "simulated")) {
					t.Errorf("layer %s: %s (%s), want %s with the reason", l.Name, l.State, l.Detail, tt.wantState)
				}
			}
			if tt.name == "seccomp_waived" && (res == nil || !strings.Contains(string(res.Output), "Seccomp:\t0")) {
				t.Errorf("with seccomp waived the command should run unfiltered: %v", res)
			}
		})
	}
}

func TestNewRefuses(t *testing.T) {
	state := t.TempDir()
	inside := filepath.Join(state, "workspace")
	os.Mkdir(inside, 0o700)
	tests := []struct {
		name string
		opts sandbox.Options
	}{
		{name: "workspace_is_state_dir", opts: sandbox.Options{Workspace: state, StateDir: state}},
		{name: "workspace_above_state_dir", opts: sandbox.Options{Workspace: filepath.Dir(state), StateDir: state}},
		{name: "state_dir_under_usr", opts: sandbox.Options{StateDir: "/usr/share/gatehouse-state"}},
		{name: "bad_access", opts: sandbox.Options{Workspace: state, WorkspaceAccess: "write"}},
		{name: "unwaivable_layer", opts: sandbox.Options{AllowWithout: []string{"userns"}}},
		{name: "missing_workspace", opts: sandbox.Options{Workspace: filepath.Join(state, "nope")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if s, err := New(tt.opts); err == nil {
				t.Errorf("New accepted %+v: %v", tt.opts, s)
			}
		})
	}
	// A workspace inside the state directory is the usual layout and fine.
	if _, err := New(sandbox.Options{Workspace: inside, StateDir: state}); err != nil {
		t.Errorf("workspace inside the state dir: %v", err)
	}
}

func TestExplain(t *testing.T) {
	ws := t.TempDir()
	s := newTestSandbox(t, sandbox.Options{Workspace: ws, WorkspaceAccess: "rw"}, nil)
	e := s.Explain(context.Background(), "session:x")
	if e.Backend != "native" || e.Scope != "session:x" || e.Network != "none (own loopback only)" || len(e.Layers) != len(layerOrder) {
		t.Errorf("Explain = %+v", e)
	}
	i := slices.IndexFunc(e.Mounts, func(m sandbox.Mount) bool { return m.Target == sandbox.WorkspaceMount })
	if i < 0 || e.Mounts[i].Mode != "rw" || e.Mounts[i].Source == "" {
		t.Errorf("mounts %+v lack /workspace rw from %s", e.Mounts, ws)
	}
	if !strings.Contains(e.User, "no capabilities") {
		t.Errorf("user %q", e.User)
	}
}

func TestConcurrentRuns(t *testing.T) {
	s := newTestSandbox(t, sandbox.Options{}, nil)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			res, err := s.Run(context.Background(), sandbox.Request{Argv: []string{"echo", fmt.Sprint(i)}})
			if err != nil || string(res.Output) != fmt.Sprintf("%d\n", i) {
				t.Errorf("run %d: %v, %v", i, res, err)
			}
		})
	}
	wg.Wait()
}

func TestContextCancel(t *testing.T) {
	s := newTestSandbox(t, sandbox.Options{}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := s.Run(ctx, sandbox.Request{Argv: []string{"sleep", "100"}})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Errorf("Run = %v after %v; want the context's error promptly", err, time.Since(start))
	}
}

func TestClose(t *testing.T) {
	s := newTestSandbox(t, sandbox.Options{}, nil)
	s.Close()
	if _, err := s.Run(context.Background(), sandbox.Request{Argv: []string{"true"}}); !errors.Is(err, ErrClosed) {
		t.Errorf("Run after Close = %v, want ErrClosed", err)
	}
	if n, err := s.Prune(context.Background(), 0); n != 0 || err != nil {
		t.Errorf("Prune = %d, %v", n, err)
	}
}

func TestBadRequests(t *testing.T) {
	s := newTestSandbox(t, sandbox.Options{}, nil)
	for _, req := range []sandbox.Request{
		{},
		{Argv: []string{""}},
		{Argv: []string{"true"}, Env: []string{"NOEQUALS"}},
		{Argv: []string{"true"}, Env: []string{"=x"}},
	} {
		if _, err := s.Run(context.Background(), req); err == nil {
			t.Errorf("Run(%+v) accepted", req)
		}
	}
}

// missingCase is one row of TestMissingLayers.
type missingCase = struct {
	name      string
	missing   []string
	allow     []string
	wantErr   string
	wantState string
}

// cgroupsCase is the cgroups row of TestMissingLayers for this host user.
func cgroupsCase() missingCase {
	if os.Geteuid() == 0 {
		return missingCase{name: "cgroups_missing_root", missing: []string{layerCgroups}, wantErr: layerCgroups, wantState: sandbox.LayerMissing}
	}
	return missingCase{name: "cgroups_missing_unprivileged", missing: []string{layerCgroups}, wantState: sandbox.LayerWaived}
}
