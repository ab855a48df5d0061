//go:build unix

package state

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// tree builds a state dir with some wrong modes and returns its root.
func tree(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "state")
	mk := func(p string, mode fs.FileMode) {
		if err := os.Mkdir(filepath.Join(root, p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(root, p), mode); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p string, mode fs.FileMode) {
		if err := os.WriteFile(filepath.Join(root, p), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(root, p), mode); err != nil {
			t.Fatal(err)
		}
	}
	mk(".", 0o755)
	mk("logs", 0o700)
	mk("workspace", 0o750)
	write("gatehouse.json", 0o644)
	write("secret.key", 0o600)
	write("readonly", 0o400)
	write("logs/gatehouse.log", 0o666)
	write("workspace/run.sh", 0o700|fs.ModeSetuid)
	if err := os.Symlink("/etc/passwd", filepath.Join(root, "workspace", "out")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../gatehouse.json", filepath.Join(root, "workspace", "in")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../nowhere", filepath.Join(root, "workspace", "dangling_out")); err != nil {
		t.Fatal(err)
	}
	return root
}

type problem struct {
	Path  string
	Mode  fs.FileMode
	Want  fs.FileMode
	Fixed bool
}

func summarize(root string, ps []ModeProblem) []problem {
	var out []problem
	for _, p := range ps {
		rel, _ := filepath.Rel(root, p.Path)
		out = append(out, problem{Path: rel, Mode: p.Mode, Want: p.Want, Fixed: p.Fixed})
	}
	return out
}

func TestCheckTree(t *testing.T) {
	root := tree(t)
	got, err := CheckTree(root)
	if err != nil {
		t.Fatalf("CheckTree: %v", err)
	}
	want := []problem{
		{Path: ".", Mode: 0o755, Want: 0o700},
		{Path: "gatehouse.json", Mode: 0o644, Want: 0o600},
		{Path: "logs/gatehouse.log", Mode: 0o666, Want: 0o600},
		{Path: "workspace", Mode: 0o750, Want: 0o700},
		{Path: "workspace/dangling_out", Mode: 0o777},
		{Path: "workspace/out", Mode: 0o777},
		{Path: "workspace/run.sh", Mode: 0o700 | fs.ModeSetuid, Want: 0o600},
	}
	if s := summarize(root, got); !slices.Equal(s, want) {
		t.Errorf("CheckTree =\n%+v\nwant\n%+v", s, want)
	}
	for _, p := range got {
		if p.Problem == "" {
			t.Errorf("%s: empty Problem", p.Path)
		}
	}
	if i := slices.IndexFunc(got, func(p ModeProblem) bool { return strings.HasSuffix(p.Path, "/out") }); i < 0 || !strings.Contains(got[i].Problem, "/etc/passwd") {
		t.Errorf("symlink problem does not name its target: %+v", got)
	}
	if i := slices.IndexFunc(got, func(p ModeProblem) bool { return strings.HasSuffix(p.Path, "run.sh") }); i < 0 || !strings.Contains(got[i].Problem, "mode 4700, want 0600") {
		t.Errorf("setuid problem not described as chmod takes it: %+v", got)
	}
}

func TestCheckTree_clean_tree(t *testing.T) {
	d := Dir{Root: filepath.Join(t.TempDir(), "state")}
	if err := d.Ensure(); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(d.Config(), []byte("{}")); err != nil {
		t.Fatal(err)
	}
	got, err := CheckTree(d.Root)
	if err != nil || len(got) != 0 {
		t.Errorf("CheckTree = %+v, %v, want no problems", got, err)
	}
}

