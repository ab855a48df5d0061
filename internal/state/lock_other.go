//go:build !unix

package state

import (
	"errors"
	"fmt"
)

// Lock is a held single-gateway lock. This platform has none.
type Lock struct{}

// TryLock returns [errors.ErrUnsupported]: the gateway lock needs flock(2).
func TryLock(path string) (*Lock, error) {
	return nil, fmt.Errorf("lock %s: %w", path, errors.ErrUnsupported)
}

// Close does nothing.
func (l *Lock) Close() error { return nil }

// LockHolder returns [errors.ErrUnsupported]: the gateway lock needs flock(2).
func LockHolder(path string) (int, error) {
	return 0, fmt.Errorf("probe lock %s: %w", path, errors.ErrUnsupported)
}
