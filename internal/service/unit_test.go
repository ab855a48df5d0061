package service

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.service")

// unitCases are the units the golden files, verify and the exposure tests
// cover.
var unitCases = []struct {
	name string
	unit Unit
}{
	{"system_native", Unit{Mode: ModeSystem}},
	{"system_docker", Unit{Mode: ModeSystem, Sandbox: SandboxDocker, EngineSocket: "/run/docker.sock", EngineGroup: "docker"}},
	{"system_none", Unit{Mode: ModeSystem, Sandbox: SandboxNone}},
	{"system_instance", Unit{Mode: ModeSystem, Instance: "work", Netlink: true,
		SecretKeyCredential: "/etc/gatehouse/work.key", WritablePaths: []string{"/home/alice/agent-work"},
		MemoryMax: "4G", TasksMax: 1024}},
	{"user_native", Unit{Mode: ModeUser, Exec: "/home/alice/.local/bin/gatehouse", StateDir: "/home/alice/.gatehouse"}},
	{"user_docker_instance", Unit{Mode: ModeUser, Instance: "work", Exec: "/usr/local/bin/gatehouse",
		StateDir: "/home/alice/.gatehouse-work", Sandbox: SandboxDocker, HostCommands: true,
		EngineSocket: "/run/user/1000/podman/podman.sock"}},
}

func TestRenderGolden(t *testing.T) {
	for _, c := range unitCases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.unit.Render()
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", c.name+".service")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./internal/service -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("unit differs from %s; if the change is intended, run go test ./internal/service -update\n--- got\n%s", golden, got)
			}
		})
	}
}

// directives parses a rendered unit into key -> values, in order.
func directives(t *testing.T, u Unit) map[string][]string {
	t.Helper()
	b, err := u.Render()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || line[0] == '#' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("line %q is not KEY=VALUE", line)
		}
		m[k] = append(m[k], v)
	}
	return m
}

