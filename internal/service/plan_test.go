package service

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// fakeHost records the commands a plan runs and answers them from a
// table; no test creates an account or talks to systemd.
type fakeHost struct {
	mu       sync.Mutex
	ran      [][]string
	fail     map[string]error  // first word of argv -> error
	outputs  map[string]string // joined argv -> output
	accounts map[string]bool
	manager  bool
}

func newFakeHost() *fakeHost {
	return &fakeHost{fail: map[string]error{}, outputs: map[string]string{}, accounts: map[string]bool{}, manager: true}
}

func (f *fakeHost) Run(_ context.Context, argv ...string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ran = append(f.ran, argv)
	out := f.outputs[strings.Join(argv, " ")]
	if err, ok := f.fail[argv[0]]; ok {
		return []byte(out), err
	}
	return []byte(out), nil
}

// LookupAccount answers every known account with the test's own uid and
// gid, so Apply can chown to it without privileges.
func (f *fakeHost) LookupAccount(name string) (int, int, error) {
	if !f.accounts[name] {
		return 0, 0, errors.New("unknown account " + name)
	}
	return os.Getuid(), os.Getgid(), nil
}

func (f *fakeHost) ManagerRunning(Mode) bool { return f.manager }

func (f *fakeHost) commands() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var s []string
	for _, a := range f.ran {
		s = append(s, strings.Join(a, " "))
	}
	return s
}

func stepStrings(steps []Step) []string {
	s := make([]string, len(steps))
	for i, st := range steps {
		s[i] = st.String()
	}
	return s
}

