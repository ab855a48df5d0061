//go:build linux

package native

import (
	"context"
	"slices"
	"testing"
	"time"

	"gatehouse/internal/sandbox"
)

// BenchmarkRunTrue measures a whole sandbox round trip for `true`:
// namespaces, root, layers, exec, wait, cgroup cleanup. It reports the
// median and the 99th percentile besides the mean.
func BenchmarkRunTrue(b *testing.B) {
	s, err := New(sandbox.Options{Workspace: b.TempDir(), AllowWithout: waiveCgroupsIfMissing()})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	req := sandbox.Request{Argv: []string{"true"}}
	var took []time.Duration
	for b.Loop() {
		start := time.Now()
		res, err := s.Run(ctx, req)
		if err != nil || res.ExitCode != 0 {
			b.Fatalf("Run: %v, %v", res, err)
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
}

// waiveCgroupsIfMissing lets benchmarks run unprivileged.
func waiveCgroupsIfMissing() []string {
	if _, ok := probeHost().unavailable[layerCgroups]; ok {
		return []string{layerCgroups}
	}
	return nil
}
