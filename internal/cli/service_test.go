package cli

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gatehouse/internal/service"
)

// fakeServiceHost stands in for the machine: it records commands, knows
// the accounts it is told of, and says whether systemd runs.
type fakeServiceHost struct {
	ran      []string
	accounts map[string]bool
	manager  bool
}

func (f *fakeServiceHost) Run(_ context.Context, argv ...string) ([]byte, error) {
	f.ran = append(f.ran, strings.Join(argv, " "))
	switch {
	case argv[0] == "systemd-analyze":
		return []byte("→ Overall exposure level for gatehouse.service: 2.1 OK\n"), nil
	case argv[0] == "useradd":
		f.accounts[argv[len(argv)-1]] = true
	case slices.Contains(argv, "is-enabled"):
		return []byte("enabled\n"), nil
	case slices.Contains(argv, "is-active"):
		return []byte("active\n"), nil
	}
	return nil, nil
}

func (f *fakeServiceHost) LookupAccount(name string) (int, int, error) {
	if !f.accounts[name] {
		return 0, 0, errors.New("unknown account " + name)
	}
	return os.Getuid(), os.Getgid(), nil
}

func (f *fakeServiceHost) ManagerRunning(service.Mode) bool { return f.manager }

// serviceFlags are the options the flags default to.
func serviceFlags(o serviceOptions) *serviceOptions {
	if o.memoryMax == "" {
		o.memoryMax = service.DefaultMemoryMax
	}
	if o.tasksMax == 0 {
		o.tasksMax = service.DefaultTasksMax
	}
	if o.backend == "" {
		o.backend = "auto"
	}
	return &o
}

func TestServiceRenderFollowsConfig(t *testing.T) {
	e, out, errb := testEnv(t)
	if got := run(t, e, "onboard", "--non-interactive"); got != 0 {
		t.Fatalf("onboard exit %d: %s", got, errb)
	}
	render := func(args ...string) string {
		t.Helper()
		out.Reset()
		if got := run(t, e, append([]string{"service", "render", "--user"}, args...)...); got != 0 {
			t.Fatalf("render exit %d: %s", got, errb)
		}
		return out.String()
	}
	native := render()
	for _, want := range []string{"RestrictNamespaces=user mnt pid net ipc uts cgroup", "GATEHOUSE_STATE_DIR=" + e.getenv("GATEHOUSE_STATE_DIR"),
		"ProtectHome=tmpfs", "WantedBy=default.target"} {
		if !strings.Contains(native, want) {
			t.Errorf("native unit lacks %q:\n%s", want, native)
		}
	}
	if !strings.Contains(errb.String(), `allowWithout '["cgroups"]'`) {
		t.Errorf("no note about the cgroups layer on stderr: %q", errb)
	}
	if docker := render("--backend", "docker"); !strings.Contains(docker, "RestrictNamespaces=yes") {
		t.Errorf("--backend docker unit allows namespaces:\n%s", docker)
	}
	if got := run(t, e, "config", "set", "agents.defaults.sandbox.mode", "off"); got != 0 {
		t.Fatalf("config set exit %d: %s", got, errb)
	}
	if off := render(); !strings.Contains(off, "MemoryDenyWriteExecute=yes") || !strings.Contains(off, "Sandbox: none") {
		t.Errorf("sandbox off unit is not the strictest:\n%s", off)
	}

	out.Reset()
	if got := run(t, e, "service", "render", "--system", "--instance", "work", "--exec", "/opt/gatehouse/bin/gatehouse", "--json"); got != 0 {
		t.Fatalf("render --json exit %d: %s", got, errb)
	}
	var r struct{ Unit, Path, Content string }
	if err := json.Unmarshal([]byte(out.String()), &r); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if r.Unit != "gatehouse-work.service" || r.Path != "/etc/systemd/system/gatehouse-work.service" ||
		!strings.Contains(r.Content, "ExecStart=/opt/gatehouse/bin/gatehouse gateway run --profile work") ||
		!strings.Contains(r.Content, "User=gatehouse-work") {
		t.Errorf("render --json = %+v", r)
	}
}

