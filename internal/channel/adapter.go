package channel

import (
	"context"
	"sync"
	"time"
)

// This file holds what every adapter needs the same way.

// Health is an adapter's connection state for [Statuser]. The zero value
// is disconnected with no error; it is safe for concurrent use.
type Health struct {
	mu        sync.Mutex // guards connected and lastErr
	connected bool
	lastErr   error
}

// Status reports whether the adapter is connected, and its last error.
func (h *Health) Status() (bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.connected, h.lastErr
}

// Set records the connection state; a nil err keeps the last error.
func (h *Health) Set(connected bool, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.connected = connected
	if err != nil {
		h.lastErr = err
	}
}

// Sleep waits d, or until ctx ends; it reports whether the wait completed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// IgnoreCancel returns nil when ctx has ended (a cancelled Run is not a
// failure), else err.
func IgnoreCancel(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}
