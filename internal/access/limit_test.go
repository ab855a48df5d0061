package access

import (
	"fmt"
	"testing"
	"time"
)

type limitStep struct {
	advance    time.Duration // before the messages
	n          int           // messages sent
	wantAllow  int           // of them, allowed
	wantNotify int           // of them, refused with notify
}

func TestLimit(t *testing.T) {
	tests := []struct {
		name  string
		steps []limitStep
	}{
		{"twenty_a_minute_then_one_notice", []limitStep{
			{n: 20, wantAllow: 20},
			{n: 5, wantNotify: 1},
		}},
		{"new_minute_new_allowance_and_notice", []limitStep{
			{n: 25, wantAllow: 20, wantNotify: 1},
			{advance: time.Minute, n: 25, wantAllow: 20, wantNotify: 1},
		}},
		{"rolling_not_fixed_window", []limitStep{
			{n: 10, wantAllow: 10},
			{advance: 30 * time.Second, n: 10, wantAllow: 10},
			{advance: 29 * time.Second, n: 1, wantNotify: 1},
			// The first ten fall out of the window: ten more, not twenty.
			{advance: time.Second, n: 12, wantAllow: 10, wantNotify: 1},
		}},
		{"just_before_the_minute_still_counts", []limitStep{
			{n: 20, wantAllow: 20},
			{advance: time.Minute - time.Millisecond, n: 2, wantNotify: 1},
			{advance: time.Millisecond, n: 1, wantAllow: 1},
		}},
		{"refused_messages_do_not_extend_the_wait", []limitStep{
			{n: 20, wantAllow: 20},
			{advance: 30 * time.Second, n: 50, wantNotify: 1},
			{advance: 30 * time.Second, n: 20, wantAllow: 20},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, clock := newGate(t, Options{})
			req := dm("telegram", "1")
			for i, s := range tt.steps {
				clock.Advance(s.advance)
				var allowedN, notifyN int
				for range s.n {
					allowed, notify := g.Limit(req)
					if allowed && notify {
						t.Fatalf("step %d: Limit = allowed and notify", i)
					}
					if allowed {
						allowedN++
					}
					if notify {
						notifyN++
					}
				}
				if allowedN != s.wantAllow || notifyN != s.wantNotify {
					t.Errorf("step %d: %d allowed, %d notices; want %d, %d", i, allowedN, notifyN, s.wantAllow, s.wantNotify)
				}
			}
		})
	}
}

func TestLimit_per_sender(t *testing.T) {
	g, _ := newGate(t, Options{RatePerMinute: 2})
	reqs := []Request{dm("telegram", "1"), dm("telegram", "2"), dm("discord", "1"), {Channel: "telegram", Account: "work", SenderID: "1"}}
	for range 2 {
		for _, r := range reqs {
			if allowed, _ := g.Limit(r); !allowed {
				t.Errorf("Limit(%+v) refused within its own allowance", r)
			}
		}
	}
	if allowed, notify := g.Limit(reqs[0]); allowed || !notify {
		t.Errorf("Limit(third) = %v, %v; want refused with a notice", allowed, notify)
	}
}

func TestLimit_bounded_memory(t *testing.T) {
	g, clock := newGate(t, Options{RatePerMinute: 1})
	g.limiter.maxSenders = 3
	for i := range 10 {
		g.Limit(dm("telegram", fmt.Sprint(i)))
		if got := g.limiter.tracked(); got > 3 {
			t.Fatalf("after %d senders tracking %d, want at most 3", i+1, got)
		}
	}
	// The most recent sender is still limited; forgotten ones start afresh.
	if allowed, _ := g.Limit(dm("telegram", "9")); allowed {
		t.Error("the latest sender was forgotten")
	}
	clock.Advance(time.Minute)
	g.Limit(dm("telegram", "new"))
	if got := g.limiter.tracked(); got != 1 {
		t.Errorf("after a quiet minute tracking %d senders, want 1 (idle swept)", got)
	}
}
