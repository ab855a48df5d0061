package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"sync"
)

// Log file limits.
const (
	// subscriberBuffer is how many lines wait for a slow subscriber before
	// newer ones are dropped for it.
	subscriberBuffer = 256
	// maxPartialLine bounds a line kept while its newline has not come.
	maxPartialLine = 1 << 20
	// maxTailBytes bounds what Tail reads from the end of the file.
	maxTailBytes = 4 << 20
	// tailChunk is how much Tail reads at a time, backwards.
	tailChunk = 64 << 10
)

// LogHub is the gateway's log file: an io.Writer for a slog JSON handler that
// appends to the file, rotates it, and passes every complete line to
// subscribers (logs.tail with follow). It is safe for concurrent use.
type LogHub struct {
	path     string
	maxBytes int64
	keep     int

	// mu guards the fields that follow, and orders writes, rotation and
	// subscriptions so that a tail followed by a subscription misses no line.
	mu      sync.Mutex
	f       *os.File
	size    int64
	partial []byte
	subs    map[chan string]struct{}
	closed  bool
}

// OpenLogHub opens (creating, 0600) the log file at path, whose directory
// must exist. When the file passes maxBytes it is renamed path.1, the older
// path.1 … path.keep-1 shift up, and path.keep is dropped.
func OpenLogHub(path string, maxBytes int64, keep int) (*LogHub, error) {
	if maxBytes <= 0 {
		return nil, fmt.Errorf("log file size limit %d: want more than 0", maxBytes)
	}
	h := &LogHub{path: path, maxBytes: maxBytes, keep: max(keep, 0), subs: make(map[chan string]struct{})}
	if err := h.openLocked(); err != nil {
		return nil, err
	}
	return h, nil
}

func (h *LogHub) openLocked() error {
	f, err := os.OpenFile(h.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open log file: %w", err)
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("restrict log file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("stat log file: %w", err)
	}
	h.f, h.size = f, st.Size()
	return nil
}

// Write appends p to the file and passes the complete lines in it to the
// subscribers. It rotates the file once it passes the size limit at a line
// end.
func (h *LogHub) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return 0, os.ErrClosed
	}
	if h.f == nil {
		// A failed rotation left no file: try again.
		if err := h.openLocked(); err != nil {
			return 0, err
		}
	}
	n, err := h.f.Write(p)
	h.size += int64(n)
	h.broadcastLocked(p[:n])
	if err != nil {
		return n, fmt.Errorf("write log file: %w", err)
	}
	if h.size >= h.maxBytes && len(h.partial) == 0 {
		if err := h.rotateLocked(); err != nil {
			return n, err
		}
	}
	return n, nil
}

func (h *LogHub) broadcastLocked(p []byte) {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			h.partial = append(h.partial, p...)
			if len(h.partial) > maxPartialLine {
				h.sendLocked(string(h.partial))
				h.partial = h.partial[:0]
			}
			return
		}
		var line string
		if len(h.partial) > 0 {
			line = string(append(h.partial, p[:i]...))
			h.partial = h.partial[:0]
		} else {
			line = string(p[:i])
		}
		h.sendLocked(line)
		p = p[i+1:]
	}
}

func (h *LogHub) sendLocked(line string) {
	for ch := range h.subs {
		select {
		case ch <- line:
		default: // a slow subscriber loses lines; the writer never waits
		}
	}
}

func (h *LogHub) rotateLocked() error {
	if err := h.f.Close(); err != nil {
		h.f = nil
		return fmt.Errorf("close log file for rotation: %w", err)
	}
	h.f = nil
	if h.keep == 0 {
		if err := os.Remove(h.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("rotate log file: %w", err)
		}
	} else {
		for i := h.keep - 1; i >= 1; i-- {
			err := os.Rename(h.backup(i), h.backup(i+1))
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("rotate log file: %w", err)
			}
		}
		if err := os.Rename(h.path, h.backup(1)); err != nil {
			return fmt.Errorf("rotate log file: %w", err)
		}
	}
	return h.openLocked()
}

func (h *LogHub) backup(i int) string { return h.path + "." + strconv.Itoa(i) }

// Subscribe returns a channel that receives every complete line written from
// now on, and a function that ends the subscription. A subscriber that falls
// 256 lines behind loses lines. The channel is closed by cancel or Close.
func (h *LogHub) Subscribe() (lines <-chan string, cancel func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.subscribeLocked()
}

func (h *LogHub) subscribeLocked() (<-chan string, func()) {
	ch := make(chan string, subscriberBuffer)
	if h.closed {
		close(ch)
		return ch, func() {}
	}
	h.subs[ch] = struct{}{}
	return ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if _, ok := h.subs[ch]; ok {
			delete(h.subs, ch)
			close(ch)
		}
	}
}

// tailSubscribe returns the last n lines and a subscription to the lines
// after them, with none lost or repeated in between.
func (h *LogHub) tailSubscribe(n int) ([]string, <-chan string, func(), error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	lines, err := tailFile(h.path, n)
	if err != nil {
		return nil, nil, nil, err
	}
	ch, cancel := h.subscribeLocked()
	return lines, ch, cancel, nil
}

// Tail returns the last n complete lines of the current file, oldest first.
func (h *LogHub) Tail(n int) ([]string, error) {
	return tailFile(h.path, n)
}

// tailFile reads path backwards in chunks until it has n complete lines, the
// start of the file, or maxTailBytes.
func tailFile(path string, n int) ([]string, error) {
	if n <= 0 {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open log file: %w", err)
	}
	defer f.Close()
	end, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, fmt.Errorf("seek log file: %w", err)
	}
	var chunks [][]byte // read backwards: the last chunk of the file first
	newlines := 0
	off := end
	for off > 0 && end-off < maxTailBytes && newlines <= n {
		size := min(int64(tailChunk), off, maxTailBytes-(end-off))
		off -= size
		chunk := make([]byte, size)
		if _, err := f.ReadAt(chunk, off); err != nil {
			return nil, fmt.Errorf("read log file: %w", err)
		}
		newlines += bytes.Count(chunk, []byte{'\n'})
		chunks = append(chunks, chunk)
	}
	slices.Reverse(chunks)
	buf := bytes.Join(chunks, nil)
	// Drop a line still being written, and one cut at the start.
	if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
		buf = buf[:i]
	} else {
		return nil, nil
	}
	if off > 0 {
		i := bytes.IndexByte(buf, '\n')
		if i < 0 {
			return nil, nil
		}
		buf = buf[i+1:]
	}
	all := bytes.Split(buf, []byte{'\n'})
	if len(all) > n {
		all = all[len(all)-n:]
	}
	out := make([]string, len(all))
	for i, l := range all {
		out[i] = string(l)
	}
	return out, nil
}

// Close closes the file and ends every subscription.
func (h *LogHub) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	h.closed = true
	for ch := range h.subs {
		delete(h.subs, ch)
		close(ch)
	}
	if h.f == nil {
		return nil
	}
	if err := h.f.Close(); err != nil {
		return fmt.Errorf("close log file: %w", err)
	}
	return nil
}
