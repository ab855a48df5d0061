//go:build unix

package cli

import "syscall"

// privateUmask makes every file and directory the process creates private to
// its user (0600 / 0700), whatever the caller's umask.
func privateUmask() { syscall.Umask(0o077) }
