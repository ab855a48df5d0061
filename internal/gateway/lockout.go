package gateway

import (
	"container/list"
	"net/netip"
	"sync"
	"time"
)

// Lockout policy: lockoutFailures failed authentications within
// lockoutWindow lock the client out for lockoutDuration. Loopback clients are
// no exception: a web page in the owner's browser is a loopback client.
const (
	lockoutFailures = 10
	lockoutWindow   = time.Minute
	lockoutDuration = 5 * time.Minute
	// lockoutMaxClients bounds the memory the tracker uses; past it the
	// least recently failed client is forgotten.
	lockoutMaxClients = 4096
)

// lockout tracks failed authentications per client. It is safe for
// concurrent use.
type lockout struct {
	max        int
	window     time.Duration
	lockFor    time.Duration
	maxClients int

	// mu guards the fields that follow.
	mu        sync.Mutex
	clients   map[string]*list.Element // of *lockEntry
	lru       *list.List               // front: least recently failed
	lastPrune time.Time
}

type lockEntry struct {
	key         string
	failures    []time.Time // within window, oldest first; at most max
	lockedUntil time.Time
}

func newLockout() *lockout {
	return &lockout{
		max:        lockoutFailures,
		window:     lockoutWindow,
		lockFor:    lockoutDuration,
		maxClients: lockoutMaxClients,
		clients:    make(map[string]*list.Element),
		lru:        list.New(),
	}
}

// locked reports whether key is locked out at now, and for how long still.
func (l *lockout) locked(key string, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	el, ok := l.clients[key]
	if !ok {
		return 0, false
	}
	e := el.Value.(*lockEntry)
	if now.Before(e.lockedUntil) {
		return e.lockedUntil.Sub(now), true
	}
	return 0, false
}

// fail records a failed authentication by key at now. It reports the time
// the client is locked out until when this failure locked it, so that the
// caller logs each lockout once.
func (l *lockout) fail(key string, now time.Time) (until time.Time, lockedNow bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pruneLocked(now)

	var e *lockEntry
	if el, ok := l.clients[key]; ok {
		e = el.Value.(*lockEntry)
		l.lru.MoveToBack(el)
	} else {
		for l.lru.Len() >= l.maxClients {
			oldest := l.lru.Front()
			delete(l.clients, oldest.Value.(*lockEntry).key)
			l.lru.Remove(oldest)
		}
		e = &lockEntry{key: key}
		l.clients[key] = l.lru.PushBack(e)
	}
	if now.Before(e.lockedUntil) {
		return e.lockedUntil, false
	}
	cut := 0
	for cut < len(e.failures) && now.Sub(e.failures[cut]) >= l.window {
		cut++
	}
	e.failures = append(e.failures[cut:], now)
	if len(e.failures) < l.max {
		return time.Time{}, false
	}
	e.failures = e.failures[:0]
	e.lockedUntil = now.Add(l.lockFor)
	return e.lockedUntil, true
}

// pruneLocked forgets clients with no lockout and no failure in the window,
// at most once a window.
func (l *lockout) pruneLocked(now time.Time) {
	if now.Sub(l.lastPrune) < l.window {
		return
	}
	l.lastPrune = now
	for el := l.lru.Front(); el != nil; {
		next := el.Next()
		e := el.Value.(*lockEntry)
		stale := len(e.failures) == 0 || now.Sub(e.failures[len(e.failures)-1]) >= l.window
		if stale && !now.Before(e.lockedUntil) {
			delete(l.clients, e.key)
			l.lru.Remove(el)
		}
		el = next
	}
}

// len reports how many clients are tracked.
func (l *lockout) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.clients)
}

// clientKey names the client a request comes from for the lockout: its IP
// address from RemoteAddr (never X-Forwarded-For, which the client writes),
// with IPv6 addresses outside loopback grouped by /64, the block one host
// usually holds.
func clientKey(remoteAddr string) string {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return remoteAddr
	}
	a := ap.Addr().Unmap().WithZone("")
	if a.Is6() && !a.IsLoopback() {
		p, err := a.Prefix(64)
		if err == nil {
			return p.String()
		}
	}
	return a.String()
}
