//go:build !unix

package state

import "io/fs"

// fileOwner reports no owner: this platform has no uids.
func fileOwner(fs.FileInfo) (int, bool) { return 0, false }
