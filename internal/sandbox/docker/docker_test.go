//go:build !gatehouse_omit_docker

package docker_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"gatehouse/internal/sandbox"
	"gatehouse/internal/sandbox/docker"
	"gatehouse/internal/sandbox/docker/dockertest"
)

// engine is a client of the engine sb uses, to check what sb did.
func engine(t *testing.T, sb *docker.Sandbox) *client.Client {
	t.Helper()
	_, _, host := sb.Engine()
	cli, err := client.New(client.WithHost(host))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

func inspect(t *testing.T, cli *client.Client, id string) container.InspectResponse {
	t.Helper()
	res, err := cli.ContainerInspect(context.Background(), id, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatalf("inspect %.12s: %v", id, err)
	}
	return res.Container
}

func exists(t *testing.T, cli *client.Client, id string) bool {
	t.Helper()
	_, err := cli.ContainerInspect(context.Background(), id, client.ContainerInspectOptions{})
	return err == nil
}

func run(t *testing.T, sb *docker.Sandbox, req sandbox.Request) *sandbox.Result {
	t.Helper()
	if req.Scope == "" {
		req.Scope = "test"
	}
	res, err := sb.Run(context.Background(), req)
	if err != nil {
		t.Fatalf("Run(%q): %v", req.Argv, err)
	}
	return res
}

func sh(script string) []string { return []string{"/bin/sh", "-c", script} }

func TestHostConfigHardening(t *testing.T) {
	opts := dockertest.Options(t, "ro")
	sb := dockertest.New(t, opts)
	run(t, sb, sandbox.Request{Argv: []string{"true"}})
	id := sb.ContainerID("test")
	if id == "" {
		t.Fatal("no container after Run")
	}
	c := inspect(t, engine(t, sb), id)
	hc := c.HostConfig
	lim := opts.Limits

	if got := string(hc.NetworkMode); got != "none" {
		t.Errorf("NetworkMode = %q, want none", got)
	}
	if !hc.ReadonlyRootfs {
		t.Error("ReadonlyRootfs = false, want true")
	}
	// Docker reports ALL; Podman expands it to the capabilities it would
	// otherwise have granted.
	if !dropsAll(hc.CapDrop) {
		t.Errorf("CapDrop = %q, want ALL", hc.CapDrop)
	}
	if len(hc.CapAdd) != 0 {
		t.Errorf("CapAdd = %q, want none", hc.CapAdd)
	}
	if !slices.ContainsFunc(hc.SecurityOpt, func(o string) bool { return strings.HasPrefix(o, "no-new-privileges") }) {
		t.Errorf("SecurityOpt = %q, want no-new-privileges", hc.SecurityOpt)
	}
	if !slices.ContainsFunc(hc.SecurityOpt, func(o string) bool { return strings.HasPrefix(o, "seccomp=") && o != "seccomp=unconfined" }) {
		t.Errorf("SecurityOpt = %.200q, want gatehouse's seccomp profile", hc.SecurityOpt)
	}
	if hc.Privileged {
		t.Error("Privileged = true")
	}
	if got := c.Config.User; got != docker.DefaultUser {
		t.Errorf("User = %q, want %q", got, docker.DefaultUser)
	}
	if hc.PidsLimit == nil || *hc.PidsLimit != int64(lim.Pids) {
		t.Errorf("PidsLimit = %v, want %d", hc.PidsLimit, lim.Pids)
	}
	if hc.Memory != lim.MemoryBytes {
		t.Errorf("Memory = %d, want %d", hc.Memory, lim.MemoryBytes)
	}
	if hc.MemorySwap != lim.MemoryBytes {
		t.Errorf("MemorySwap = %d, want %d (no swap)", hc.MemorySwap, lim.MemoryBytes)
	}
	if want := int64(lim.CPUs * 1e9); hc.NanoCPUs != want {
		t.Errorf("NanoCPUs = %d, want %d", hc.NanoCPUs, want)
	}
	for _, m := range []string{string(hc.PidMode), string(hc.IpcMode), string(hc.UTSMode), string(hc.UsernsMode)} {
		if m == "host" {
			t.Errorf("a host namespace: pid %q ipc %q uts %q userns %q", hc.PidMode, hc.IpcMode, hc.UTSMode, hc.UsernsMode)
		}
	}
	if tmp, ok := hc.Tmpfs["/tmp"]; !ok || !strings.Contains(tmp, "nosuid") || !strings.Contains(tmp, "nodev") {
		t.Errorf("Tmpfs = %q, want /tmp nosuid,nodev", hc.Tmpfs)
	}

	var ws *container.MountPoint
	for i, m := range c.Mounts {
		if m.Destination == sandbox.WorkspaceMount {
			ws = &c.Mounts[i]
		}
	}
	if ws == nil {
		t.Fatalf("no mount at /workspace in %+v", c.Mounts)
	}
	if want, _ := filepath.EvalSymlinks(opts.Workspace); ws.Source != want || ws.RW {
		t.Errorf("workspace mount = %s rw=%v, want %s read-only", ws.Source, ws.RW, want)
	}
	for _, m := range c.Mounts {
		if strings.HasSuffix(m.Source, ".sock") {
			t.Errorf("a socket is mounted: %+v", m)
		}
	}
	if c.Config.Labels[docker.LabelSandbox] != "1" || c.Config.Labels[docker.LabelScope] != docker.ScopeHash("test") {
		t.Errorf("labels = %v", c.Config.Labels)
	}

	// What the command sees agrees.
	res := run(t, sb, sandbox.Request{Argv: sh(`id -u; id -g; grep -E '^(CapEff|CapPrm|CapBnd|CapAmb|NoNewPrivs)' /proc/self/status; ulimit -n; cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '`)})
	want := "65534\n65534\nNoNewPrivs:\t1\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n" +
		"CapBnd:\t0000000000000000\nCapAmb:\t0000000000000000\n256\nlo\n"
	if got := normaliseStatus(string(res.Output)); got != normaliseStatus(want) {
		t.Errorf("inside the container:\n%s\nwant:\n%s", got, want)
	}
}

// dockerDefaultCaps are the capabilities Docker grants by default.
var dockerDefaultCaps = []string{"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
	"NET_BIND_SERVICE", "NET_RAW", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}

func dropsAll(drop []string) bool {
	var names []string
	for _, c := range drop {
		c = strings.TrimPrefix(strings.ToUpper(c), "CAP_")
		if c == "ALL" {
			return true
		}
		names = append(names, c)
	}
	for _, c := range dockerDefaultCaps {
		if !slices.Contains(names, c) {
			return false
		}
	}
	return true
}

// normaliseStatus sorts lines, since /proc/self/status order varies.
func normaliseStatus(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

func TestRunOutputAndExitCode(t *testing.T) {
	sb := dockertest.New(t, dockertest.Options(t, "ro"))
	tests := []struct {
		name     string
		req      sandbox.Request
		wantOut  string
		wantCode int
	}{
		{"echo", sandbox.Request{Argv: []string{"echo", "hello world"}}, "hello world\n", 0},
		{"stderr", sandbox.Request{Argv: sh("echo err >&2")}, "err\n", 0},
		{"exit_code", sandbox.Request{Argv: sh("echo bye; exit 42")}, "bye\n", 42},
		{"false", sandbox.Request{Argv: []string{"false"}}, "", 1},
		{"stdin", sandbox.Request{Argv: []string{"cat"}, Stdin: []byte("from stdin\n")}, "from stdin\n", 0},
		{"stdin_unread", sandbox.Request{Argv: sh("exit 3"), Stdin: []byte("ignored\n")}, "", 3},
		{"no_stdin_is_empty", sandbox.Request{Argv: sh("cat; echo end")}, "end\n", 0},
		{"dir", sandbox.Request{Argv: []string{"pwd"}, Dir: "/tmp"}, "/tmp\n", 0},
		{"default_dir_is_workspace", sandbox.Request{Argv: []string{"pwd"}}, "/workspace\n", 0},
		{"request_env", sandbox.Request{Argv: sh(`echo "$FOO"`), Env: []string{"FOO=bar baz"}}, "bar baz\n", 0},
		{"binary_output", sandbox.Request{Argv: sh(`printf 'a\000b\377'`)}, "a\x00b\xff", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := run(t, sb, tt.req)
			if string(res.Output) != tt.wantOut || res.ExitCode != tt.wantCode {
				t.Errorf("got %q exit %d, want %q exit %d", res.Output, res.ExitCode, tt.wantOut, tt.wantCode)
			}
			if res.TimedOut || res.Truncated {
				t.Errorf("TimedOut %v Truncated %v, want neither", res.TimedOut, res.Truncated)
			}
		})
	}
}

func TestRunCommandNotFound(t *testing.T) {
	sb := dockertest.New(t, dockertest.Options(t, "ro"))
	res := run(t, sb, sandbox.Request{Argv: []string{"no-such-command"}})
	if res.ExitCode != 127 && res.ExitCode != 126 {
		t.Errorf("exit %d (%q), want 127 or 126", res.ExitCode, res.Output)
	}
	// The sandbox still works after it.
	if res := run(t, sb, sandbox.Request{Argv: []string{"echo", "ok"}}); string(res.Output) != "ok\n" {
		t.Errorf("after a failed exec: %q", res.Output)
	}
}

func TestRunEnvClean(t *testing.T) {
	t.Setenv("GATEHOUSE_HOST_SECRET", "must-not-leak")
	sb := dockertest.New(t, dockertest.Options(t, "ro"))
	res := run(t, sb, sandbox.Request{Argv: []string{"env"}, Env: []string{"EXTRA=1"}})
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(res.Output)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		got[k] = v
	}
	want := map[string]string{
		"PATH": sandbox.DefaultPath, "HOME": "/tmp", "LANG": "C.UTF-8", "TERM": "dumb", "EXTRA": "1",
	}
	// The engine's own: the container's hostname, and Podman's marker.
	engineVars := map[string]bool{"HOSTNAME": true, "container": true}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s=%q, want %q", k, got[k], v)
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok && !engineVars[k] {
			t.Errorf("unexpected %s=%q in the sandbox", k, v)
		}
		if strings.Contains(v, "must-not-leak") {
			t.Errorf("host environment leaked: %s=%q", k, v)
		}
	}
}

