package docker

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// bindFixture is a fake home and state dir with the paths the checks care
// about, plus symlinks that try to smuggle them in.
type bindFixture struct {
	root, home, state string
}

func newBindFixture(t *testing.T) bindFixture {
	t.Helper()
	root := t.TempDir()
	f := bindFixture{root: root, home: filepath.Join(root, "home", "owner"), state: filepath.Join(root, "home", "owner", ".gatehouse")}
	for _, d := range []string{
		".ssh", ".aws", ".config/gcloud", ".gnupg", ".kube", ".docker", "projects/app/src",
		".gatehouse/workspace/sub", ".gatehouse/credentials",
	} {
		if err := os.MkdirAll(filepath.Join(f.home, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(root, "other"), 0o755); err != nil {
		t.Fatal(err)
	}
	links := map[string]string{
		"to-etc":        "/etc",
		"to-etc-passwd": "/etc/passwd",
		"to-ssh":        filepath.Join(f.home, ".ssh"),
		"to-root":       "/",
		"to-state":      f.state,
		"to-project":    filepath.Join(f.home, "projects/app"),
		"to-proc-self":  "/proc/self",
		"to-var-run":    "/var/run",
		"dangling":      filepath.Join(root, "nowhere"),
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func TestCheckBindSource(t *testing.T) {
	f := newBindFixture(t)
	h, st, r := f.home, f.state, f.root
	tests := []struct {
		name      string
		src       string
		wantErr   string // substring; "" means allowed
		wantCanon string // when allowed; "" means src cleaned
	}{
		{"project", h + "/projects/app", "", ""},
		{"project_trailing_slash", h + "/projects/app/", "", h + "/projects/app"},
		{"project_double_slash", h + "//projects//app", "", h + "/projects/app"},
		{"project_dot_dot_stays", h + "/projects/app/src/..", "", h + "/projects/app"},
		{"symlink_to_project", r + "/to-project", "", h + "/projects/app"},
		{"workspace_in_state_dir", st + "/workspace", "", ""},
		{"under_workspace_in_state_dir", st + "/workspace/sub", "", ""},
		{"unrelated_dir", r + "/other", "", ""},
		{"dir_holding_home", r, "contains ~/.ssh", ""},

		{"slash", "/", "contains", ""},
		{"slash_dot_dot", "/tmp/..", "contains", ""},
		{"etc", "/etc", "is /etc", ""},
		{"etc_trailing_slash", "/etc/", "is /etc", ""},
		{"under_etc", "/etc/ssl", "inside /etc", ""},
		{"etc_via_dot_dot", h + "/../../../../../../../etc", "is /etc", ""},
		{"symlink_to_etc", r + "/to-etc", "is /etc", ""},
		{"symlink_to_etc_file", r + "/to-etc-passwd", "inside /etc", ""},
		{"symlink_to_root", r + "/to-root", "contains", ""},
		{"proc", "/proc", "is /proc", ""},
		{"proc_self_via_link", r + "/to-proc-self", "inside /proc", ""},
		{"sys", "/sys/kernel", "inside /sys", ""},
		{"dev", "/dev", "is /dev", ""},
		{"boot", "/boot", "", ""}, // replaced below when it exists
		{"run", "/run", "/run", ""},
		{"var_run_via_link", r + "/to-var-run", "/run", ""},
		{"var", "/var", "contains", ""},
		{"usr_is_fine", "/usr/share", "", ""},
		{"ssh", h + "/.ssh", "~/.ssh", ""},
		{"ssh_trailing_slash", h + "/.ssh/", "~/.ssh", ""},
		{"ssh_via_link", r + "/to-ssh", "~/.ssh", ""},
		{"ssh_via_dot_dot", h + "/projects/../.ssh", "~/.ssh", ""},
		{"aws", h + "/.aws", "~/.aws", ""},
		{"config_subdir", h + "/.config/gcloud", "inside ~/.config", ""},
		{"gnupg", h + "/.gnupg", "~/.gnupg", ""},
		{"kube", h + "/.kube", "~/.kube", ""},
		{"docker_config", h + "/.docker", "~/.docker", ""},
		{"home_itself", h, "contains", ""},
		{"home_parent", filepath.Dir(h), "contains", ""},
		{"state_dir", st, "state directory", ""},
		{"state_dir_via_link", r + "/to-state", "state directory", ""},
		{"state_dir_trailing", st + "/", "state directory", ""},
		{"under_state_dir", st + "/credentials", "inside the gateway state directory", ""},
		{"workspace_dot_dot_escape", st + "/workspace/../credentials", "inside the gateway state directory", ""},
		{"missing", r + "/nowhere", "does not exist", ""},
		{"dangling_link", r + "/dangling", "does not exist", ""},
		{"empty", "", "empty", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "boot" {
				if _, err := os.Stat("/boot"); err != nil {
					t.Skip("no /boot here")
				}
				tt.wantErr = "is /boot"
			}
			if tt.name == "usr_is_fine" {
				if _, err := os.Stat("/usr/share"); err != nil {
					t.Skip("no /usr/share here")
				}
			}
			canon, err := CheckBindSource(tt.src, h, st)
			if tt.wantErr == "" {
				want := tt.wantCanon
				if want == "" {
					want = filepath.Clean(tt.src)
				}
				want, _ = filepath.EvalSymlinks(want)
				if err != nil || canon != want {
					t.Errorf("CheckBindSource(%q) = %q, %v, want %q allowed", tt.src, canon, err, want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("CheckBindSource(%q) = %q, %v, want an error containing %q", tt.src, canon, err, tt.wantErr)
			}
		})
	}
}

func TestCheckBindSourceRefusesSockets(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"docker.sock", "podman.sock", "innocent"} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, name)
			ln, err := net.Listen("unix", p)
			if err != nil {
				t.Skipf("cannot make a unix socket here: %v", err)
			}
			defer ln.Close()
			_, err = CheckBindSource(p, "", "")
			if !errors.Is(err, ErrSensitiveBind) {
				t.Errorf("CheckBindSource(socket %s) = %v, want ErrSensitiveBind", name, err)
			}
			link := p + ".link"
			os.Symlink(p, link)
			if _, err := CheckBindSource(link, "", ""); !errors.Is(err, ErrSensitiveBind) {
				t.Errorf("CheckBindSource(symlink to socket %s) = %v, want ErrSensitiveBind", name, err)
			}
		})
	}
}

