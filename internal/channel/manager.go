package channel

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// State is one channel's condition, for gatehouse status.
type State struct {
	Name        string    `json:"name"`
	Connected   bool      `json:"connected"`
	LastError   string    `json:"lastError,omitempty"`
	LastMessage time.Time `json:"lastMessage,omitzero"` // when the last inbound message was recorded
}

// Manager runs a set of channels, each under its own goroutine, restarting
// a Run that failed after an exponential backoff with jitter.
type Manager struct {
	log      *slog.Logger
	sink     Sink
	channels []Channel
	// MinBackoff and MaxBackoff bound the wait before a failed Run is
	// restarted; New sets 1 s and 60 s. A Run that lasted longer than
	// MaxBackoff starts the backoff over.
	MinBackoff, MaxBackoff time.Duration

	mu     sync.Mutex // guards states
	states []State    // by index in channels
}

// NewManager returns a Manager that runs channels, delivering what they
// receive to sink.
func NewManager(log *slog.Logger, sink Sink, channels ...Channel) *Manager {
	m := &Manager{
		log:        log,
		sink:       sink,
		channels:   channels,
		MinBackoff: time.Second,
		MaxBackoff: 60 * time.Second,
		states:     make([]State, len(channels)),
	}
	for i, ch := range channels {
		m.states[i].Name = ch.Name()
	}
	return m
}

// Run runs every channel until ctx ends, then waits for them all to stop.
// It returns nil: a channel that fails is restarted, and its error is in
// its State.
func (m *Manager) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for i, ch := range m.channels {
		wg.Go(func() { m.keep(ctx, i, ch) })
	}
	wg.Wait()
	return nil
}

// keep runs ch until ctx ends.
func (m *Manager) keep(ctx context.Context, i int, ch Channel) {
	log := m.log.With(logKeyChannel, ch.Name())
	sink := func(ctx context.Context, in Inbound) error {
		if err := m.sink(ctx, in); err != nil {
			return err
		}
		m.update(i, func(s *State) { s.LastMessage = time.Now() })
		return nil
	}
	backoff := m.MinBackoff
	for {
		m.update(i, func(s *State) { s.Connected = true })
		start := time.Now()
		err := ch.Run(ctx, sink)
		m.update(i, func(s *State) {
			s.Connected = false
			if err != nil {
				s.LastError = err.Error()
			}
		})
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > m.MaxBackoff {
			backoff = m.MinBackoff
		}
		wait := jitter(backoff)
		if err != nil {
			log.Warn("channel stopped", logKeyError, err, logKeyRetryIn, wait)
		} else {
			log.Warn("channel stopped without error", logKeyRetryIn, wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, m.MaxBackoff)
	}
}

// jitter returns d less up to a fifth of it, so that channels failing
// together do not retry in step.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d - rand.N(d/5+1)
}

func (m *Manager) update(i int, f func(*State)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f(&m.states[i])
}

// States returns each channel's state, in the order given to NewManager.
// A channel that implements Statuser reports its own connection and last
// error while it runs.
func (m *Manager) States() []State {
	m.mu.Lock()
	out := append([]State(nil), m.states...)
	m.mu.Unlock()
	for i, ch := range m.channels {
		s, ok := ch.(Statuser)
		if !ok || !out[i].Connected {
			continue
		}
		connected, err := s.Status()
		out[i].Connected = connected
		if err != nil {
			out[i].LastError = err.Error()
		}
	}
	return out
}