func TestRunReusesContainerPerScope(t *testing.T) {
	sb := dockertest.New(t, dockertest.Options(t, "ro"))
	run(t, sb, sandbox.Request{Scope: "a", Argv: sh("echo kept > /tmp/state")})
	idA := sb.ContainerID("a")
	res := run(t, sb, sandbox.Request{Scope: "a", Argv: sh("cat /tmp/state")})
	if got := sb.ContainerID("a"); got != idA {
		t.Errorf("second Run of scope a in container %.12s, want %.12s", got, idA)
	}
	if string(res.Output) != "kept\n" {
		t.Errorf("second Run saw /tmp/state %q, want kept", res.Output)
	}
	res = run(t, sb, sandbox.Request{Scope: "b", Argv: sh("cat /tmp/state 2>&1; true")})
	if idB := sb.ContainerID("b"); idB == "" || idB == idA {
		t.Errorf("scope b container %.12s, want one other than a's %.12s", idB, idA)
	}
	if strings.Contains(string(res.Output), "kept") {
		t.Error("scope b sees scope a's /tmp")
	}

	// A new Sandbox (a gateway restart) adopts the running container.
	sb2 := dockertest.New(t, sb.Options())
	run(t, sb2, sandbox.Request{Scope: "a", Argv: []string{"true"}})
	if got := sb2.ContainerID("a"); got != idA {
		t.Errorf("after restart scope a runs in %.12s, want the existing %.12s", got, idA)
	}
}

