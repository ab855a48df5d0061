package access

import (
	"path/filepath"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/store"
)

// t0 is the tests' start time: a round millisecond, as stored.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fakeClock is an injected clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// seqReader is a deterministic Rand: the bytes n, n+1, n+2, …
type seqReader struct{ n byte }

func (r *seqReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r.n
		r.n++
	}
	return len(p), nil
}

// constReader is a Rand that always gives the same byte.
type constReader byte

func (r constReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

func openDB(t testing.TB) *store.DB {
	t.Helper()
	db, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// newGate returns a gate on a fresh database, its clock at t0 and its
// Rand deterministic unless opts sets one.
func newGate(t testing.TB, opts Options) (*Gate, *fakeClock) {
	t.Helper()
	clock := &fakeClock{t: t0}
	opts.Now = clock.Now
	if opts.Rand == nil {
		opts.Rand = &seqReader{}
	}
	g, err := New(openDB(t), opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return g, clock
}

func dm(channel, sender string) Request {
	return Request{Channel: channel, SenderID: sender, ChatID: sender, ChatType: Direct}
}

// approve runs the whole pairing of sender on channel and returns the
// approval.
func approve(t *testing.T, g *Gate, channel, sender string) Approved {
	t.Helper()
	code, _, err := g.PairingCode(t.Context(), dm(channel, sender))
	if err != nil {
		t.Fatalf("PairingCode(%s, %s): %v", channel, sender, err)
	}
	a, err := g.Approve(t.Context(), channel, code)
	if err != nil {
		t.Fatalf("Approve(%s, %s): %v", channel, code, err)
	}
	return a
}
