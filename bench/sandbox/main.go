// Command sandbox measures the round trip of `true` through a sandbox
// backend, as the exec tool runs it: p50, p99 and mean over N runs after
// a warm-up.
//
//	go run ./bench/sandbox -backend native -n 300
//	DOCKER_HOST=unix:///tmp/podman/podman.sock go run ./bench/sandbox -backend docker -image gatehouse-sandbox-test:busybox
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/sandbox"
	"gatehouse/internal/sandbox/backend"
	"gatehouse/internal/sandbox/native"
)

func main() {
	if native.IsInit() {
		native.InitMain()
	}
	name := flag.String("backend", "native", "native or docker")
	n := flag.Int("n", 200, "measured runs")
	image := flag.String("image", "", "container image (docker)")
	flag.Parse()
	if err := run(*name, *n, *image); err != nil {
		fmt.Fprintln(os.Stderr, "bench/sandbox:", err)
		os.Exit(1)
	}
}

func run(name string, n int, image string) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "gatehouse-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ws := dir + "/workspace"
	if err := os.Mkdir(ws, 0o700); err != nil {
		return err
	}
	cfg := config.Default().Agents.Defaults.Sandbox
	cfg.Backend = name
	if image != "" {
		cfg.Docker.Image = image
	}
	sb, err := backend.Open(ctx, cfg, sandbox.OptionsFrom(cfg, ws, dir+"/state"), nil)
	if err != nil {
		return err
	}
	defer sb.Close()
	defer sb.Prune(context.Background(), 0)
	req := sandbox.Request{Scope: "bench", Argv: []string{"true"}}
	for range 10 {
		if _, err := sb.Run(ctx, req); err != nil {
			return err
		}
	}
	d := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		res, err := sb.Run(ctx, req)
		if err != nil {
			return err
		}
		if res.ExitCode != 0 {
			return fmt.Errorf("true exited %d: %s", res.ExitCode, res.Output)
		}
		d = append(d, time.Since(start))
	}
	slices.Sort(d)
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	pct := func(p float64) time.Duration { return d[min(len(d)-1, int(float64(len(d))*p))] }
	fmt.Printf("backend %s: exec true round trip over %d runs: p50 %.2f ms, p99 %.2f ms, mean %.2f ms, min %.2f ms\n",
		sb.Backend(), n, ms(pct(0.50)), ms(pct(0.99)), ms(sum/time.Duration(n)), ms(d[0]))
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