func TestWorkspaceAccess(t *testing.T) {
	t.Run("ro", func(t *testing.T) {
		opts := dockertest.Options(t, "ro")
		os.WriteFile(filepath.Join(opts.Workspace, "in.txt"), []byte("host file\n"), 0o644)
		sb := dockertest.New(t, opts)
		res := run(t, sb, sandbox.Request{Argv: sh("cat in.txt; echo x > /workspace/out.txt")})
		if res.ExitCode == 0 || !strings.HasPrefix(string(res.Output), "host file\n") {
			t.Errorf("write to ro workspace: exit %d %q, want the read to work and the write to fail", res.ExitCode, res.Output)
		}
		if _, err := os.Stat(filepath.Join(opts.Workspace, "out.txt")); err == nil {
			t.Error("out.txt appeared in a read-only workspace")
		}
	})
	t.Run("rw", func(t *testing.T) {
		opts := dockertest.Options(t, "rw")
		os.Chmod(opts.Workspace, 0o777) // the sandbox user is not the owner
		sb := dockertest.New(t, opts)
		res := run(t, sb, sandbox.Request{Argv: sh("echo from sandbox > /workspace/out.txt")})
		if res.ExitCode != 0 {
			t.Fatalf("write to rw workspace: exit %d %q", res.ExitCode, res.Output)
		}
		got, err := os.ReadFile(filepath.Join(opts.Workspace, "out.txt"))
		if err != nil || string(got) != "from sandbox\n" {
			t.Errorf("host sees %q, %v, want %q", got, err, "from sandbox\n")
		}
	})
	t.Run("none", func(t *testing.T) {
		opts := dockertest.Options(t, "none")
		os.WriteFile(filepath.Join(opts.Workspace, "secret.txt"), []byte("x"), 0o644)
		sb := dockertest.New(t, opts)
		res := run(t, sb, sandbox.Request{Argv: sh("pwd; ls -A /workspace 2>/dev/null")})
		if string(res.Output) != "/tmp\n" {
			t.Errorf("workspace none: %q, want cwd /tmp and an empty /workspace", res.Output)
		}
	})
}