func TestInstallPlan(t *testing.T) {
	cases := []struct {
		name string
		in   Install
		want []string
	}{
		{"system_fresh", Install{Unit: Unit{Mode: ModeSystem}, UnitDir: "/etc/systemd/system", Source: "/home/alice/bin/gatehouse", Nologin: "/usr/sbin/nologin"}, []string{
			"useradd --system --user-group --home-dir /var/lib/gatehouse --no-create-home --shell /usr/sbin/nologin --password '!' --comment 'Gatehouse AI agent gateway' gatehouse",
			"install -m 0755 /home/alice/bin/gatehouse /usr/local/bin/gatehouse",
			"install -d -m 0700 -o gatehouse -g gatehouse /var/lib/gatehouse",
			"runuser -u gatehouse -- env HOME=/var/lib/gatehouse /usr/local/bin/gatehouse --state-dir /var/lib/gatehouse onboard --non-interactive",
			"install -d -m 0755 /etc/systemd/system",
			"install -m 0644 /dev/stdin /etc/systemd/system/gatehouse.service",
			"systemctl daemon-reload",
			"systemctl enable gatehouse.service",
			"systemctl restart gatehouse.service",
		}},
		{"system_reinstall", Install{Unit: Unit{Mode: ModeSystem}, UnitDir: "/etc/systemd/system", Source: "/usr/local/bin/gatehouse",
			AccountExists: true, Configured: true}, []string{
			"install -d -m 0700 -o gatehouse -g gatehouse /var/lib/gatehouse",
			"install -d -m 0755 /etc/systemd/system",
			"install -m 0644 /dev/stdin /etc/systemd/system/gatehouse.service",
			"systemctl daemon-reload",
			"systemctl enable gatehouse.service",
			"systemctl restart gatehouse.service",
		}},
		{"system_instance", Install{Unit: Unit{Mode: ModeSystem, Instance: "work"}, UnitDir: "/etc/systemd/system", Source: "/tmp/gatehouse",
			AccountExists: true}, []string{
			"install -m 0755 /tmp/gatehouse /usr/local/bin/gatehouse",
			"install -d -m 0700 -o gatehouse-work -g gatehouse-work /var/lib/gatehouse-work",
			"runuser -u gatehouse-work -- env HOME=/var/lib/gatehouse-work /usr/local/bin/gatehouse --state-dir /var/lib/gatehouse-work --profile work onboard --non-interactive",
			"install -d -m 0755 /etc/systemd/system",
			"install -m 0644 /dev/stdin /etc/systemd/system/gatehouse-work.service",
			"systemctl daemon-reload",
			"systemctl enable gatehouse-work.service",
			"systemctl restart gatehouse-work.service",
		}},
		{"user", Install{Unit: Unit{Mode: ModeUser, Exec: "/home/alice/bin/gatehouse", StateDir: "/home/alice/.gatehouse"},
			UnitDir: "/home/alice/.config/systemd/user", Source: "/home/alice/bin/gatehouse"}, []string{
			"/home/alice/bin/gatehouse --state-dir /home/alice/.gatehouse onboard --non-interactive",
			"install -d -m 0700 /home/alice/.config/systemd/user",
			"install -m 0644 /dev/stdin /home/alice/.config/systemd/user/gatehouse.service",
			"systemctl --user daemon-reload",
			"systemctl --user enable gatehouse.service",
			"systemctl --user restart gatehouse.service",
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			steps, err := c.in.Steps()
			if err != nil {
				t.Fatal(err)
			}
			got := stepStrings(steps)
			for i := range got {
				got[i], _, _ = strings.Cut(got[i], "  #") // the byte count of the unit
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("steps:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
}

func TestInstallPlanErrors(t *testing.T) {
	cases := []struct {
		name string
		in   Install
	}{
		{"relative_unit_dir", Install{Unit: Unit{Mode: ModeSystem}, UnitDir: "systemd", Source: "/x/gatehouse"}},
		{"no_source", Install{Unit: Unit{Mode: ModeSystem}, UnitDir: "/etc/systemd/system"}},
		{"bad_unit", Install{Unit: Unit{Mode: ModeSystem, StateDir: "relative"}, UnitDir: "/etc/systemd/system", Source: "/x/gatehouse"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := c.in.Steps(); err == nil {
				t.Error("Steps = nil error, want one")
			}
		})
	}
}

func TestUninstallSteps(t *testing.T) {
	got := stepStrings(UninstallSteps(Unit{Mode: ModeUser, Instance: "work"}, "/home/a/.config/systemd/user"))
	want := []string{
		"systemctl --user disable --now gatehouse-work.service",
		"rm -f /home/a/.config/systemd/user/gatehouse-work.service",
		"systemctl --user daemon-reload",
	}
	if !slices.Equal(got, want) {
		t.Errorf("steps = %q, want %q", got, want)
	}
}

// systemInstall is a fresh system install whose binary is a file of the
// test's.
func systemInstall(t *testing.T) (Install, []byte) {
	t.Helper()
	src := filepath.Join(t.TempDir(), "gatehouse")
	bin := []byte("#!/bin/sh\necho gatehouse\n")
	if err := os.WriteFile(src, bin, 0o700); err != nil {
		t.Fatal(err)
	}
	return Install{Unit: Unit{Mode: ModeSystem}, UnitDir: "/etc/systemd/system", Source: src, Nologin: "/usr/sbin/nologin"}, bin
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestApplySystemInstall(t *testing.T) {
	root := t.TempDir()
	in, bin := systemInstall(t)
	steps, err := in.Steps()
	if err != nil {
		t.Fatal(err)
	}
	h := newFakeHost()
	h.accounts["gatehouse"] = true // as useradd would have made it
	results, err := Apply(context.Background(), h, steps, ApplyOptions{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if r.Status != StatusDone {
			t.Errorf("%s: %s (%s), want done", r.Step, r.Status, r.Detail)
		}
	}
	wantRan := []string{
		"useradd --system --user-group --home-dir /var/lib/gatehouse --no-create-home --shell /usr/sbin/nologin --password ! --comment Gatehouse AI agent gateway gatehouse",
		"runuser -u gatehouse -- env HOME=/var/lib/gatehouse /usr/local/bin/gatehouse --state-dir /var/lib/gatehouse onboard --non-interactive",
		"systemctl daemon-reload",
		"systemctl enable gatehouse.service",
		"systemctl restart gatehouse.service",
	}
	if got := h.commands(); !slices.Equal(got, wantRan) {
		t.Errorf("ran:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantRan, "\n"))
	}

	unit := filepath.Join(root, "etc/systemd/system/gatehouse.service")
	want, _ := in.Unit.Render()
	if got, err := os.ReadFile(unit); err != nil || !bytes.Equal(got, want) {
		t.Errorf("unit file = %q, %v; want the rendered unit", got, err)
	}
	if m := mode(t, unit); m != 0o644 {
		t.Errorf("unit mode = %04o, want 0644", m)
	}
	exe := filepath.Join(root, "usr/local/bin/gatehouse")
	if got, err := os.ReadFile(exe); err != nil || !bytes.Equal(got, bin) {
		t.Errorf("installed binary = %q, %v; want a copy of the source", got, err)
	}
	if m := mode(t, exe); m != 0o755 {
		t.Errorf("binary mode = %04o, want 0755", m)
	}
	if m := mode(t, filepath.Join(root, "var/lib/gatehouse")); m != 0o700 {
		t.Errorf("state dir mode = %04o, want 0700", m)
	}

	// Again: the same files, so nothing is rewritten; the commands run
	// again (restart picks up a new binary).
	results, err = Apply(context.Background(), h, steps, ApplyOptions{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if strings.HasPrefix(r.Step, "install -m 0644 /dev/stdin") && r.Detail != "unchanged" {
			t.Errorf("second write of the unit: %s (%s), want skipped as unchanged", r.Status, r.Detail)
		}
	}
}

func TestApplyWithoutSystemd(t *testing.T) {
	root := t.TempDir()
	in, _ := systemInstall(t)
	steps, _ := in.Steps()
	h := newFakeHost()
	h.accounts["gatehouse"] = true
	h.manager = false
	results, err := Apply(context.Background(), h, steps, ApplyOptions{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		manager := strings.HasPrefix(r.Step, "systemctl ")
		switch {
		case manager && (r.Status != StatusSkipped || r.Detail != ErrManagerNotRunning.Error()):
			t.Errorf("%s: %s (%s), want skipped: systemd is not running", r.Step, r.Status, r.Detail)
		case !manager && r.Status != StatusDone:
			t.Errorf("%s: %s (%s), want done", r.Step, r.Status, r.Detail)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "etc/systemd/system/gatehouse.service")); err != nil {
		t.Errorf("unit not written: %v", err)
	}
	if got, want := in.Unit.ManagerCommands(), []string{"systemctl daemon-reload", "systemctl enable --now gatehouse.service"}; !slices.Equal(got, want) {
		t.Errorf("ManagerCommands = %q, want %q", got, want)
	}
}

func TestApplyStopsAtFailure(t *testing.T) {
	root := t.TempDir()
	in, _ := systemInstall(t)
	steps, _ := in.Steps()
	h := newFakeHost()
	h.fail["useradd"] = errors.New("exit status 9")
	h.outputs[strings.Join(steps[0].Argv, " ")] = "useradd: group gatehouse exists"
	results, err := Apply(context.Background(), h, steps, ApplyOptions{Root: root})
	if err == nil || !strings.Contains(err.Error(), "group gatehouse exists") {
		t.Fatalf("Apply = %v, want the useradd failure with its output", err)
	}
	if len(results) != 1 || results[0].Status != StatusFailed {
		t.Errorf("results = %+v, want only the failed useradd", results)
	}
	if _, err := os.Stat(filepath.Join(root, "usr/local/bin/gatehouse")); err == nil {
		t.Error("a step after the failure ran")
	}
}

func TestApplyOffline(t *testing.T) {
	root := t.TempDir()
	in, _ := systemInstall(t)
	steps, _ := in.Steps()
	h := newFakeHost()
	results, err := Apply(context.Background(), h, steps, ApplyOptions{Root: root, Offline: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := h.commands(); len(got) != 0 {
		t.Errorf("offline apply ran %q", got)
	}
	for _, r := range results {
		if r.Status == StatusFailed {
			t.Errorf("%s failed: %s", r.Step, r.Detail)
		}
	}
}

func TestApplyMkdirNeverLoosens(t *testing.T) {
	root := t.TempDir()
	cases := []struct {
		name      string
		have      os.FileMode
		perm      os.FileMode
		wantAfter os.FileMode
	}{
		{"tightens", 0o755, 0o700, 0o700},
		{"keeps_tighter", 0o700, 0o755, 0o700},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(root, c.name)
			if err := os.Mkdir(dir, c.have); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, c.have); err != nil {
				t.Fatal(err)
			}
			_, err := Apply(context.Background(), newFakeHost(), []Step{{Op: OpMkdir, Path: "/" + c.name, Perm: c.perm}}, ApplyOptions{Root: root})
			if err != nil {
				t.Fatal(err)
			}
			if m := mode(t, dir); m != c.wantAfter {
				t.Errorf("mode = %04o, want %04o", m, c.wantAfter)
			}
		})
	}
}

func TestApplyRemove(t *testing.T) {
	root := t.TempDir()
	u := Unit{Mode: ModeUser, Exec: "/usr/bin/gatehouse", StateDir: "/home/a/.gatehouse"}
	path := filepath.Join(root, "home/a/.config/systemd/user/gatehouse.service")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("[Service]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h := newFakeHost()
	steps := UninstallSteps(u, "/home/a/.config/systemd/user")
	if _, err := Apply(context.Background(), h, steps, ApplyOptions{Root: root}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("unit still there: %v", err)
	}
	want := []string{"systemctl --user disable --now gatehouse.service", "systemctl --user daemon-reload"}
	if got := h.commands(); !slices.Equal(got, want) {
		t.Errorf("ran %q, want %q", got, want)
	}
	results, err := Apply(context.Background(), h, steps, ApplyOptions{Root: root, Offline: true})
	if err != nil || results[1].Status != StatusSkipped {
		t.Errorf("removing a removed unit = %+v, %v; want skipped", results, err)
	}
}

func TestProbe(t *testing.T) {
	u := Unit{Mode: ModeSystem}
	const score = "→ Overall exposure level for gatehouse.service: 2.1 OK\n"
	cases := []struct {
		name      string
		installed bool
		manager   bool
		analyzer  bool
		want      Status
	}{
		{"not_installed", false, true, true, Status{Systemd: SystemdRunning}},
		{"no_systemd", true, false, true, Status{Installed: true, Systemd: SystemdNotRunning, Exposure: ptr(2.1)}},
		{"running", true, true, true, Status{Installed: true, Systemd: SystemdRunning, Enabled: "enabled", Active: "active", Exposure: ptr(2.1)}},
		{"no_analyzer", true, true, false, Status{Installed: true, Systemd: SystemdRunning, Enabled: "enabled", Active: "active",
			ExposureError: ErrNoAnalyzer.Error()}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			path := filepath.Join(root, "etc/systemd/system/gatehouse.service")
			if c.installed {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte("[Service]\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			h := newFakeHost()
			h.manager = c.manager
			h.outputs["systemctl is-enabled gatehouse.service"] = "enabled\n"
			h.outputs["systemctl is-active gatehouse.service"] = "active\n"
			h.outputs["systemd-analyze security --offline=true --no-pager "+path] = score
			if !c.analyzer {
				h.fail["systemd-analyze"] = &exec.Error{Name: "systemd-analyze", Err: exec.ErrNotFound}
			}
			got := Probe(context.Background(), h, u, "/etc/systemd/system", root)
			want := c.want
			want.Unit, want.Mode, want.Path = "gatehouse.service", ModeSystem, "/etc/systemd/system/gatehouse.service"
			if !equalStatus(got, want) {
				t.Errorf("Probe = %+v, want %+v", got, want)
			}
		})
	}
}

func ptr(f float64) *float64 { return &f }

func equalStatus(a, b Status) bool {
	if (a.Exposure == nil) != (b.Exposure == nil) || (a.Exposure != nil && *a.Exposure != *b.Exposure) {
		return false
	}
	a.Exposure, b.Exposure = nil, nil
	return a == b
}
