//go:build !unix

package secret

import (
	"errors"
	"fmt"
)

// lockFile fails: the secret store's lock needs flock(2).
func lockFile(path string) (unlock func(), err error) {
	return nil, fmt.Errorf("lock secret store %s: %w", path, errors.ErrUnsupported)
}
