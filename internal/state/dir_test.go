package state

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	home := "/home/owner"
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == EnvStateDir {
				return v
			}
			return ""
		}
	}
	tests := []struct {
		name    string
		flagDir string
		profile string
		getenv  func(string) string
		home    string
		want    string
	}{
		{name: "default", getenv: env(""), home: home, want: "/home/owner/.gatehouse"},
		{name: "nil_getenv", home: home, want: "/home/owner/.gatehouse"},
		{name: "profile", profile: "work", getenv: env(""), home: home, want: "/home/owner/.gatehouse-work"},
		{name: "env_beats_profile", profile: "work", getenv: env("/srv/gh"), home: home, want: "/srv/gh"},
		{name: "flag_beats_env", flagDir: "/opt/gh", getenv: env("/srv/gh"), home: home, want: "/opt/gh"},
		{name: "flag_is_cleaned", flagDir: "/opt//gh/../gh2/", home: home, want: "/opt/gh2"},
		{name: "relative_flag_made_absolute", flagDir: "rel/dir", home: home, want: filepath.Join(wd, "rel/dir")},
		{name: "tilde_flag", flagDir: "~/gh", home: home, want: "/home/owner/gh"},
		{name: "tilde_env", getenv: env("~"), home: home, want: "/home/owner"},
		{name: "longest_profile", profile: strings.Repeat("a", 32), home: home, want: "/home/owner/.gatehouse-" + strings.Repeat("a", 32)},
		{name: "profile_with_digits_dash_underscore", profile: "0a_b-c", home: home, want: "/home/owner/.gatehouse-0a_b-c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Resolve(tt.flagDir, tt.profile, tt.getenv, tt.home)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if got.Root != tt.want {
				t.Errorf("Root = %q, want %q", got.Root, tt.want)
			}
		})
	}
}

func TestResolve_errors(t *testing.T) {
	tests := []struct {
		name    string
		flagDir string
		profile string
		home    string
		want    string
	}{
		{name: "uppercase_profile", profile: "Work", home: "/h", want: "^[a-z0-9][a-z0-9_-]{0,31}$"},
		{name: "profile_with_slash", profile: "../etc", home: "/h", want: "^[a-z0-9][a-z0-9_-]{0,31}$"},
		{name: "profile_too_long", profile: strings.Repeat("a", 33), home: "/h", want: "^[a-z0-9][a-z0-9_-]{0,31}$"},
		{name: "profile_starts_with_dash", profile: "-x", home: "/h", want: "^[a-z0-9][a-z0-9_-]{0,31}$"},
		{name: "bad_profile_even_with_flag", flagDir: "/x", profile: "A", home: "/h", want: "profile name"},
		{name: "no_home", want: "home directory"},
		{name: "tilde_without_home", flagDir: "~/x", want: "home directory is unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Resolve(tt.flagDir, tt.profile, nil, tt.home)
			if err == nil {
				t.Fatalf("Resolve = %+v, want an error containing %q", got, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestDir_paths(t *testing.T) {
	d := Dir{Root: "/s"}
	tests := []struct {
		name string
		got  string
		want string
	}{
		{name: "config", got: d.Config(), want: "/s/gatehouse.json"},
		{name: "database", got: d.Database(), want: "/s/gatehouse.db"},
		{name: "log_dir", got: d.LogDir(), want: "/s/logs"},
		{name: "log", got: d.Log(), want: "/s/logs/gatehouse.log"},
		{name: "secrets", got: d.Secrets(), want: "/s/secrets.age"},
		{name: "secret_key", got: d.SecretKey(), want: "/s/secret.key"},
		{name: "lock", got: d.Lock(), want: "/s/gateway.lock"},
		{name: "workspace", got: d.Workspace(), want: "/s/workspace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

func modeOf(t *testing.T, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestEnsure_creates_private_dirs(t *testing.T) {
	d := Dir{Root: filepath.Join(t.TempDir(), "a", "state")}
	if err := d.Ensure(); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	for _, p := range []string{filepath.Dir(d.Root), d.Root, d.LogDir()} {
		if got := modeOf(t, p); got != 0o700 {
			t.Errorf("mode of %s = %#o, want 0700", p, got)
		}
	}
	if err := d.Ensure(); err != nil {
		t.Errorf("second Ensure: %v", err)
	}
}

func TestEnsure_never_loosens_existing(t *testing.T) {
	root := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(root, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(root, 0o700) })
	if err := os.Chmod(root, 0o500); err != nil {
		t.Fatal(err)
	}
	err := Dir{Root: root}.Ensure()
	if got := modeOf(t, root); got != 0o500 {
		t.Errorf("mode of existing root = %#o, want 0500 kept (Ensure error: %v)", got, err)
	}
}

func TestEnsure_root_is_a_file(t *testing.T) {
	root := filepath.Join(t.TempDir(), "state")
	if err := os.WriteFile(root, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	err := Dir{Root: root}.Ensure()
	if err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("Ensure = %v, want a not-a-directory error", err)
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gatehouse.json")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(path, []byte("new")); err != nil {
		t.Fatalf("WriteFileAtomic: %v", err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "new" {
		t.Errorf("content = %q, want %q", got, "new")
	}
	if mode := modeOf(t, path); mode != 0o600 {
		t.Errorf("mode = %#o, want 0600", mode)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("dir holds %d entries, want 1 (temporary file left behind?)", len(entries))
	}
}

func TestWriteFileAtomic_missing_dir(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope", "f")
	if err := WriteFileAtomic(path, []byte("x")); err == nil {
		t.Error("WriteFileAtomic into a missing directory succeeded, want an error")
	}
}
