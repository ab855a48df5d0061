package channel

import (
	"context"
	"errors"
	"log/slog"
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

// Retry is how an adapter repeats a platform request that failed: with a
// backoff from 1 s doubling to 60 s, or the platform's own wait when the
// error is a *RetryAfterError, until it succeeds, ctx ends, or Fatal says
// the error will not go away (a refused token).
type Retry struct {
	Health *Health
	Log    *slog.Logger
	// Event is the log message of a failed attempt ("bot api request failed").
	Event string
	// Fatal reports errors that retrying cannot fix; nil means none.
	Fatal func(error) bool
	// MarkUp sets Health connected after a success.
	MarkUp bool
}

// Retry bounds.
const (
	retryMin = time.Second
	retryMax = 60 * time.Second
)

// Do runs f until it succeeds, fails fatally, or ctx ends; what names the
// request in the log.
func (r Retry) Do(ctx context.Context, what string, f func() error) error {
	wait := retryMin
	for {
		err := f()
		if err == nil {
			if r.MarkUp {
				r.Health.Set(true, nil)
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.Health.Set(false, err)
		if r.Fatal != nil && r.Fatal(err) {
			return err
		}
		d := wait
		var ra *RetryAfterError
		if errors.As(err, &ra) {
			d = ra.After
		} else {
			wait = min(2*wait, retryMax)
		}
		r.Log.Warn(r.Event, logKeyRequest, what, logKeyRetryIn, d, logKeyError, err)
		if !Sleep(ctx, d) {
			return ctx.Err()
		}
	}
}
