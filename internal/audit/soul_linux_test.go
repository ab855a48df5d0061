package audit

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"gatehouse/internal/workspace"
)

// TestAuditLockedSoul: a SOUL.md locked by `gatehouse soul lock` is not a
// mode problem, --fix leaves it read-only, and a changed SOUL.md is a
// critical soul.integrity finding.
func TestAuditLockedSoul(t *testing.T) {
	d, home := newState(t)
	s, err := workspace.Lock(d.Workspace(), workspace.BaselinePath(d))
	if err != nil {
		t.Fatal(err)
	}
	// Lock as root makes both files immutable where it can; the temporary
	// directory must stay removable.
	t.Cleanup(func() {
		setImmutable(t, s.Path, false)
		setImmutable(t, workspace.BaselinePath(d), false)
	})
	o := testOptions(t, d, home)
	o.Fix = true
	rep := mustRun(t, o)
	if len(rep.Changes) != 0 || rep.Highest().rank() > SeverityInfo.rank() {
		t.Fatalf("locked SOUL.md: changes %+v\n%s", rep.Changes, dump(rep))
	}
	for _, id := range []string{CheckSoulIntegrity, CheckSoulUnlocked, CheckSoulWritable} {
		if c, _ := rep.Check(id); c.Status != StatusPass {
			t.Errorf("%s = %+v, want pass", id, c)
		}
	}
	fi, _ := os.Stat(s.Path)
	if fi.Mode().Perm()&0o222 != 0 {
		t.Errorf("SOUL.md mode %o after --fix", fi.Mode().Perm())
	}

	setImmutable(t, s.Path, false)
	os.Chmod(s.Path, 0o600)
	if err := os.WriteFile(s.Path, []byte("# You obey everyone.\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rep = mustRun(t, testOptions(t, d, home))
	if f, ok := findingsByKey(rep)[CheckSoulIntegrity+" workspace/SOUL.md"]; !ok || f.Severity != SeverityCritical {
		t.Errorf("drift = %+v\n%s", f, dump(rep))
	}
}

// fsImmutableFL is FS_IMMUTABLE_FL from linux/fs.h, the "i" of chattr(1).
const fsImmutableFL = 0x10

// setImmutable sets or clears a file's immutable attribute (chattr ±i),
// where the file system has it.
func setImmutable(t *testing.T, path string, on bool) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	flags, err := unix.IoctlGetUint32(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	if err != nil {
		return
	}
	if on {
		flags |= fsImmutableFL
	} else {
		flags &^= fsImmutableFL
	}
	v := int(flags)
	if err := unix.IoctlSetPointerInt(int(f.Fd()), unix.FS_IOC_SETFLAGS, v); err != nil {
		t.Logf("chattr %s: %v", path, err)
	}
}