func TestContainment(t *testing.T) {
	sb := dockertest.New(t, dockertest.Options(t, "ro"))
	tests := []struct {
		name   string
		script string
		wantOK bool
	}{
		{"write_etc", "echo x > /etc/x", false},
		{"write_root", "echo x > /x", false},
		{"write_tmp", "echo x > /tmp/x && cat /tmp/x", true},
		{"exec_from_tmp", "cp /bin/busybox /tmp/true && /tmp/true", true},
		{"chown", "touch /tmp/y && chown 0:0 /tmp/y", false},
		{"mount", "mount -t tmpfs none /tmp", false},
		{"has_route", "test $(wc -l < /proc/net/route) -gt 1", false},
		{"write_var_tmp", "echo x > /var/tmp/x", false},
		{"see_cgroups", "ls /sys/fs/cgroup | grep -q .", false},
		{"unshare_user", "unshare -U true", false},
		{"unshare_net", "unshare -n true", false},
		{"fork_and_wait", "sleep 0 & wait", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := run(t, sb, sandbox.Request{Argv: sh(tt.script)})
			if got := res.ExitCode == 0; got != tt.wantOK {
				t.Errorf("%s: exit %d %q, want success %v", tt.script, res.ExitCode, res.Output, tt.wantOK)
			}
		})
	}
}

// markerGrowth reports whether file grows within d: something still writes it.
func markerGrowth(t *testing.T, file string, d time.Duration) bool {
	t.Helper()
	before, _ := os.ReadFile(file)
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		after, _ := os.ReadFile(file)
		if len(after) != len(before) {
			return true
		}
	}
	return false
}

func TestTimeoutKillsEverything(t *testing.T) {
	opts := dockertest.Options(t, "rw")
	os.Chmod(opts.Workspace, 0o777)
	sb := dockertest.New(t, opts)
	marker := filepath.Join(opts.Workspace, "marker")
	// A foreground writer, a background one, and one escaped into its own
	// session: all must be dead when Run returns.
	script := `
		w() { while :; do echo $1 >> /workspace/marker; sleep 0.1; done; }
		w bg &
		setsid sh -c 'while :; do echo setsid >> /workspace/marker; sleep 0.1; done' &
		w fg`
	start := time.Now()
	res := run(t, sb, sandbox.Request{Argv: sh(script), Timeout: 1500 * time.Millisecond})
	if !res.TimedOut || res.ExitCode != -1 || res.Signal != "killed" {
		t.Errorf("got TimedOut %v exit %d signal %q, want a timeout kill", res.TimedOut, res.ExitCode, res.Signal)
	}
	if el := time.Since(start); el < 1500*time.Millisecond || el > 30*time.Second {
		t.Errorf("Run took %v with a 1.5s timeout", el)
	}
	got, _ := os.ReadFile(marker)
	for _, w := range []string{"fg", "bg", "setsid"} {
		if !strings.Contains(string(got), w+"\n") {
			t.Errorf("writer %s never ran: %q", w, got)
		}
	}
	if markerGrowth(t, marker, 700*time.Millisecond) {
		t.Error("the marker still grows after Run returned: a process survived the timeout")
	}
	if id := sb.ContainerID("test"); id != "" {
		t.Errorf("container %.12s still recorded after a timeout", id)
	}
	// The scope's next command gets a fresh container.
	res = run(t, sb, sandbox.Request{Argv: []string{"echo", "again"}})
	if string(res.Output) != "again\n" {
		t.Errorf("after a timeout: %q", res.Output)
	}
}

