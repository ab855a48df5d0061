package sandbox

import "sync"

// OutputBuffer is an io.Writer that keeps the first bytes written to it,
// up to a cap, and drops (but keeps accepting) the rest, so a command that
// prints gigabytes costs at most the cap in memory and is never blocked or
// killed by a full pipe. Both backends collect Result.Output with it.
//
// It is safe for concurrent use, so stdout and stderr may share one.
type OutputBuffer struct {
	mu      sync.Mutex // guards the fields that follow
	max     int
	buf     []byte
	dropped int64
}

// NewOutputBuffer returns a buffer that keeps at most max bytes;
// max <= 0 means DefaultMaxOutput.
func NewOutputBuffer(max int) *OutputBuffer {
	if max <= 0 {
		max = DefaultMaxOutput
	}
	return &OutputBuffer{max: max}
}

// Write keeps what fits under the cap and counts the rest. It never fails.
func (b *OutputBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	keep := min(len(p), b.max-len(b.buf))
	b.buf = append(b.buf, p[:keep]...)
	b.dropped += int64(len(p) - keep)
	return len(p), nil
}

// Bytes returns a copy of the bytes kept.
func (b *OutputBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]byte(nil), b.buf...)
}

// Truncated reports whether bytes were dropped past the cap.
func (b *OutputBuffer) Truncated() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.dropped > 0
}

// Dropped returns how many bytes were dropped past the cap.
func (b *OutputBuffer) Dropped() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.dropped
}