func TestServiceInstallUserOffline(t *testing.T) {
	e, out, errb := testEnv(t)
	if got := run(t, e, "onboard", "--non-interactive"); got != 0 {
		t.Fatalf("onboard exit %d: %s", got, errb)
	}
	root := t.TempDir()
	out.Reset()
	if got := run(t, e, "service", "install", "--user", "--root", root, "--json"); got != 0 {
		t.Fatalf("install exit %d: %s", got, errb)
	}
	var rep serviceInstallReport
	if err := json.Unmarshal([]byte(out.String()), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	wantPath := filepath.Join(e.home, ".config/systemd/user/gatehouse.service")
	if rep.Path != wantPath || rep.Mode != service.ModeUser || rep.Started {
		t.Errorf("report = %+v, want %s, user mode, not started", rep, wantPath)
	}
	for _, s := range rep.Steps {
		want := service.StatusSkipped // --root: no command runs
		if strings.HasPrefix(s.Step, "install ") {
			want = service.StatusDone // files are written
		}
		if s.Status != want {
			t.Errorf("%s: %s (%s), want %s", s.Step, s.Status, s.Detail, want)
		}
	}
	fi, err := os.Stat(filepath.Join(root, wantPath))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("unit mode %04o, want 0644", fi.Mode().Perm())
	}

	// And remove it.
	out.Reset()
	if got := run(t, e, "service", "uninstall", "--user", "--root", root); got != 0 {
		t.Fatalf("uninstall exit %d: %s", got, errb)
	}
	if _, err := os.Stat(filepath.Join(root, wantPath)); !os.IsNotExist(err) {
		t.Errorf("unit still installed: %v", err)
	}
	if got := run(t, e, "service", "uninstall", "--user", "--root", root); got != exitError {
		t.Errorf("second uninstall exit %d, want %d", got, exitError)
	}
}

