//go:build !gatehouse_omit_docker

package docker_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"gatehouse/internal/sandbox"
	"gatehouse/internal/sandbox/docker/dockertest"
)

// BenchmarkRunTrue runs `true` in a warm container: what one command
// costs on top of its own work (exec create, attach, inspect, and the
// reaping of leftovers). It reports the median and 99th percentile.
func BenchmarkRunTrue(b *testing.B) {
	sb := dockertest.New(b, dockertest.Options(b, "ro"))
	ctx := context.Background()
	req := sandbox.Request{Scope: "bench", Argv: []string{"true"}}
	if _, err := sb.Run(ctx, req); err != nil { // create the container
		b.Fatal(err)
	}
	var took []time.Duration
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		res, err := sb.Run(ctx, req)
		if err != nil || res.ExitCode != 0 {
			b.Fatalf("Run: %v %+v", err, res)
		}
		took = append(took, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(took)
	pct := func(p float64) float64 {
		return float64(took[int(p*float64(len(took)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
