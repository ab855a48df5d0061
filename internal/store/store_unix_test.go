//go:build unix

package store

import (
	"path/filepath"
	"syscall"
	"testing"
)

// TestFileModesLooseUmask opens a new database under umask 022, where files
// would be 0644 unless Open (and SQLite) set them.
//
// It changes the process umask, so it must not run in parallel.
func TestFileModesLooseUmask(t *testing.T) {
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.SetMeta(t.Context(), "k", "v"); err != nil {
		t.Fatal(err)
	}
	assertModes(t, path)
}
