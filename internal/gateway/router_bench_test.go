package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/internal/access"
	"gatehouse/internal/agent"
	"gatehouse/internal/channel"
	"gatehouse/internal/config"
	"gatehouse/internal/llm"
	"gatehouse/internal/store"
	"gatehouse/internal/tool"
)

// instantModel answers every request at once: the benchmark measures the
// gateway, not a provider.
type instantModel struct{}

func (instantModel) Chat(ctx context.Context, req *llm.Request, onDelta func(string)) (*llm.Response, llm.Ref, error) {
	return &llm.Response{Message: llm.Message{Role: llm.RoleAssistant, Content: "ok"}, Usage: llm.Usage{InputTokens: 10, OutputTokens: 1}, StopReason: "stop"},
		llm.Ref{Provider: "bench", Model: "instant"}, nil
}

func (instantModel) Cost(llm.Ref, llm.Usage) float64 { return 0 }

// benchChannel is a platform that accepts every send at once and counts.
type benchChannel struct {
	sent atomic.Int64
	done chan struct{}
	want int64
	once sync.Once
}

func (c *benchChannel) Name() string { return "telegram" }
func (c *benchChannel) Run(ctx context.Context, sink channel.Sink) error {
	<-ctx.Done()
	return nil
}
func (c *benchChannel) Send(ctx context.Context, out channel.Outbound) error {
	if c.sent.Add(1) == c.want {
		c.once.Do(func() { close(c.done) })
	}
	return nil
}

// BenchmarkRouterThroughput pushes inbound messages from 100 senders
// through the inbox, the access gate, an agent turn (instant model) and
// the outbox to the platform, and reports messages per second. Platform
// pacing is off: it measures the gateway's capacity, not Telegram's limits.
func BenchmarkRouterThroughput(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db, err := store.Open(ctx, filepath.Join(b.TempDir(), "gatehouse.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	cfg := config.Default()
	cfg.Channels.Telegram = &config.Channel{DMPolicy: "open", AllowFrom: []string{"*"}}
	log := slog.New(slog.DiscardHandler)
	a, err := agent.New(agent.Options{Config: cfg, Store: db, Models: instantModel{}, Tools: tool.NewRegistry(), Workspace: b.TempDir(), Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	gate, err := access.New(db, access.Options{RatePerMinute: 10000})
	if err != nil {
		b.Fatal(err)
	}
	ch := &benchChannel{done: make(chan struct{}), want: int64(b.N)}
	q := newQueue(db, log)
	q.ChatInterval, q.ChannelRate = 0, 0
	r := &router{
		log: log, queue: q, gate: gate,
		agent:    func() *agent.Agent { return a },
		cfg:      func() *config.Config { return cfg },
		channels: map[string]channel.Channel{"telegram": ch},
		wake:     make(chan struct{}, 1),
		inflight: map[string]bool{},
	}
	r.manager = channel.NewManager(log, r.sink, ch)
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()

	const senders = 100
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		s := strconv.Itoa(i % senders)
		in := channel.Inbound{Channel: "telegram", MessageID: strconv.Itoa(i), SenderID: s, ChatID: s, ChatType: "direct", Text: fmt.Sprint("message ", i)}
		if err := r.sink(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-ch.done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("only %d of %d replies sent", ch.sent.Load(), b.N)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
	b.StopTimer()
	cancel()
	<-done
}
