// Package state owns the gateway's state directory: where it is
// (~/.gatehouse, ~/.gatehouse-PROFILE, GATEHOUSE_STATE_DIR or a flag), what
// lives in it, the permissions everything in it must have (directories 0700,
// files 0600), and the lock that lets only one gateway run per directory.
//
// Every package that writes under the state directory creates directories
// with [MkdirPrivate] and files with [WriteFileAtomic]; doctor and the
// security audit check and repair the tree with [CheckTree] and [FixTree].
package state
