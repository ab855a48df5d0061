//go:build unix

package workspace

import (
	"errors"
	"io/fs"
	"syscall"
)

// openFlags open SOUL.md and the baseline without following a symlink and
// without blocking on a FIFO put in their place.
const openFlags = syscall.O_NOFOLLOW | syscall.O_NONBLOCK | syscall.O_CLOEXEC

// isSymlinkErr reports whether err is what opening a symlink with
// O_NOFOLLOW gives.
func isSymlinkErr(err error) bool { return errors.Is(err, syscall.ELOOP) }

// fileOwnerGroup returns the uid and gid owning the file fi describes.
func fileOwnerGroup(fi fs.FileInfo) (uid, gid int, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, false
	}
	return int(st.Uid), int(st.Gid), true
}
