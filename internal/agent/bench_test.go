package agent

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/internal/llm"
)

// instant answers at once: what a turn costs beyond the model.
func instant(context.Context, int, *llm.Request) (*llm.Response, error) {
	return text("ok"), nil
}

// BenchmarkTurn measures one whole turn (prompt assembly, history load,
// one model call answered at once, SQLite writes) in one session, and
// reports its median as p50-ns.
func BenchmarkTurn(b *testing.B) {
	f := newFixture(b, instant)
	f.m.reply = func(context.Context, int, *llm.Request) (*llm.Response, error) { return text("ok"), nil }
	ctx := context.Background()
	// Reset often enough that the history stays small: a long-lived
	// session is compacted at 60% of contextTokens anyway.
	durs := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%50 == 0 {
			b.StopTimer()
			f.m.mu.Lock()
			f.m.reqs = nil
			f.m.mu.Unlock()
			if _, err := f.a.Turn(ctx, dm("42", "/new"), nil); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		start := time.Now()
		if _, err := f.a.Turn(ctx, dm("42", "hello there"), nil); err != nil {
			b.Fatal(err)
		}
		durs = append(durs, time.Since(start))
	}
	slices.Sort(durs)
	if len(durs) > 0 {
		b.ReportMetric(float64(durs[len(durs)/2].Nanoseconds()), "p50-ns")
		b.ReportMetric(float64(durs[len(durs)*99/100].Nanoseconds()), "p99-ns")
	}
}

// BenchmarkTurnParallel runs turns over 100 sessions at once and reports
// turns/s.
func BenchmarkTurnParallel(b *testing.B) {
	f := newFixture(b, instant)
	f.m.reply = func(context.Context, int, *llm.Request) (*llm.Response, error) { return text("ok"), nil }
	f.m.mu.Lock()
	f.m.reqs = make([]*llm.Request, 0, 1<<20)
	f.m.mu.Unlock()
	ctx := context.Background()
	var next atomic.Int64
	b.SetParallelism(50) // 100 goroutines on 2 cores: one per session
	b.ReportAllocs()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		peer := fmt.Sprint("peer", next.Add(1)%100)
		n := 0
		for pb.Next() {
			if n++; n%50 == 0 {
				if _, err := f.a.Turn(ctx, dm(peer, "/new"), nil); err != nil {
					b.Error(err)
					return
				}
			}
			if _, err := f.a.Turn(ctx, dm(peer, "hello there"), nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "turns/s")
}
