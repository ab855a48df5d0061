//go:build linux && !gatehouse_omit_docker

package escape_test

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gatehouse/internal/config"
	"gatehouse/internal/sandbox"
	"gatehouse/internal/sandbox/docker/dockertest"
)

func init() { register("docker", newDocker) }

// newDocker is the docker backend for the escape suite: the engine that
// DOCKER_HOST names (test/peers/podman.sh starts Podman's), with the
// busybox test image. It skips when no engine answers, and fails instead
// under GATEHOUSE_TEST_REQUIRE_DOCKER=1. Settings the suite leaves empty
// get the configuration's defaults, so the suite attacks what ships.
func newDocker(t *testing.T, opts sandbox.Options) sandbox.Sandbox {
	t.Helper()
	if opts.Docker.Network == "" && opts.Docker.User == "" && opts.Docker.Image == "" {
		opts.Docker = config.Default().Agents.Defaults.Sandbox.Docker
	}
	if opts.Docker.Image == "" {
		opts.Docker.Image = dockertest.Image
	}
	// Limits the attempt leaves at zero are the shipped ones.
	def := sandbox.LimitsFrom(config.Default().Agents.Defaults.Sandbox.Limits)
	l := &opts.Limits
	l.MemoryBytes = cmp.Or(l.MemoryBytes, def.MemoryBytes)
	l.Pids = cmp.Or(l.Pids, def.Pids)
	l.CPUs = cmp.Or(l.CPUs, def.CPUs)
	l.CPUSeconds = cmp.Or(l.CPUSeconds, def.CPUSeconds)
	l.OpenFiles = cmp.Or(l.OpenFiles, def.OpenFiles)
	l.FileSizeBytes = cmp.Or(l.FileSizeBytes, def.FileSizeBytes)
	l.TmpfsBytes = cmp.Or(l.TmpfsBytes, def.TmpfsBytes)
	l.Timeout = cmp.Or(l.Timeout, def.Timeout)
	return dockertest.New(t, opts)
}

// dockerOptions are the shipped defaults with a fresh workspace and state
// dir, the workspace read-write so that the attempts can leave evidence.
func dockerOptions(t *testing.T) sandbox.Options {
	c := config.Default().Agents.Defaults.Sandbox
	c.WorkspaceAccess = "rw"
	ws := t.TempDir()
	os.Chmod(ws, 0o777)
	return sandbox.OptionsFrom(c, ws, t.TempDir())
}

// TestDockerEscapes adds, to the attempts every backend gets, what a
// hostile command would try against a container in particular: the
// engine's socket, a read-only extra bind, and a user namespace's root
// against the container's read-only mounts.
func TestDockerEscapes(t *testing.T) {
	opts := dockerOptions(t)
	data := t.TempDir()
	opts.Docker.Binds = []string{data + ":/data"}
	sb := newDocker(t, opts)

	// Things on the host that must stay out of reach.
	secret := filepath.Join(opts.StateDir, "secret")
	os.WriteFile(secret, []byte("host-secret\n"), 0o644)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("host-listener\n"))
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port

	tests := []struct {
		name   string
		script string
	}{
		// Each script exits 0 only if the escape worked.
		{"engine_socket", `find / -xdev -type s 2>/dev/null | grep . ; s=$(find / -type s 2>/dev/null | grep -v '^/proc' | head -1); [ -n "$s" ]`},
		{"host_state_dir", fmt.Sprintf(`cat %q`, secret)},
		{"host_loopback_listener", fmt.Sprintf(`nc -w 2 127.0.0.1 %d </dev/null | grep host-listener`, port)},
		{"host_pid_visible", fmt.Sprintf(`test -d /proc/%d && grep -q go /proc/%d/cmdline`, os.Getpid(), os.Getpid())},
		{"kill_host_process", fmt.Sprintf(`kill -0 %d`, os.Getpid())},
		{"many_processes_visible", `[ $(ls -d /proc/[0-9]* | wc -l) -gt 20 ]`},
		{"network_route", `[ $(wc -l < /proc/net/route) -gt 1 ]`},
		{"network_interface", `ls /sys/class/net | grep -v '^lo$'`},
		{"become_root_setuid", `[ "$(id -u)" = 0 ] || [ "$(grep ^CapEff /proc/self/status | cut -f2)" != 0000000000000000 ]`},
		{"no_new_privs_off", `grep -q 'NoNewPrivs:.*0' /proc/self/status`},
		{"mount_tmpfs", `mkdir -p /tmp/m && mount -t tmpfs none /tmp/m`},
		{"remount_root_rw", `mount -o remount,rw /`},
		{"write_root", `echo x > /escape && cat /escape`},
		{"write_etc", `echo x >> /etc/passwd`},
		{"chroot", `chroot / true`},
		{"mknod_disk", `mknod /tmp/sda b 8 0 && head -c 1 /tmp/sda`},
		{"read_kcore", `head -c 1 /proc/kcore | wc -c | grep -q 1`},
		{"write_sysrq", `echo h > /proc/sysrq-trigger`},
		{"cgroup_release_agent", `echo /tmp/x > /sys/fs/cgroup/memory/release_agent || echo /tmp/x > /sys/fs/cgroup/release_agent`},
		{"write_sys", `echo 1 > /sys/kernel/mm/ksm/run`},
		// Podman's default seccomp profile lets a command make a user
		// namespace (Docker's does not); root in it must still not undo
		// the container's read-only mounts.
		{"userns_remount_root_rw", `unshare -U -r -m sh -c 'mount -o remount,rw / && echo x > /x'`},
		{"userns_remount_ro_bind_rw", `unshare -U -r -m sh -c 'mount -o remount,rw /data && echo x > /data/x'`},
		{"userns_mount_proc", `unshare -U -r -m -p -f --mount-proc true`},
		{"write_ro_bind", `echo x > /data/x`},
		{"raise_nofile", `ulimit -n 100000`},
		{"huge_file", `head -c 80000000 /dev/zero > /tmp/big 2>/dev/null; [ $(wc -c < /tmp/big) -gt 70000000 ]`},
		{"fill_tmpfs_past_limit", `head -c 100000000 /dev/zero > /tmp/fill 2>/dev/null; [ $(wc -c < /tmp/fill) -gt 70000000 ]`},
		{"read_host_env", `grep -a -q -i -e DOCKER_HOST -e GATEHOUSE /proc/1/environ /proc/self/environ`},
		// A symlink in the workspace resolves inside the container.
		{"workspace_symlink_out", fmt.Sprintf(`ln -sf %q /workspace/link && cat /workspace/link`, secret)},
	}
	t.Setenv("GATEHOUSE_ESCAPE_MARKER", "1")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := sb.Run(context.Background(), sandbox.Request{Scope: "escape", Argv: []string{"/bin/sh", "-c", tt.script}})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if res.ExitCode == 0 {
				t.Errorf("escape %s worked: %q", tt.name, res.Output)
			}
			if strings.Contains(string(res.Output), "host-secret") || strings.Contains(string(res.Output), "host-listener") {
				t.Errorf("escape %s read host data: %q", tt.name, res.Output)
			}
		})
	}
}