func TestRunLeavesNothingBehind(t *testing.T) {
	opts := dockertest.Options(t, "rw")
	os.Chmod(opts.Workspace, 0o777)
	sb := dockertest.New(t, opts)
	marker := filepath.Join(opts.Workspace, "marker")
	res := run(t, sb, sandbox.Request{Argv: sh(`
		setsid sh -c 'while :; do echo x >> /workspace/marker; sleep 0.1; done' >/dev/null 2>&1 &
		sleep 0.3; echo started`)})
	if string(res.Output) != "started\n" || res.ExitCode != 0 {
		t.Fatalf("got %q exit %d", res.Output, res.ExitCode)
	}
	if markerGrowth(t, marker, 700*time.Millisecond) {
		t.Error("a background process outlived its Run")
	}
	// The container itself stays for the next command.
	id := sb.ContainerID("test")
	run(t, sb, sandbox.Request{Argv: []string{"true"}})
	if got := sb.ContainerID("test"); got != id || id == "" {
		t.Errorf("container %.12s after reaping, want the same %.12s", got, id)
	}
}

func TestRunContextCancelKills(t *testing.T) {
	opts := dockertest.Options(t, "rw")
	os.Chmod(opts.Workspace, 0o777)
	sb := dockertest.New(t, opts)
	run(t, sb, sandbox.Request{Argv: []string{"true"}}) // create the container first
	ctx, cancel := context.WithCancel(context.Background())
	marker := filepath.Join(opts.Workspace, "marker")
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			if b, _ := os.ReadFile(marker); len(b) > 0 {
				cancel()
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	_, err := sb.Run(ctx, sandbox.Request{Scope: "test", Argv: sh(`while :; do echo x >> /workspace/marker; sleep 0.1; done`)})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Run after cancel: %v, want context.Canceled", err)
	}
	if markerGrowth(t, marker, 700*time.Millisecond) {
		t.Error("the command outlived its cancelled Run")
	}
}

func TestOutputCap(t *testing.T) {
	sb := dockertest.New(t, dockertest.Options(t, "ro"))
	tests := []struct {
		name      string
		max       int
		script    string
		wantLen   int
		wantTrunc bool
	}{
		{"under", 100, "printf '%050d' 0", 50, false},
		{"exact", 100, "printf '%0100d' 0", 100, false},
		{"over", 100, "printf '%0101d' 0", 100, true},
		// The rest is drained: the writer is not blocked, and exits 0.
		{"drained", 1000, "head -c 5000000 /dev/zero; echo done >&2", 1000, true},
		{"default", 0, "head -c 100000 /dev/zero", sandbox.DefaultMaxOutput, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := run(t, sb, sandbox.Request{Argv: sh(tt.script), MaxOutput: tt.max})
			if len(res.Output) != tt.wantLen || res.Truncated != tt.wantTrunc || res.ExitCode != 0 {
				t.Errorf("got %d bytes truncated %v exit %d, want %d truncated %v exit 0", len(res.Output), res.Truncated, res.ExitCode, tt.wantLen, tt.wantTrunc)
			}
		})
	}
}

func TestSettingsChangeRecreates(t *testing.T) {
	opts := dockertest.Options(t, "ro")
	sb := dockertest.New(t, opts)
	cli := engine(t, sb)
	run(t, sb, sandbox.Request{Argv: []string{"true"}})
	old := sb.ContainerID("test")

	opts.Limits.Pids = 64
	sb2 := dockertest.New(t, opts)
	run(t, sb2, sandbox.Request{Argv: []string{"true"}})
	id := sb2.ContainerID("test")
	if id == "" || id == old {
		t.Fatalf("container after a limits change %.12s, want a new one (old %.12s)", id, old)
	}
	if exists(t, cli, old) {
		t.Errorf("old container %.12s still exists", old)
	}
	if c := inspect(t, cli, id); c.HostConfig.PidsLimit == nil || *c.HostConfig.PidsLimit != 64 {
		t.Errorf("PidsLimit = %v, want 64", c.HostConfig.PidsLimit)
	}

	// Same settings again: reused.
	sb3 := dockertest.New(t, opts)
	run(t, sb3, sandbox.Request{Argv: []string{"true"}})
	if got := sb3.ContainerID("test"); got != id {
		t.Errorf("unchanged settings: container %.12s, want %.12s reused", got, id)
	}
}