func TestCheckTree_symlinked_root(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real")
	if err := os.Mkdir(real, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(real, "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(real, "f"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(real, "f"), filepath.Join(real, "inside")); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	got, err := CheckTree(link)
	if err != nil {
		t.Fatalf("CheckTree: %v", err)
	}
	want := []problem{{Path: "f", Mode: 0o644, Want: 0o600}}
	if s := summarize(link, got); !slices.Equal(s, want) {
		t.Errorf("CheckTree = %+v, want %+v", s, want)
	}
}

func TestCheckTree_missing_root(t *testing.T) {
	_, err := CheckTree(filepath.Join(t.TempDir(), "nope"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("CheckTree = %v, want a not-exist error", err)
	}
}

func TestFixTree(t *testing.T) {
	root := tree(t)
	got, err := FixTree(root)
	if err != nil {
		t.Fatalf("FixTree: %v", err)
	}
	want := []problem{
		{Path: ".", Mode: 0o755, Want: 0o700, Fixed: true},
		{Path: "gatehouse.json", Mode: 0o644, Want: 0o600, Fixed: true},
		{Path: "logs/gatehouse.log", Mode: 0o666, Want: 0o600, Fixed: true},
		{Path: "workspace", Mode: 0o750, Want: 0o700, Fixed: true},
		{Path: "workspace/run.sh", Mode: 0o700 | fs.ModeSetuid, Want: 0o600, Fixed: true},
	}
	if s := summarize(root, got); !slices.Equal(s, want) {
		t.Errorf("FixTree =\n%+v\nwant\n%+v", s, want)
	}
	modes := map[string]fs.FileMode{
		".":                  0o700,
		"gatehouse.json":     0o600,
		"logs/gatehouse.log": 0o600,
		"workspace":          0o700,
		"workspace/run.sh":   0o600,
		"readonly":           0o400,
	}
	for p, want := range modes {
		fi, err := os.Lstat(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode() & (fs.ModePerm | specialBits); got != want {
			t.Errorf("mode of %s = %v, want %v", p, got, want)
		}
	}
	// The symlink's target is not touched.
	fi, err := os.Stat("/etc/passwd")
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm()&0o004 == 0 {
		t.Errorf("/etc/passwd lost its world-read bit: %v", fi.Mode())
	}

	again, err := CheckTree(root)
	if err != nil {
		t.Fatal(err)
	}
	wantAgain := []problem{{Path: "workspace/dangling_out", Mode: 0o777}, {Path: "workspace/out", Mode: 0o777}}
	if s := summarize(root, again); !slices.Equal(s, wantAgain) {
		t.Errorf("CheckTree after FixTree = %+v, want %+v", s, wantAgain)
	}
}

func TestFixTree_unreadable_dir(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads any directory")
	}
	root := filepath.Join(t.TempDir(), "state")
	if err := os.MkdirAll(filepath.Join(root, "logs"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "logs", "x.log"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(root, "logs"), 0o077); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(filepath.Join(root, "logs"), 0o700) })

	checked, err := CheckTree(root)
	if err != nil {
		t.Fatalf("CheckTree: %v", err)
	}
	wantChecked := []problem{{Path: "logs", Mode: 0o077, Want: 0o700}, {Path: "logs"}}
	if s := summarize(root, checked); !slices.Equal(s, wantChecked) {
		t.Errorf("CheckTree = %+v, want %+v", s, wantChecked)
	}

	// FixTree repairs the directory before listing it, so it reaches the file.
	fixed, err := FixTree(root)
	if err != nil {
		t.Fatalf("FixTree: %v", err)
	}
	wantFixed := []problem{{Path: "logs", Mode: 0o077, Want: 0o700, Fixed: true}, {Path: "logs/x.log", Mode: 0o644, Want: 0o600, Fixed: true}}
	if s := summarize(root, fixed); !slices.Equal(s, wantFixed) {
		t.Errorf("FixTree = %+v, want %+v", s, wantFixed)
	}
}

func TestFixTree_leaves_other_owners_alone(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("making a file owned by another user needs root")
	}
	root := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(root, 0o700); err != nil {
		t.Fatal(err)
	}
	soul := filepath.Join(root, "SOUL.md")
	if err := os.WriteFile(soul, nil, 0o444); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(soul, 0o444); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(soul, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	got, err := FixTree(root)
	if err != nil {
		t.Fatalf("FixTree: %v", err)
	}
	if len(got) != 0 {
		t.Errorf("FixTree = %+v, want nothing changed", got)
	}
	left, err := CheckTree(root)
	if err != nil {
		t.Fatal(err)
	}
	want := []problem{{Path: "SOUL.md", Mode: 0o444, Want: 0o600}}
	if s := summarize(root, left); !slices.Equal(s, want) {
		t.Fatalf("CheckTree = %+v, want %+v", s, want)
	}
	if !strings.Contains(left[0].Problem, "owned by uid 65534") {
		t.Errorf("Problem = %q, want it to name the owner", left[0].Problem)
	}
	if m := modeOf(t, soul); m != 0o444 {
		t.Errorf("mode of SOUL.md = %#o, want 0444 left alone", m)
	}
}
