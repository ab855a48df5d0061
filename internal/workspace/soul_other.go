//go:build !unix

package workspace

import "io/fs"

// openFlags: this platform has no O_NOFOLLOW; the regular-file check
// after opening still applies.
const openFlags = 0

func isSymlinkErr(error) bool { return false }

// fileOwnerGroup: this platform has no uids.
func fileOwnerGroup(fs.FileInfo) (uid, gid int, ok bool) { return 0, 0, false }
