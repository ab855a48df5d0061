package channel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/store"
)

// openQueue opens (or reopens) the database at path and returns a Queue on
// it with a fake clock; the database is closed when the test ends.
func openQueue(t *testing.T, path string) (*Queue, *store.DB) {
	t.Helper()
	db, err := store.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	q := NewQueue(db.SQL(), slog.New(slog.DiscardHandler))
	q.Clock = newFakeClock()
	return q, db
}

func tempDB(t *testing.T) string { return filepath.Join(t.TempDir(), "gatehouse.db") }

// fakeClock advances by itself: After(d) moves the time on by d and fires
// at once, so waits take no real time and their lengths can be checked.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch
}

func msg(id, chat, text string) Inbound {
	return Inbound{Channel: "telegram", MessageID: id, ChatID: chat, SenderID: "42", ChatType: ChatDirect, Text: text}
}

func reply(in Inbound, text string) Outbound {
	return Outbound{Channel: in.Channel, Account: in.Account, ChatID: in.ChatID, Text: text}
}

func TestReceiveDeduplicates(t *testing.T) {
	q, _ := openQueue(t, tempDB(t))
	ctx := t.Context()
	in := msg("7", "100", "hi")
	for i, want := range []bool{true, false} {
		fresh, err := q.Receive(ctx, in)
		if err != nil || fresh != want {
			t.Fatalf("Receive #%d = %v, %v; want %v, nil", i+1, fresh, err, want)
		}
	}
	other := in
	other.Account = "work" // same id, another account: another message
	if fresh, err := q.Receive(ctx, other); err != nil || !fresh {
		t.Fatalf("Receive(other account) = %v, %v; want true, nil", fresh, err)
	}
	pending, err := q.Pending(ctx)
	if err != nil || len(pending) != 2 || pending[0].Text != "hi" || pending[0].ChatType != ChatDirect {
		t.Fatalf("Pending = %+v, %v; want the two messages", pending, err)
	}
}

func TestCompleteQueuesRepliesOnce(t *testing.T) {
	q, db := openQueue(t, tempDB(t))
	ctx := t.Context()
	q.MaxLen = func(string) int { return 5 }
	in := msg("1", "100", "hi")
	if _, err := q.Receive(ctx, in); err != nil {
		t.Fatal(err)
	}
	if err := q.Complete(ctx, in, []Outbound{reply(in, "hello world")}); err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if err := q.Complete(ctx, in, []Outbound{reply(in, "again")}); !errors.Is(err, ErrCompleted) {
		t.Fatalf("second Complete = %v, want ErrCompleted", err)
	}
	if err := q.Complete(ctx, msg("2", "100", "x"), nil); err == nil || errors.Is(err, ErrCompleted) {
		t.Fatalf("Complete(never received) = %v, want an error", err)
	}
	if pending, _ := q.Pending(ctx); len(pending) != 0 {
		t.Errorf("Pending after Complete = %+v, want none", pending)
	}
	var texts []string
	rows, err := db.SQL().QueryContext(ctx, `SELECT text FROM outbox WHERE inbox_key = '["telegram","","1"]' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		rows.Scan(&s)
		texts = append(texts, s)
	}
	if want := []string{"hello", "world"}; !slices.Equal(texts, want) {
		t.Errorf("outbox = %q, want %q (split at MaxLen, once)", texts, want)
	}
}

// recorder is a send func that records what it sent, and when.
type recorder struct {
	mu    sync.Mutex
	clock Clock
	sent  []Outbound
	at    []time.Time
	fail  func(n int, out Outbound) error // n counts calls from 1
	calls int
	done  chan struct{}
	want  int
}

func (r *recorder) send(_ context.Context, out Outbound) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	r.at = append(r.at, r.clock.Now())
	if r.fail != nil {
		if err := r.fail(r.calls, out); err != nil {
			return err
		}
	}
	r.sent = append(r.sent, out)
	if len(r.sent) == r.want {
		close(r.done)
	}
	return nil
}

// runSender runs q's sender until rec has sent want messages.
func runSender(t *testing.T, q *Queue, rec *recorder) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- q.RunSender(ctx, rec.send) }()
	select {
	case <-rec.done:
	case <-time.After(10 * time.Second):
		t.Errorf("sender sent %d of %d messages", len(rec.sent), rec.want)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("RunSender = %v, want nil", err)
	}
}

func statuses(t *testing.T, db *store.DB) []string {
	t.Helper()
	rows, err := db.SQL().QueryContext(t.Context(), `SELECT status FROM outbox ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		rows.Scan(&s)
		out = append(out, s)
	}
	return out
}

