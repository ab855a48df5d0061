package access

import (
	"sync"
	"time"
)

const (
	// rateWindow is the rolling window of the rate limit.
	rateWindow = time.Minute
	// defaultMaxSenders bounds the senders the limiter tracks. Past it the
	// idle ones go first, then the least recently seen: forgetting a
	// sender only ever gives them a fresh allowance.
	defaultMaxSenders = 4096
)

// Limit counts a message from req's sender against Options.RatePerMinute
// messages per rolling minute, per channel account and sender. It reports
// whether the message may pass; when it may not, notify is true for the
// first refusal only, until the sender is allowed again, so the caller
// sends one polite notice rather than one per message. Refused messages do
// not count against the window.
//
// Call it for every message the gate would otherwise act on, pairing
// requests included.
func (g *Gate) Limit(req Request) (allowed, notify bool) {
	return g.limiter.allow(limitKey{req.Channel, req.Account, req.SenderID})
}

type limitKey struct{ channel, account, sender string }

// senderWindow is one sender's recent messages.
type senderWindow struct {
	times    []time.Time // messages allowed in the last window, oldest first; at most rate
	notified bool        // a refusal was reported since the last allowed message
	last     time.Time   // when the last message came, allowed or not
}

// limiter is a sliding-log rate limiter with bounded memory.
type limiter struct {
	now        func() time.Time
	rate       int
	maxSenders int

	mu        sync.Mutex // guards the fields that follow
	senders   map[limitKey]*senderWindow
	lastSweep time.Time
}

func (l *limiter) allow(k limitKey) (allowed, notify bool) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) >= rateWindow {
		l.sweepLocked(now)
	}
	w := l.senders[k]
	if w == nil {
		if len(l.senders) >= l.maxSenders {
			l.sweepLocked(now)
		}
		if len(l.senders) >= l.maxSenders {
			l.evictLocked()
		}
		w = &senderWindow{times: make([]time.Time, 0, l.rate)}
		l.senders[k] = w
	}
	w.last = now
	cutoff := now.Add(-rateWindow)
	i := 0
	for i < len(w.times) && !w.times[i].After(cutoff) {
		i++
	}
	w.times = w.times[:copy(w.times, w.times[i:])]
	if len(w.times) < l.rate {
		w.times = append(w.times, now)
		w.notified = false
		return true, false
	}
	notify = !w.notified
	w.notified = true
	return false, notify
}

// sweepLocked forgets the senders idle for a whole window: none of their
// messages counts any more.
func (l *limiter) sweepLocked(now time.Time) {
	l.lastSweep = now
	cutoff := now.Add(-rateWindow)
	for k, w := range l.senders {
		if !w.last.After(cutoff) {
			delete(l.senders, k)
		}
	}
}

// evictLocked forgets the least recently seen sender.
func (l *limiter) evictLocked() {
	var oldest limitKey
	var at time.Time
	first := true
	for k, w := range l.senders {
		if first || w.last.Before(at) {
			oldest, at, first = k, w.last, false
		}
	}
	delete(l.senders, oldest)
}

// tracked returns how many senders the limiter holds, for tests.
func (l *limiter) tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.senders)
}
