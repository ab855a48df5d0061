//go:build !linux

package workspace

import (
	"errors"
	"os"
)

// isImmutable: this platform's immutable flags are not read.
func isImmutable(*os.File) bool { return false }

// setImmutable: clearing succeeds, setting is unsupported.
func setImmutable(_ *os.File, on bool) error {
	if on {
		return errors.ErrUnsupported
	}
	return nil
}