func TestSenderPacesEachChat(t *testing.T) {
	q, _ := openQueue(t, tempDB(t))
	ctx := t.Context()
	var outs []Outbound
	for i := range 3 {
		outs = append(outs, Outbound{Channel: "telegram", ChatID: "A", Text: fmt.Sprint("a", i)})
	}
	outs = append(outs, Outbound{Channel: "telegram", ChatID: "B", Text: "b0"})
	if err := q.Enqueue(ctx, outs...); err != nil {
		t.Fatal(err)
	}
	start := q.Clock.Now()
	rec := &recorder{clock: q.Clock, done: make(chan struct{}), want: 4}
	runSender(t, q, rec)
	var got []string
	for i, out := range rec.sent {
		got = append(got, fmt.Sprintf("%s@%s", out.Text, rec.at[i].Sub(start)))
	}
	// Chat A one a second, in order; chat B does not wait for A.
	if want := []string{"a0@0s", "b0@0s", "a1@1s", "a2@2s"}; !slices.Equal(got, want) {
		t.Errorf("sent %q, want %q", got, want)
	}
}

func TestSenderHonoursRetryAfter(t *testing.T) {
	q, db := openQueue(t, tempDB(t))
	ctx := t.Context()
	if err := q.Enqueue(ctx, Outbound{Channel: "telegram", ChatID: "A", Text: "x"}); err != nil {
		t.Fatal(err)
	}
	start := q.Clock.Now()
	rec := &recorder{clock: q.Clock, done: make(chan struct{}), want: 1, fail: func(n int, _ Outbound) error {
		if n == 1 {
			return fmt.Errorf("telegram: %w", &RetryAfterError{After: 7 * time.Second})
		}
		return nil
	}}
	runSender(t, q, rec)
	if len(rec.at) != 2 || rec.at[1].Sub(start) < 7*time.Second {
		t.Errorf("attempts at %v after start %v, want a second one 7s or more later", rec.at, start)
	}
	if got := statuses(t, db); !slices.Equal(got, []string{"sent"}) {
		t.Errorf("outbox = %q, want [sent]", got)
	}
}

func TestSenderRetriesThenGivesUp(t *testing.T) {
	q, db := openQueue(t, tempDB(t))
	ctx := t.Context()
	q.MaxAttempts = 3
	err := q.Enqueue(ctx,
		Outbound{Channel: "telegram", ChatID: "A", Text: "doomed"},
		Outbound{Channel: "telegram", ChatID: "A", Text: "after"},
		Outbound{Channel: "telegram", ChatID: "B", Text: "flaky"})
	if err != nil {
		t.Fatal(err)
	}
	flaky := 0
	rec := &recorder{clock: q.Clock, done: make(chan struct{}), want: 2, fail: func(_ int, out Outbound) error {
		switch out.Text {
		case "doomed":
			return errors.New("boom")
		case "flaky":
			if flaky++; flaky < 3 {
				return errors.New("blip")
			}
		}
		return nil
	}}
	runSender(t, q, rec)
	var order []string
	for _, out := range rec.sent {
		order = append(order, out.Text)
	}
	if !slices.Contains(order, "after") || !slices.Contains(order, "flaky") {
		t.Errorf("sent %q, want after and flaky", order)
	}
	if got, want := statuses(t, db), []string{"failed", "sent", "sent"}; !slices.Equal(got, want) {
		t.Errorf("outbox = %q, want %q", got, want)
	}
	var attempts int
	var lastErr string
	db.SQL().QueryRowContext(ctx, `SELECT attempts, last_error FROM outbox WHERE text = 'doomed'`).Scan(&attempts, &lastErr)
	if attempts != 3 || lastErr != "boom" {
		t.Errorf("doomed: attempts %d, last_error %q; want 3, boom", attempts, lastErr)
	}
}

func TestSenderNeverResendsSent(t *testing.T) {
	path := tempDB(t)
	q, _ := openQueue(t, path)
	ctx := t.Context()
	if err := q.Enqueue(ctx, Outbound{Channel: "telegram", ChatID: "A", Text: "once"}); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{clock: q.Clock, done: make(chan struct{}), want: 1}
	runSender(t, q, rec)

	q2, _ := openQueue(t, path) // a restart
	if err := q2.Enqueue(ctx, Outbound{Channel: "telegram", ChatID: "A", Text: "next"}); err != nil {
		t.Fatal(err)
	}
	rec2 := &recorder{clock: q2.Clock, done: make(chan struct{}), want: 1}
	runSender(t, q2, rec2)
	if len(rec2.sent) != 1 || rec2.sent[0].Text != "next" {
		t.Errorf("after restart sent %+v, want only next", rec2.sent)
	}
}

func TestOffsets(t *testing.T) {
	q, _ := openQueue(t, tempDB(t))
	ctx := t.Context()
	if off, err := q.LoadOffset(ctx, "telegram", ""); err != nil || off != 0 {
		t.Fatalf("LoadOffset(none) = %d, %v; want 0, nil", off, err)
	}
	for _, want := range []int64{5, 9} {
		if err := q.SaveOffset(ctx, "telegram", "", want); err != nil {
			t.Fatal(err)
		}
		if off, err := q.LoadOffset(ctx, "telegram", ""); err != nil || off != want {
			t.Fatalf("LoadOffset = %d, %v; want %d, nil", off, err, want)
		}
	}
}
