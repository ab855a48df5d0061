//go:build unix

package state

import (
	"path/filepath"
	"syscall"
	"testing"
)

// umask sets the process umask; tests that use it must not run in parallel.
func umask(m int) int { return syscall.Umask(m) }

func TestEnsure_ignores_umask(t *testing.T) {
	// A umask that strips the owner's own bits must not leave an unusable dir.
	d := Dir{Root: filepath.Join(t.TempDir(), "state")}
	old := umask(0o277)
	t.Cleanup(func() { umask(old) })
	if err := d.Ensure(); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	if got := modeOf(t, d.LogDir()); got != 0o700 {
		t.Errorf("mode of logs = %#o, want 0700", got)
	}
}

func TestWriteFileAtomic_ignores_umask(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	old := umask(0o277)
	t.Cleanup(func() { umask(old) })
	if err := WriteFileAtomic(path, []byte("x")); err != nil {
		t.Fatalf("WriteFileAtomic: %v", err)
	}
	if got := modeOf(t, path); got != 0o600 {
		t.Errorf("mode = %#o, want 0600", got)
	}
}
