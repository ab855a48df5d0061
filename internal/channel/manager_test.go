package channel

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"
)

// flaky is a Channel whose Run fails until its third start, then delivers
// one message and waits for ctx.
type flaky struct {
	runs atomic.Int32
	up   chan struct{}
}

func (f *flaky) Name() string                         { return "flaky" }
func (f *flaky) Send(context.Context, Outbound) error { return nil }
func (f *flaky) Run(ctx context.Context, sink Sink) error {
	if f.runs.Add(1) < 3 {
		return errors.New("platform down")
	}
	if err := sink(ctx, msg("1", "c", "hi")); err != nil {
		return err
	}
	close(f.up)
	<-ctx.Done()
	return nil
}

func TestManagerRestartsFailedChannel(t *testing.T) {
	ch := &flaky{up: make(chan struct{})}
	got := make(chan Inbound, 1)
	m := NewManager(slog.New(slog.DiscardHandler), func(_ context.Context, in Inbound) error {
		got <- in
		return nil
	}, ch)
	m.MinBackoff, m.MaxBackoff = time.Millisecond, 4*time.Millisecond
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- m.Run(ctx) }()
	select {
	case <-ch.up:
	case <-time.After(10 * time.Second):
		t.Fatal("channel never came up")
	}
	if in := <-got; in.Text != "hi" {
		t.Errorf("sink got %+v", in)
	}
	st := m.States()
	if len(st) != 1 || st[0].Name != "flaky" || !st[0].Connected || st[0].LastError != "platform down" || st[0].LastMessage.IsZero() {
		t.Errorf("States = %+v, want flaky connected, last error platform down, a last message", st)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil on cancel", err)
	}
	if st := m.States(); st[0].Connected {
		t.Errorf("after stop: %+v, want not connected", st[0])
	}
	if n := ch.runs.Load(); n != 3 {
		t.Errorf("Run started %d times, want 3", n)
	}
}

func TestJitterCapped(t *testing.T) {
	for range 1000 {
		if d := jitter(60 * time.Second); d > 60*time.Second || d < 48*time.Second {
			t.Fatalf("jitter(60s) = %v, want within [48s, 60s]", d)
		}
	}
}