func TestCheckBindSourceRootHome(t *testing.T) {
	// When the owner is root, /root is their home: its projects may be
	// mounted, its credential directories and itself may not.
	if _, err := os.Stat("/root"); err != nil {
		t.Skip("no /root")
	}
	dir, err := os.MkdirTemp("/root", "gatehouse-bind-test-")
	if err != nil {
		t.Skipf("cannot write in /root: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if _, err := CheckBindSource(dir, "/root", ""); err != nil {
		t.Errorf("project under root's own home: %v, want allowed", err)
	}
	if _, err := CheckBindSource(dir, "/home/someone", ""); err == nil {
		t.Error("a directory in /root with another home: allowed, want refused")
	}
	if _, err := CheckBindSource("/root", "/root", ""); err == nil {
		t.Error("/root as root's home: allowed, want refused (it holds ~/.ssh)")
	}
}

func TestParseBind(t *testing.T) {
	f := newBindFixture(t)
	proj := filepath.Join(f.home, "projects/app")
	tests := []struct {
		name    string
		spec    string
		want    Bind
		wantErr bool
	}{
		{"default_ro", proj + ":/data", Bind{Source: proj, Target: "/data", ReadOnly: true}, false},
		{"ro", proj + ":/data:ro", Bind{Source: proj, Target: "/data", ReadOnly: true}, false},
		{"rw", proj + ":/data/:rw", Bind{Source: proj, Target: "/data", ReadOnly: false}, false},
		{"bad_mode", proj + ":/data:z", Bind{}, true},
		{"propagation", proj + ":/data:rshared", Bind{}, true},
		{"relative_source", "projects/app:/data", Bind{}, true},
		{"relative_target", proj + ":data", Bind{}, true},
		{"one_part", proj, Bind{}, true},
		{"four_parts", proj + ":/data:ro:x", Bind{}, true},
		{"target_root", proj + ":/", Bind{}, true},
		{"target_proc", proj + ":/proc/sys", Bind{}, true},
		{"target_workspace", proj + ":/workspace", Bind{}, true},
		{"target_under_workspace", proj + ":/workspace/x", Bind{}, true},
		{"target_tmp", proj + ":/tmp", Bind{}, true},
		{"target_dev_via_dots", proj + ":/data/../dev", Bind{}, true},
		{"sensitive_source", "/etc:/data", Bind{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseBind(tt.spec, f.home, f.state)
			if tt.wantErr {
				if err == nil {
					t.Errorf("ParseBind(%q) = %+v, want an error", tt.spec, got)
				}
				return
			}
			want := tt.want
			want.Source, _ = filepath.EvalSymlinks(want.Source)
			if err != nil || got != want {
				t.Errorf("ParseBind(%q) = %+v, %v, want %+v", tt.spec, got, err, want)
			}
		})
	}
}
