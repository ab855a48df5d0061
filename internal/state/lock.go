package state

import "fmt"

// LockedError reports that another process holds the gateway lock.
type LockedError struct {
	// Path is the lock file.
	Path string
	// PID is the holder's process id, or 0 when the holder had not yet
	// written it.
	PID int
}

func (e *LockedError) Error() string {
	pid := "pid unknown"
	if e.PID > 0 {
		pid = fmt.Sprintf("pid %d", e.PID)
	}
	return fmt.Sprintf("another gateway is running on this state dir (%s, lock %s): stop it with \"gatehouse gateway stop\" or use --profile for a second instance", pid, e.Path)
}