// TestServiceInstallSystem runs the whole system plan against a fake host
// without systemd: the account is made, the binary copied, the state dir
// made and onboarded, the unit written, and the systemctl commands left
// for the owner.
func TestServiceInstallSystem(t *testing.T) {
	e, out, errb := testEnv(t)
	e.json = true
	root := t.TempDir()
	bin := filepath.Join(t.TempDir(), "gatehouse")
	if err := os.WriteFile(bin, []byte("binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	h := &fakeServiceHost{accounts: map[string]bool{}}
	o := serviceFlags(serviceOptions{system: true, root: root, binary: bin, host: h})
	if err := e.runServiceInstall(context.Background(), o); err != nil {
		t.Fatalf("install: %v (%s)", err, errb)
	}
	var rep serviceInstallReport
	if err := json.Unmarshal([]byte(out.String()), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if rep.Account != "gatehouse" || rep.StateDir != "/var/lib/gatehouse" || rep.Exec != "/usr/local/bin/gatehouse" || rep.Started {
		t.Errorf("report = %+v", rep)
	}
	wantRan := []string{
		"useradd --system --user-group --home-dir /var/lib/gatehouse --no-create-home --shell " + nologinShell(root) +
			" --password ! --comment Gatehouse AI agent gateway gatehouse",
		"runuser -u gatehouse -- env HOME=/var/lib/gatehouse /usr/local/bin/gatehouse --state-dir /var/lib/gatehouse onboard --non-interactive",
		"systemd-analyze security --offline=true --no-pager " + filepath.Join(root, "etc/systemd/system/gatehouse.service"),
	}
	if !slices.Equal(h.ran, wantRan) {
		t.Errorf("ran:\n%s\nwant:\n%s", strings.Join(h.ran, "\n"), strings.Join(wantRan, "\n"))
	}
	if want := []string{"systemctl daemon-reload", "systemctl enable --now gatehouse.service"}; !slices.Equal(rep.Next, want) {
		t.Errorf("next = %q, want %q", rep.Next, want)
	}
	if rep.Exposure == nil || *rep.Exposure != 2.1 {
		t.Errorf("exposure = %v, want 2.1", rep.Exposure)
	}
	for path, perm := range map[string]os.FileMode{
		"usr/local/bin/gatehouse":              0o755,
		"var/lib/gatehouse":                    0o700,
		"etc/systemd/system/gatehouse.service": 0o644,
	} {
		fi, err := os.Stat(filepath.Join(root, path))
		if err != nil {
			t.Errorf("%s: %v", path, err)
		} else if fi.Mode().Perm() != perm {
			t.Errorf("%s mode %04o, want %04o", path, fi.Mode().Perm(), perm)
		}
	}

	// Text output says what to run where systemd runs.
	out.Reset()
	e.json = false
	h.ran = nil
	if err := e.runServiceInstall(context.Background(), o); err != nil {
		t.Fatalf("reinstall: %v", err)
	}
	if !strings.Contains(out.String(), "systemd is not running here") || !strings.Contains(out.String(), "systemctl enable --now gatehouse.service") {
		t.Errorf("output does not say how to start it:\n%s", out)
	}
	if slices.ContainsFunc(h.ran, func(c string) bool { return strings.HasPrefix(c, "useradd") }) {
		t.Errorf("reinstall made the account again: %q", h.ran)
	}
}

func TestServiceInstallDryRun(t *testing.T) {
	e, out, errb := testEnv(t)
	root := t.TempDir()
	if got := run(t, e, "service", "install", "--system", "--dry-run", "--root", root, "--instance", "work"); got != 0 {
		t.Fatalf("exit %d: %s", got, errb)
	}
	for _, want := range []string{"would install gatehouse-work.service", "planned  useradd", "[Service]", "User=gatehouse-work"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out)
		}
	}
	entries, err := os.ReadDir(root)
	if err != nil || len(entries) != 0 {
		t.Errorf("dry run wrote %v (%v)", entries, err)
	}
}

func TestServiceStatus(t *testing.T) {
	e, out, _ := testEnv(t)
	e.json = true
	root := t.TempDir()
	h := &fakeServiceHost{accounts: map[string]bool{}, manager: true}
	o := serviceFlags(serviceOptions{user: true, root: root, host: h})

	status := func() (service.Status, error) {
		t.Helper()
		out.Reset()
		err := e.runServiceStatus(context.Background(), o)
		var st service.Status
		if jerr := json.Unmarshal([]byte(out.String()), &st); jerr != nil {
			t.Fatalf("%v: %s", jerr, out)
		}
		return st, err
	}
	st, err := status()
	var ce *codeError
	if st.Installed || !errors.As(err, &ce) || ce.code != exitError {
		t.Errorf("status before install = %+v, %v; want not installed, exit 1", st, err)
	}

	path := filepath.Join(root, e.home, ".config/systemd/user/gatehouse.service")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("[Service]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err = status()
	if err != nil || !st.Installed || st.Enabled != "enabled" || st.Active != "active" || st.Exposure == nil {
		t.Errorf("status installed = %+v, %v; want installed, enabled, active, scored, exit 0", st, err)
	}

	h.manager = false
	st, err = status()
	if st.Systemd != service.SystemdNotRunning || st.Active != "" || err == nil {
		t.Errorf("status without systemd = %+v, %v; want systemd not running, exit 1", st, err)
	}
}

func TestServiceUsageErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
	}{
		{"user_and_system", []string{"service", "render", "--user", "--system"}},
		{"bad_instance", []string{"service", "render", "--user", "--instance", "Work!"}},
		{"instance_and_profile_differ", []string{"--profile", "a", "service", "render", "--user", "--instance", "b"}},
		{"bad_backend", []string{"service", "render", "--user", "--backend", "lxc"}},
		{"instance_too_long_for_account", []string{"service", "render", "--system", "--instance", strings.Repeat("a", 30)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, _, errb := testEnv(t)
			if got := run(t, e, c.args...); got != exitUsage {
				t.Errorf("exit = %d, want %d (stderr %q)", got, exitUsage, errb)
			}
		})
	}
}
