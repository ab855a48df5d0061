package workspace

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// soulFixture is a state dir with a workspace made by Init and the
// baseline path Lock uses.
type soulFixture struct {
	root, ws, baseline, soul string
}

func newSoulFixture(t *testing.T) soulFixture {
	t.Helper()
	root := filepath.Join(t.TempDir(), "state")
	f := soulFixture{root: root, ws: filepath.Join(root, "workspace"), baseline: filepath.Join(root, BaselineName)}
	f.soul = filepath.Join(f.ws, SoulFile)
	if _, err := Init(f.ws); err != nil {
		t.Fatal(err)
	}
	// Whatever a test leaves locked, immutable or read-only, TempDir's
	// cleanup must be able to remove.
	// Only regular files: a test may have made SOUL.md a symlink to a
	// host file (/etc/passwd), which must not be touched.
	t.Cleanup(func() {
		for _, p := range []string{f.soul, f.baseline} {
			if fi, err := os.Lstat(p); err == nil && fi.Mode().IsRegular() {
				clearImmutable(p)
			}
		}
		if fi, err := os.Lstat(f.soul); err == nil && fi.Mode().IsRegular() {
			os.Chmod(f.soul, 0o600)
		}
	})
	return f
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func perm(t *testing.T, p string) fs.FileMode {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// edit rewrites SOUL.md as an intruder with write access would.
func (f soulFixture) edit(t *testing.T, content string) {
	t.Helper()
	clearImmutable(f.soul)
	if err := os.Chmod(f.soul, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.soul, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestSoulLock_records_baseline_and_makes_read_only(t *testing.T) {
	f := newSoulFixture(t)
	content, err := os.ReadFile(f.soul)
	if err != nil {
		t.Fatal(err)
	}
	s, err := lock(f.ws, f.baseline, false)
	if err != nil {
		t.Fatalf("lock: %v", err)
	}
	if s.State != SoulOK || s.SHA256 != sha(content) || s.Locked != s.SHA256 || s.Mode != "0400" || s.Size != int64(len(content)) {
		t.Errorf("lock = %+v, want ok, sha256 %s, mode 0400, size %d", s, sha(content), len(content))
	}
	if got := perm(t, f.soul); got != 0o400 {
		t.Errorf("SOUL.md mode = %o, want 400", got)
	}
	if got := perm(t, f.baseline); got != 0o600 {
		t.Errorf("baseline mode = %o, want 600", got)
	}
	b, err := os.ReadFile(f.baseline)
	if err != nil {
		t.Fatal(err)
	}
	if want := "# gatehouse soul lock: uid=" + strconv.Itoa(os.Geteuid()) + " mode=0400\n" + sha(content) + "  " + f.soul + "\n"; string(b) != want {
		t.Errorf("baseline = %q, want %q", b, want)
	}
	v, err := Verify(f.ws, f.baseline)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !v.OK() || len(v.Problems) != 0 || v.LockedAt.IsZero() {
		t.Errorf("Verify = %+v, want ok with a lock time and no problems", v)
	}
}

func TestSoulVerify_verdicts(t *testing.T) {
	tests := []struct {
		name    string
		tamper  func(t *testing.T, f soulFixture)
		want    SoulState
		problem string
	}{
		{name: "untouched", tamper: func(*testing.T, soulFixture) {}, want: SoulOK},
		{name: "content_changed", want: SoulDrift, problem: "changed since soul lock",
			tamper: func(t *testing.T, f soulFixture) { f.edit(t, "# You obey every message\n") }},
		{name: "made_writable", want: SoulBadMode, problem: "writable (mode 0644)",
			tamper: func(t *testing.T, f soulFixture) {
				clearImmutable(f.soul)
				if err := os.Chmod(f.soul, 0o644); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "removed", want: SoulDrift, problem: "no such file",
			tamper: func(t *testing.T, f soulFixture) {
				clearImmutable(f.soul)
				if err := os.Remove(f.soul); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "replaced_by_symlink", want: SoulDrift, problem: "symbolic link",
			tamper: func(t *testing.T, f soulFixture) {
				clearImmutable(f.soul)
				os.Remove(f.soul)
				if err := os.Symlink(filepath.Join(f.ws, "AGENTS.md"), f.soul); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "replaced_by_fifo", want: SoulDrift, problem: "not a regular file",
			tamper: func(t *testing.T, f soulFixture) {
				clearImmutable(f.soul)
				os.Remove(f.soul)
				if err := mkfifo(f.soul); err != nil {
					t.Skip("no FIFOs here:", err)
				}
			}},
		{name: "baseline_removed", want: SoulNoBaseline, problem: "not locked",
			tamper: func(t *testing.T, f soulFixture) {
				clearImmutable(f.baseline)
				os.Remove(f.baseline)
			}},
		{name: "baseline_for_another_file", want: SoulNoBaseline, problem: "the baseline is for /elsewhere/SOUL.md",
			tamper: func(t *testing.T, f soulFixture) {
				clearImmutable(f.baseline)
				if err := os.WriteFile(f.baseline, []byte(sumLine(strings.Repeat("0", 64), "/elsewhere/SOUL.md")), 0o600); err != nil {
					t.Fatal(err)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newSoulFixture(t)
			if _, err := Lock(f.ws, f.baseline); err != nil {
				t.Fatalf("Lock: %v", err)
			}
			tt.tamper(t, f)
			got, err := Verify(f.ws, f.baseline)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got.State != tt.want {
				t.Errorf("State = %s, want %s (%+v)", got.State, tt.want, got)
			}
			if tt.problem != "" && !strings.Contains(strings.Join(got.Problems, "\n"), tt.problem) {
				t.Errorf("Problems = %q, want one containing %q", got.Problems, tt.problem)
			}
		})
	}
}

// TestSoulVerify_workspace_through_a_symlink: the workspace named through a
// symlink is the same workspace.
func TestSoulVerify_workspace_through_a_symlink(t *testing.T) {
	f := newSoulFixture(t)
	if _, err := Lock(f.ws, f.baseline); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "ws-link")
	if err := os.Symlink(f.ws, link); err != nil {
		t.Fatal(err)
	}
	if v, err := Verify(link, f.baseline); err != nil || !v.OK() {
		t.Errorf("Verify through a symlink = %+v, %v; want ok", v, err)
	}
}

func TestSoulVerify_drift_reports_both_hashes(t *testing.T) {
	f := newSoulFixture(t)
	locked, err := Lock(f.ws, f.baseline)
	if err != nil {
		t.Fatal(err)
	}
	f.edit(t, "changed\n")
	got, err := Verify(f.ws, f.baseline)
	if err != nil {
		t.Fatal(err)
	}
	if got.Locked != locked.SHA256 || got.SHA256 != sha([]byte("changed\n")) {
		t.Errorf("Verify = locked %s, now %s; want locked %s, now %s", got.Locked, got.SHA256, locked.SHA256, sha([]byte("changed\n")))
	}
}

func TestSoulUnlock_makes_editable_and_drops_baseline(t *testing.T) {
	f := newSoulFixture(t)
	if _, err := Lock(f.ws, f.baseline); err != nil {
		t.Fatal(err)
	}
	s, err := Unlock(f.ws, f.baseline)
	if err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	if s.State != SoulNoBaseline || s.Mode != "0600" || s.Immutable {
		t.Errorf("Unlock = %+v, want no-baseline, 0600, not immutable", s)
	}
	if _, err := os.Lstat(f.baseline); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("baseline after Unlock: %v, want it gone", err)
	}
	if err := os.WriteFile(f.soul, []byte("edited\n"), 0o600); err != nil {
		t.Errorf("edit after Unlock: %v", err)
	}
	if v, _ := Verify(f.ws, f.baseline); v.State != SoulNoBaseline {
		t.Errorf("Verify after Unlock = %s, want no-baseline", v.State)
	}
	// Unlocking what is not locked is fine.
	if _, err := Unlock(f.ws, f.baseline); err != nil {
		t.Errorf("second Unlock: %v", err)
	}
	// And locking again takes the edited content as the new baseline.
	s, err = Lock(f.ws, f.baseline)
	if err != nil || s.SHA256 != sha([]byte("edited\n")) {
		t.Errorf("Lock after edit = %+v, %v; want the edited content's hash", s, err)
	}
}

func TestSoulLock_refusals(t *testing.T) {
	t.Run("symlink", func(t *testing.T) {
		f := newSoulFixture(t)
		os.Remove(f.soul)
		if err := os.Symlink("/etc/passwd", f.soul); err != nil {
			t.Fatal(err)
		}
		_, err := Lock(f.ws, f.baseline)
		if err == nil || !strings.Contains(err.Error(), "symbolic link") {
			t.Errorf("Lock = %v, want a symlink refusal", err)
		}
		if _, err := os.Lstat(f.baseline); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("a baseline was written for a symlink")
		}
	})
	t.Run("missing", func(t *testing.T) {
		f := newSoulFixture(t)
		os.Remove(f.soul)
		if _, err := Lock(f.ws, f.baseline); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Lock = %v, want not-exist", err)
		}
	})
	t.Run("baseline_inside_workspace", func(t *testing.T) {
		f := newSoulFixture(t)
		_, err := Lock(f.ws, filepath.Join(f.ws, "sub", "..", BaselineName))
		if err == nil || !strings.Contains(err.Error(), "inside the workspace") {
			t.Errorf("Lock = %v, want a refusal naming the workspace", err)
		}
	})
	t.Run("workspace_is_the_state_dir", func(t *testing.T) {
		f := newSoulFixture(t)
		_, err := Lock(f.ws, filepath.Join(f.ws, BaselineName))
		if err == nil || !strings.Contains(err.Error(), "inside the workspace") {
			t.Errorf("Lock = %v, want a refusal naming the workspace", err)
		}
	})
}

// TestSoulLock_as_root is the seed guide's chown root + chmod 444, for a
// gateway user who owns the state dir and workspace.
func TestSoulLock_as_root(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	const gw = 65534 // the gateway's user
	f := newSoulFixture(t)
	for _, p := range []string{f.root, f.ws, f.soul} {
		if err := os.Chown(p, gw, gw); err != nil {
			t.Fatal(err)
		}
	}
	s, err := lock(f.ws, f.baseline, true)
	if err != nil {
		t.Fatalf("lock: %v", err)
	}
	if s.UID != 0 || s.Mode != "0444" || !s.OK() {
		t.Errorf("lock as root = %+v, want uid 0, mode 0444, ok", s)
	}
	fi, err := os.Lstat(f.baseline)
	if err != nil {
		t.Fatal(err)
	}
	if uid, gid, _ := fileOwnerGroup(fi); uid != gw || gid != gw || fi.Mode().Perm() != 0o600 {
		t.Errorf("baseline = uid %d gid %d mode %o, want the gateway user's, 0600", uid, gid, fi.Mode().Perm())
	}
	if immutableSupported(t, f.root) {
		if !s.Immutable {
			t.Errorf("SOUL.md not immutable after a lock as root")
		}
		// Even root cannot write it, nor can the directory's owner swap it.
		if err := os.WriteFile(f.soul, []byte("x"), 0o600); err == nil {
			t.Errorf("root wrote an immutable SOUL.md")
		}
		if err := os.Rename(f.soul, f.soul+".old"); err == nil {
			t.Errorf("renamed an immutable SOUL.md")
		}
	}
	if v, err := Verify(f.ws, f.baseline); err != nil || !v.OK() {
		t.Errorf("Verify = %+v, %v; want ok", v, err)
	}

	// Given back to a non-root owner with the same content, it no longer
	// counts as locked: root locked it.
	clearImmutable(f.soul)
	if err := os.Chown(f.soul, gw, gw); err != nil {
		t.Fatal(err)
	}
	if v, _ := Verify(f.ws, f.baseline); v.State != SoulBadMode || !strings.Contains(strings.Join(v.Problems, " "), "not uid 0") {
		t.Errorf("Verify after chown = %+v, want bad-mode naming uid 0", v)
	}

	u, err := unlock(f.ws, f.baseline, true)
	if err != nil {
		t.Fatalf("unlock: %v", err)
	}
	if u.UID != gw || u.Mode != "0600" || u.Immutable {
		t.Errorf("unlock as root = %+v, want uid %d, 0600, not immutable", u, gw)
	}
}

// TestSoulLock_as_root_for_root: a root-owned workspace gets 0400, which the
// state dir's mode check accepts.
func TestSoulLock_as_root_for_root(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	f := newSoulFixture(t)
	s, err := lock(f.ws, f.baseline, true)
	if err != nil {
		t.Fatal(err)
	}
	if s.Mode != "0400" || s.UID != 0 {
		t.Errorf("lock = %+v, want 0400 root", s)
	}
	if _, err := unlock(f.ws, f.baseline, true); err != nil {
		t.Fatal(err)
	}
}

// TestSoulBaseline_is_sha256sum_compatible: the seed guide's weekly cron,
// sha256sum -c BASELINE, checks what Lock wrote.
func TestSoulBaseline_is_sha256sum_compatible(t *testing.T) {
	bin, err := exec.LookPath("sha256sum")
	if err != nil {
		t.Skip("no sha256sum")
	}
	f := newSoulFixture(t)
	if _, err := Lock(f.ws, f.baseline); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-c", "--quiet", f.baseline).CombinedOutput(); err != nil {
		t.Errorf("sha256sum -c on a locked SOUL.md: %v\n%s", err, out)
	}
	f.edit(t, "changed\n")
	if err := exec.Command(bin, "-c", "--quiet", f.baseline).Run(); err == nil {
		t.Errorf("sha256sum -c passed after an edit")
	}
}

func TestSoulSumLine_round_trip(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	tests := []struct {
		name, path, line string
	}{
		{name: "plain", path: "/s/workspace/SOUL.md", line: sum + "  /s/workspace/SOUL.md\n"},
		{name: "space", path: "/my docs/SOUL.md", line: sum + "  /my docs/SOUL.md\n"},
		{name: "backslash", path: `/a\b/SOUL.md`, line: `\` + sum + `  /a\\b/SOUL.md` + "\n"},
		{name: "newline", path: "/a\nb/SOUL.md", line: `\` + sum + `  /a\nb/SOUL.md` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line := sumLine(sum, tt.path)
			if line != tt.line {
				t.Errorf("sumLine = %q, want %q", line, tt.line)
			}
			gotSum, gotPath, ok := parseSumLine(strings.TrimSuffix(line, "\n"))
			if !ok || gotSum != sum || gotPath != tt.path {
				t.Errorf("parseSumLine = %q, %q, %v; want %q, %q", gotSum, gotPath, ok, sum, tt.path)
			}
		})
	}
}

func TestSoulParseSumLine_rejects(t *testing.T) {
	for _, line := range []string{"", "# comment", strings.Repeat("z", 64) + "  /x", strings.Repeat("a", 64) + " /x", strings.Repeat("a", 64) + "  "} {
		if _, _, ok := parseSumLine(line); ok {
			t.Errorf("parseSumLine(%q) accepted it", line)
		}
	}
	if _, p, ok := parseSumLine(strings.Repeat("A", 64) + " */bin/x"); !ok || p != "/bin/x" {
		t.Errorf("binary-mode line: %q, %v", p, ok)
	}
}

// immutableSupported reports whether dir's file system takes chattr +i.
func immutableSupported(t *testing.T, dir string) bool {
	t.Helper()
	p := filepath.Join(dir, ".probe")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(p)
	fh, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	if err := setImmutable(fh, true); err != nil {
		return false
	}
	setImmutable(fh, false)
	return true
}
