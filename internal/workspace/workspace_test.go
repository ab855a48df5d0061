package workspace

import (
	"os"
	"path/filepath"
	"testing"
)

func TestInit_creates_private_defaults_once(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ws")
	created, err := Init(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(created), len(DefaultFiles); got != want {
		t.Fatalf("created %d files, want %d", got, want)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o700 {
		t.Errorf("dir mode = %o, want 700", got)
	}
	for _, p := range created {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("%s mode = %o, want 600", p, got)
		}
	}
	soul := filepath.Join(dir, "SOUL.md")
	if err := os.WriteFile(soul, []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	again, err := Init(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != 0 {
		t.Errorf("second Init created %v, want nothing", again)
	}
	if b, _ := os.ReadFile(soul); string(b) != "mine" {
		t.Errorf("SOUL.md overwritten: %q", b)
	}
}