func TestRenderDirectives(t *testing.T) {
	type want struct {
		key, value string // value "" with absent: the key must not be set
		absent     bool
	}
	cases := []struct {
		name string
		unit Unit
		want []want
	}{
		{"system_runs_as_its_account", Unit{Mode: ModeSystem}, []want{
			{key: "User", value: "gatehouse"}, {key: "Group", value: "gatehouse"},
			{key: "StateDirectory", value: "gatehouse"}, {key: "StateDirectoryMode", value: "0700"},
			{key: "Environment", value: "GATEHOUSE_STATE_DIR=/var/lib/gatehouse"},
			{key: "ExecStart", value: "/usr/local/bin/gatehouse gateway run"},
			{key: "ProtectHome", value: "yes"}, {key: "ReadWritePaths", value: "/dev/null /dev/zero /dev/full /dev/random /dev/urandom -/dev/tty"},
			{key: "WantedBy", value: "multi-user.target"},
		}},
		{"notify_and_watchdog", Unit{Mode: ModeSystem}, []want{
			{key: "Type", value: "notify"}, {key: "NotifyAccess", value: "main"}, {key: "WatchdogSec", value: "30s"},
			{key: "Restart", value: "on-failure"}, {key: "ExecReload", value: "/bin/sh -c 'kill -HUP ${MAINPID}'"},
			{key: "UMask", value: "0077"}, {key: "MemoryMax", value: "2G"}, {key: "TasksMax", value: "512"},
		}},
		{"native_allows_its_namespaces", Unit{Mode: ModeSystem, Sandbox: SandboxNative}, []want{
			{key: "RestrictNamespaces", value: "user mnt pid net ipc uts cgroup"},
			{key: "SystemCallFilter", value: "@system-service @mount sethostname landlock_create_ruleset landlock_add_rule landlock_restrict_self seccomp"},
			{key: "CapabilityBoundingSet", value: ""},
			{key: "ProtectHostname", absent: true}, {key: "MemoryDenyWriteExecute", absent: true},
			{key: "Delegate", absent: true}, {key: "ProtectControlGroups", value: "yes"},
		}},
		{"docker_allows_no_namespace", Unit{Mode: ModeSystem, Sandbox: SandboxDocker, EngineSocket: "/run/docker.sock", EngineGroup: "docker"}, []want{
			{key: "RestrictNamespaces", value: "yes"}, {key: "ProtectHostname", value: "yes"},
			{key: "MemoryDenyWriteExecute", value: "yes"}, {key: "SupplementaryGroups", value: "docker"},
			{key: "SystemCallFilter", value: "@system-service"},
		}},
		{"elevated_commands_keep_jit", Unit{Mode: ModeSystem, Sandbox: SandboxNone, HostCommands: true}, []want{
			{key: "MemoryDenyWriteExecute", absent: true}, {key: "RestrictNamespaces", value: "yes"},
		}},
		{"tailnet_needs_netlink", Unit{Mode: ModeSystem, Netlink: true}, []want{
			{key: "RestrictAddressFamilies", value: "AF_UNIX AF_INET AF_INET6 AF_NETLINK"},
		}},
		{"custom_system_state_dir", Unit{Mode: ModeSystem, StateDir: "/srv/gatehouse"}, []want{
			{key: "StateDirectory", absent: true},
			{key: "Environment", value: "GATEHOUSE_STATE_DIR=/srv/gatehouse"},
		}},
		{"user_binds_home_paths", Unit{Mode: ModeUser, Exec: "/home/alice/bin/gatehouse", StateDir: "/home/alice/.gatehouse"}, []want{
			{key: "User", absent: true}, {key: "ProtectHome", value: "tmpfs"},
			{key: "BindPaths", value: "/home/alice/.gatehouse"},
			{key: "BindReadOnlyPaths", value: "/home/alice/bin/gatehouse -%t/systemd/notify"},
			{key: "PrivateIPC", absent: true}, {key: "ProtectKernelTunables", absent: true}, {key: "ProtectKernelLogs", absent: true},
			{key: "WantedBy", value: "default.target"},
		}},
		{"user_state_outside_home", Unit{Mode: ModeUser, Exec: "/usr/bin/gatehouse", StateDir: "/srv/alice/gatehouse"}, []want{
			{key: "ProtectHome", value: "tmpfs"}, {key: "BindPaths", absent: true},
			{key: "BindReadOnlyPaths", value: "-%t/systemd/notify"},
		}},
		{"instance", Unit{Mode: ModeSystem, Instance: "work"}, []want{
			{key: "User", value: "gatehouse-work"}, {key: "StateDirectory", value: "gatehouse-work"},
			{key: "ExecStart", value: "/usr/local/bin/gatehouse gateway run --profile work"},
			{key: "SyslogIdentifier", value: "gatehouse-work"},
		}},
		{"credential", Unit{Mode: ModeSystem, SecretKeyCredential: "/etc/gatehouse/secret.key"}, []want{
			{key: "LoadCredential", value: "gatehouse-secret-key:/etc/gatehouse/secret.key"},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := directives(t, c.unit)
			for _, w := range c.want {
				got, ok := d[w.key]
				switch {
				case w.absent && ok:
					t.Errorf("%s = %q, want it unset", w.key, got)
				case !w.absent && !contains(got, w.value):
					t.Errorf("%s = %q, want %q among them", w.key, got, w.value)
				}
			}
		})
	}
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name string
		unit Unit
		want string // in the error
	}{
		{"bad_instance", Unit{Instance: "Work!"}, "instance name"},
		{"instance_too_long_for_account", Unit{Mode: ModeSystem, Instance: strings.Repeat("a", 23)}, "too long"},
		{"instance_long_is_fine_for_user", Unit{Mode: ModeUser, Instance: strings.Repeat("a", 23), Exec: "/usr/bin/gatehouse", StateDir: "/home/a/.gh"}, ""},
		{"relative_exec", Unit{Exec: "gatehouse"}, "not absolute"},
		{"space_in_state_dir", Unit{StateDir: "/var/lib/my gatehouse"}, "cannot take unquoted"},
		{"specifier_in_path", Unit{StateDir: "/var/lib/%i"}, "cannot take unquoted"},
		{"unclean_path", Unit{StateDir: "/var/lib/../gatehouse"}, "not clean"},
		{"state_dir_too_close_to_root", Unit{StateDir: "/srv"}, "too close to /"},
		{"user_without_state_dir", Unit{Mode: ModeUser, Exec: "/usr/bin/gatehouse"}, "state dir"},
		{"bad_backend", Unit{Sandbox: "lxc"}, "sandbox backend"},
		{"bad_memory", Unit{MemoryMax: "2 GB"}, "MemoryMax"},
		{"few_tasks", Unit{TasksMax: 4}, "TasksMax"},
		{"env_with_space", Unit{Environment: []string{"DOCKER_HOST=a b"}}, "environment entry"},
		{"bad_group", Unit{EngineGroup: "Docker Users"}, "group"},
		{"defaults", Unit{}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.unit.Validate()
			switch {
			case c.want == "" && err != nil:
				t.Errorf("Validate = %v, want nil", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("Validate = %v, want an error about %q", err, c.want)
			}
		})
	}
}

func TestNames(t *testing.T) {
	cases := []struct {
		unit                Unit
		name, file, account string
	}{
		{Unit{}, "gatehouse", "gatehouse.service", "/var/lib/gatehouse"},
		{Unit{Instance: "work"}, "gatehouse-work", "gatehouse-work.service", "/var/lib/gatehouse-work"},
	}
	for _, c := range cases {
		if got := c.unit.Name(); got != c.name {
			t.Errorf("Name = %q, want %q", got, c.name)
		}
		if got := c.unit.FileName(); got != c.file {
			t.Errorf("FileName = %q, want %q", got, c.file)
		}
		if got := c.unit.SystemStateDir(); got != c.account {
			t.Errorf("SystemStateDir = %q, want %q", got, c.account)
		}
	}
}
