package native

import (
	"testing"

	"golang.org/x/sys/unix"

	"gatehouse/internal/sandbox"
)

func TestCloneNamespaceFlags(t *testing.T) {
	want := unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC |
		unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET
	if sandbox.CloneNamespaceFlags != want {
		t.Errorf("CloneNamespaceFlags = %#x, want %#x", sandbox.CloneNamespaceFlags, want)
	}
}
