//go:build unix

package secret

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"gatehouse/internal/state"
)

// lockFile waits for an exclusive flock(2) on path, creating it with mode
// 0600, and returns the function that releases it.
func lockFile(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, state.FileMode)
	if err != nil {
		return nil, fmt.Errorf("lock secret store: %w", err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock secret store %s: %w", path, err)
	}
	// Closing the file releases the lock.
	return func() { f.Close() }, nil
}
