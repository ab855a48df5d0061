// Command startup measures the gateway's start: the time from exec until
// /healthz answers (median and spread over N starts), the resident memory
// 10 s after start, and the binary's size. Traffic goes to 127.0.0.1 only.
//
//	go run ./bench/startup -bin bin/gatehouse -n 20
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	bin := flag.String("bin", "bin/gatehouse", "gatehouse binary")
	n := flag.Int("n", 20, "number of starts")
	settle := flag.Duration("settle", 10*time.Second, "wait before reading RSS")
	flag.Parse()
	if err := run(*bin, *n, *settle); err != nil {
		fmt.Fprintln(os.Stderr, "startup:", err)
		os.Exit(1)
	}
}

func run(bin string, n int, settle time.Duration) error {
	bin, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "gatehouse-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	port := freePort()
	env := append(os.Environ(), "GATEHOUSE_STATE_DIR="+dir)
	for _, args := range [][]string{
		{"onboard", "--non-interactive", "--accept-risk", "--mode", "local"},
		{"config", "set", "gateway.port", strconv.Itoa(port)},
	} {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%v: %v\n%s", args, err, out)
		}
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/healthz", port)
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

	var times []time.Duration
	var rss int64
	for i := 0; i < n; i++ {
		cmd := exec.Command(bin, "gateway", "run")
		cmd.Env = env
		start := time.Now()
		if err := cmd.Start(); err != nil {
			return err
		}
		healthy := false
		for time.Since(start) < 10*time.Second {
			if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 50*time.Millisecond); err == nil {
				c.Close()
				if resp, err := client.Get(url); err == nil {
					resp.Body.Close()
					if resp.StatusCode == 200 {
						healthy = true
						break
					}
				}
			}
			time.Sleep(200 * time.Microsecond)
		}
		elapsed := time.Since(start)
		if !healthy {
			cmd.Process.Kill()
			cmd.Wait()
			return fmt.Errorf("start %d: not healthy within 10s", i)
		}
		times = append(times, elapsed)
		if i == n-1 {
			time.Sleep(settle)
			rss = rssKiB(cmd.Process.Pid)
		}
		cmd.Process.Signal(syscall.SIGTERM)
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-ctx.Done():
			cmd.Process.Kill()
			<-done
		}
		cancel()
	}
	slices.Sort(times)
	fi, err := os.Stat(bin)
	if err != nil {
		return err
	}
	fmt.Printf("starts:            %d\n", n)
	fmt.Printf("exec → healthy:    median %s  min %s  p90 %s  max %s\n",
		ms(times[len(times)/2]), ms(times[0]), ms(times[len(times)*9/10]), ms(times[len(times)-1]))
	fmt.Printf("RSS after %s:     %.1f MiB\n", settle, float64(rss)/1024)
	fmt.Printf("binary size:       %.1f MiB (%s)\n", float64(fi.Size())/(1<<20), bin)
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000) }

func rssKiB(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			v, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return v
		}
	}
	return 0
}

func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 18799
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