func TestContainerGoneIsRecreated(t *testing.T) {
	sb := dockertest.New(t, dockertest.Options(t, "ro"))
	cli := engine(t, sb)
	run(t, sb, sandbox.Request{Argv: []string{"true"}})
	old := sb.ContainerID("test")
	if _, err := cli.ContainerRemove(context.Background(), old, client.ContainerRemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	res := run(t, sb, sandbox.Request{Argv: []string{"echo", "back"}})
	if string(res.Output) != "back\n" {
		t.Errorf("after the container was removed: %q exit %d", res.Output, res.ExitCode)
	}
	if id := sb.ContainerID("test"); id == old || id == "" {
		t.Errorf("container %.12s, want a new one", id)
	}
}

func TestConcurrentRunsInOneScope(t *testing.T) {
	sb := dockertest.New(t, dockertest.Options(t, "ro"))
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for i := range 8 {
		wg.Go(func() {
			want := strings.Repeat("x", i+1)
			res, err := sb.Run(context.Background(), sandbox.Request{Scope: "shared", Argv: []string{"echo", want}})
			switch {
			case err != nil:
				errs <- err.Error()
			case string(res.Output) != want+"\n" || res.ExitCode != 0:
				errs <- "got " + string(res.Output)
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestPrune(t *testing.T) {
	sb := dockertest.New(t, dockertest.Options(t, "ro"))
	cli := engine(t, sb)
	run(t, sb, sandbox.Request{Scope: "idle", Argv: []string{"true"}})
	idle := sb.ContainerID("idle")
	ctx := context.Background()

	if n, err := sb.Prune(ctx, time.Hour); err != nil || n != 0 {
		t.Errorf("Prune(1h) right after use = %d, %v, want 0", n, err)
	}
	if !exists(t, cli, idle) {
		t.Fatal("Prune(1h) removed a container just used")
	}
	time.Sleep(300 * time.Millisecond)
	run(t, sb, sandbox.Request{Scope: "busy", Argv: []string{"true"}})
	busy := sb.ContainerID("busy")
	n, err := sb.Prune(ctx, 250*time.Millisecond)
	if err != nil || n != 1 {
		t.Errorf("Prune(250ms) = %d, %v, want 1", n, err)
	}
	if exists(t, cli, idle) || !exists(t, cli, busy) {
		t.Errorf("after Prune: idle exists %v (want false), busy exists %v (want true)", exists(t, cli, idle), exists(t, cli, busy))
	}
	// The pruned scope comes back on use.
	if res := run(t, sb, sandbox.Request{Scope: "idle", Argv: []string{"echo", "ok"}}); string(res.Output) != "ok\n" {
		t.Errorf("after prune: %q", res.Output)
	}

	// Another gateway's Prune (a restart) sees the containers as idle since
	// they were created, and leaves another instance's alone.
	other := dockertest.New(t, dockertest.Options(t, "ro"))
	if n, err := other.Prune(ctx, 0); err != nil || n != 0 {
		t.Errorf("another instance's Prune = %d, %v, want 0", n, err)
	}
	restarted := dockertest.New(t, sb.Options())
	if n, err := restarted.Prune(ctx, 0); err != nil || n != 2 {
		t.Errorf("Prune(0) after restart = %d, %v, want 2", n, err)
	}
}

func TestNewUnavailable(t *testing.T) {
	opts := dockertest.Options(t, "ro")
	opts.Docker.Host = "unix://" + filepath.Join(t.TempDir(), "nothing.sock")
	_, err := docker.New(context.Background(), opts)
	if !errors.Is(err, sandbox.ErrUnavailable) {
		t.Fatalf("New with no engine: %v, want ErrUnavailable", err)
	}
	for _, want := range []string{opts.Docker.Host, "no such socket", "podman system service"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestNewRefusesRemoteHosts(t *testing.T) {
	for _, host := range []string{"tcp://192.0.2.1:2375", "ssh://user@example.com", "tcp://example.com:2376"} {
		t.Run(host, func(t *testing.T) {
			opts := dockertest.Options(t, "ro")
			opts.Docker.Host = host
			_, err := docker.New(context.Background(), opts)
			if !errors.Is(err, sandbox.ErrUnavailable) {
				t.Errorf("New(%s) = %v, want ErrUnavailable", host, err)
			}
		})
	}
}

func TestNewRefusesBadSettings(t *testing.T) {
	home, _ := os.UserHomeDir()
	tests := []struct {
		name   string
		change func(o *sandbox.Options)
	}{
		{"user_root", func(o *sandbox.Options) { o.Docker.User = "root" }},
		{"user_0", func(o *sandbox.Options) { o.Docker.User = "0" }},
		{"user_0_gid", func(o *sandbox.Options) { o.Docker.User = "0:1000" }},
		{"gid_0", func(o *sandbox.Options) { o.Docker.User = "1000:0" }},
		{"user_name", func(o *sandbox.Options) { o.Docker.User = "nobody" }},
		{"network_host", func(o *sandbox.Options) { o.Docker.Network = "host" }},
		{"bind_etc", func(o *sandbox.Options) { o.Docker.Binds = []string{"/etc:/etc2"} }},
		{"bind_state_dir", func(o *sandbox.Options) { o.Docker.Binds = []string{o.StateDir + ":/state"} }},
		{"bind_mode", func(o *sandbox.Options) { o.Docker.Binds = []string{o.Workspace + ":/x:shared"} }},
		{"bind_over_workspace", func(o *sandbox.Options) { o.Docker.Binds = []string{o.Workspace + ":/workspace"} }},
		{"bind_ssh", func(o *sandbox.Options) { o.Docker.Binds = []string{filepath.Join(home, ".ssh") + ":/x"} }},
		{"workspace_root", func(o *sandbox.Options) { o.Workspace = "/" }},
		{"workspace_access", func(o *sandbox.Options) { o.WorkspaceAccess = "write" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := dockertest.Options(t, "ro")
			tt.change(&opts)
			opts.Docker.Host = "unix:///nonexistent.sock" // settings are checked first
			_, err := docker.New(context.Background(), opts)
			if err == nil || errors.Is(err, sandbox.ErrUnavailable) {
				t.Errorf("New = %v, want a settings error", err)
			}
		})
	}
}

func TestNewRefusesEngineSocketInBind(t *testing.T) {
	sb := dockertest.New(t, dockertest.Options(t, "ro"))
	_, _, host := sb.Engine()
	sock := strings.TrimPrefix(host, "unix://")
	if sock == host {
		t.Skip("engine is not on a unix socket")
	}
	opts := dockertest.Options(t, "ro")
	opts.Workspace = filepath.Dir(sock)
	opts.Docker.Host = host
	if _, err := docker.New(context.Background(), opts); !errors.Is(err, docker.ErrSensitiveBind) {
		t.Errorf("workspace holding the engine socket: %v, want ErrSensitiveBind", err)
	}
}

func TestExtraBinds(t *testing.T) {
	opts := dockertest.Options(t, "none")
	ro, rw := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(ro, "f"), []byte("ro file\n"), 0o644)
	os.Chmod(rw, 0o777)
	opts.Docker.Binds = []string{ro + ":/data", rw + "/:/out:rw"}
	sb := dockertest.New(t, opts)
	res := run(t, sb, sandbox.Request{Argv: sh("cat /data/f; echo x > /data/g; echo y > /out/h")})
	if !strings.HasPrefix(string(res.Output), "ro file\n") {
		t.Errorf("read /data/f: %q", res.Output)
	}
	if _, err := os.Stat(filepath.Join(ro, "g")); err == nil {
		t.Error("wrote through a bind without a mode (ro by default)")
	}
	if b, err := os.ReadFile(filepath.Join(rw, "h")); err != nil || string(b) != "y\n" {
		t.Errorf("rw bind: %q %v", b, err)
	}
}

func TestLayersAndExplain(t *testing.T) {
	opts := dockertest.Options(t, "ro")
	sb := dockertest.New(t, opts)
	ctx := context.Background()
	layers := sb.Layers(ctx)
	var names []string
	for _, l := range layers {
		names = append(names, l.Name)
		if l.State != sandbox.LayerOn {
			t.Errorf("layer %s = %s (%s), want on", l.Name, l.State, l.Detail)
		}
	}
	want := []string{"engine", "network", "readonly-root", "capabilities", "nonewprivs", "seccomp", "user", "limits"}
	if !slices.Equal(names, want) {
		t.Errorf("layers %q, want %q", names, want)
	}
	name, _, _ := sb.Engine()
	if !strings.HasPrefix(layers[0].Detail, name+" ") || (name != "podman" && name != "docker") {
		t.Errorf("engine layer %q, engine %q", layers[0].Detail, name)
	}

	e := sb.Explain(ctx, "s")
	ws, _ := filepath.EvalSymlinks(opts.Workspace)
	if e.Backend != "docker" || e.Network != "none" || e.User != docker.DefaultUser ||
		!slices.Contains(e.Mounts, sandbox.Mount{Target: "/workspace", Source: ws, Mode: "ro"}) ||
		e.Limits.Pids != opts.Limits.Pids {
		t.Errorf("Explain = %+v", e)
	}

	opts.Docker.Network = "bridge"
	opts.Docker.ReadOnlyRoot = false
	sb2 := dockertest.New(t, opts)
	for _, l := range sb2.Layers(ctx) {
		if (l.Name == "network" || l.Name == "readonly-root") && l.State != sandbox.LayerOff {
			t.Errorf("layer %s = %s with network bridge and a writable root, want off", l.Name, l.State)
		}
	}
}

func TestBuildReportsErrors(t *testing.T) {
	sb := dockertest.New(t, dockertest.Options(t, "ro"))
	var out bytes.Buffer
	err := sb.Build(context.Background(), &out, docker.BuildOptions{
		Tag:        "gatehouse-sandbox-test:broken",
		Dockerfile: []byte("FROM scratch\nCOPY missing-file /x\n"),
	})
	if err == nil {
		t.Fatalf("Build of a broken Dockerfile succeeded; output:\n%s", out.Bytes())
	}
	if !strings.Contains(err.Error(), "missing-file") {
		t.Errorf("Build error %q does not name the missing file", err)
	}
}

func TestRunMergesStreams(t *testing.T) {
	sb := dockertest.New(t, dockertest.Options(t, "ro"))
	// Order within a stream is kept; between stdout and stderr (two pipes)
	// it is the order the engine read them in.
	res := run(t, sb, sandbox.Request{Argv: sh("echo o1; echo e1 >&2; echo o2; echo e2 >&2")})
	out := string(res.Output)
	for _, pair := range [][2]string{{"o1\n", "o2\n"}, {"e1\n", "e2\n"}} {
		i, j := strings.Index(out, pair[0]), strings.Index(out, pair[1])
		if i < 0 || j < 0 || i > j {
			t.Errorf("output %q: want %q before %q", out, pair[0], pair[1])
		}
	}
	if len(out) != 12 {
		t.Errorf("output %q, want 12 bytes", out)
	}
}

func TestRunReturnsWhenBackgroundHoldsOutput(t *testing.T) {
	opts := dockertest.Options(t, "rw")
	os.Chmod(opts.Workspace, 0o777)
	sb := dockertest.New(t, opts)
	// The background loop keeps the exec's stdout open after sh exits.
	res := run(t, sb, sandbox.Request{
		Argv:    sh(`(while :; do echo x >> /workspace/marker; sleep 0.1; done) & echo started`),
		Timeout: 30 * time.Second,
	})
	if string(res.Output) != "started\n" || res.ExitCode != 0 || res.TimedOut {
		t.Errorf("got %q exit %d timedOut %v, want started, 0, no timeout", res.Output, res.ExitCode, res.TimedOut)
	}
	if res.Duration > 10*time.Second {
		t.Errorf("Run took %v: it waited for the background process", res.Duration)
	}
	if markerGrowth(t, filepath.Join(opts.Workspace, "marker"), 700*time.Millisecond) {
		t.Error("the background process outlived its Run")
	}
}

func TestRunTimeoutKeepsOutput(t *testing.T) {
	sb := dockertest.New(t, dockertest.Options(t, "ro"))
	res := run(t, sb, sandbox.Request{Argv: sh("echo before; sleep 60"), Timeout: time.Second})
	if !res.TimedOut || string(res.Output) != "before\n" {
		t.Errorf("got %q timedOut %v, want the output before the timeout", res.Output, res.TimedOut)
	}
}

func TestPidsLimitEnforced(t *testing.T) {
	opts := dockertest.Options(t, "ro")
	opts.Limits.Pids = 32
	sb := dockertest.New(t, opts)
	res := run(t, sb, sandbox.Request{Argv: sh(`for i in $(seq 64); do sleep 5 & done; echo all spawned`), Timeout: 30 * time.Second})
	if res.ExitCode == 0 || strings.Contains(string(res.Output), "all spawned") || !strings.Contains(string(res.Output), "fork") {
		t.Errorf("64 processes with a pids limit of 32: exit %d %q, want a fork failure", res.ExitCode, res.Output)
	}
	// What it spawned was reaped: the next command can fork again.
	if res := run(t, sb, sandbox.Request{Argv: sh("sleep 0 & wait; echo ok")}); string(res.Output) != "ok\n" {
		t.Errorf("after the fork failure: exit %d %q", res.ExitCode, res.Output)
	}
}
