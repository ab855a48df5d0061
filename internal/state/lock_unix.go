//go:build unix

package state

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Lock is a held single-gateway lock: an exclusive flock(2) on the lock
// file, which names the holder's PID. The kernel drops the lock when the
// process exits, however it exits, so a stale file never blocks a restart.
// A Lock is not safe for concurrent use.
type Lock struct {
	f    *os.File
	path string
}

// TryLock takes the lock at path without waiting, creating the file with
// mode 0600 if needed, and writes this process's PID into it. When another
// process (or another open file in this one) holds the lock, it returns a
// *[LockedError] naming the holder.
//
// The file is never removed, not even by [Lock.Close]: removing a lock file
// lets two processes lock two different files.
func TryLock(path string) (*Lock, error) {
	// Retry when the path was replaced between open and flock, so the
	// lock we hold is always on the file the path names.
	for range 3 {
		f, err := openLockFile(path, os.O_RDWR|os.O_CREATE)
		if err != nil {
			return nil, err
		}
		if err := flock(f, unix.LOCK_EX|unix.LOCK_NB); err != nil {
			pid := readPID(f)
			f.Close()
			if errors.Is(err, unix.EWOULDBLOCK) {
				return nil, &LockedError{Path: path, PID: pid}
			}
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		same, err := sameFile(f, path)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if !same {
			f.Close()
			continue
		}
		if err := writePID(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		return &Lock{f: f, path: path}, nil
	}
	return nil, fmt.Errorf("lock %s: the file keeps being replaced: check what else writes to the state dir", path)
}

// Close clears the PID from the lock file and releases the lock. Calling it
// again does nothing.
func (l *Lock) Close() error {
	if l == nil || l.f == nil {
		return nil
	}
	f := l.f
	l.f = nil
	// Clear the PID while still holding the lock, so a new holder's PID
	// is never wiped.
	errTrunc := f.Truncate(0)
	errUnlock := flock(f, unix.LOCK_UN)
	errClose := f.Close()
	if err := errors.Join(errTrunc, errUnlock, errClose); err != nil {
		return fmt.Errorf("release lock %s: %w", l.path, err)
	}
	return nil
}

// LockHolder reports who holds the lock at path: the holder's PID, or 0 and
// nil when nobody does (including when the file does not exist). It probes
// with a shared flock on a fresh open file, which it releases at once, so
// it also sees a lock held by this process.
func LockHolder(path string) (pid int, err error) {
	f, err := openLockFile(path, os.O_RDONLY)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	err = flock(f, unix.LOCK_SH|unix.LOCK_NB)
	if err == nil {
		return 0, flock(f, unix.LOCK_UN)
	}
	if !errors.Is(err, unix.EWOULDBLOCK) {
		return 0, fmt.Errorf("probe lock %s: %w", path, err)
	}
	if pid = readPID(f); pid <= 0 {
		return 0, fmt.Errorf("lock %s is held but does not name its holder yet: try again", path)
	}
	return pid, nil
}

func openLockFile(path string, flag int) (*os.File, error) {
	f, err := os.OpenFile(path, flag|unix.O_NOFOLLOW|unix.O_CLOEXEC, FileMode)
	if errors.Is(err, unix.ELOOP) {
		return nil, fmt.Errorf("lock file %s is a symlink: remove it", path)
	}
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("lock file %s is not a regular file: remove it", path)
	}
	return f, nil
}

func flock(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// sameFile reports whether path still names the open file f.
func sameFile(f *os.File, path string) (bool, error) {
	var open, named unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &open); err != nil {
		return false, err
	}
	if err := unix.Lstat(path, &named); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, err
	}
	return open.Dev == named.Dev && open.Ino == named.Ino, nil
}

func writePID(f *os.File) error {
	if err := f.Chmod(FileMode); err != nil {
		return err
	}
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return err
}

func readPID(f *os.File) int {
	buf := make([]byte, 32)
	n, _ := f.ReadAt(buf, 0)
	pid, err := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}
