package gateway

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestLogHubRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gateway.log")
	hub, err := OpenLogHub(path, 100, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	line := strings.Repeat("x", 39) + "\n" // 40 bytes: a rotation every third line
	for range 12 {
		if _, err := hub.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"gateway.log", "gateway.log.1", "gateway.log.2"} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got := st.Mode().Perm(); got != 0o600 {
			t.Errorf("%s mode: got %o, want 600", name, got)
		}
	}
	if _, err := os.Stat(path + ".3"); !os.IsNotExist(err) {
		t.Errorf("gateway.log.3: got %v, want it not to exist (keep 2)", err)
	}
}

func TestLogHubTail(t *testing.T) {
	long := strings.Repeat("y", 3000) // lines span tail's 64 KiB chunks
	tests := []struct {
		name   string
		writes []string
		n      int
		want   []string
	}{
		{"empty_file", nil, 5, nil},
		{"fewer_lines_than_asked", []string{"a\n", "b\n"}, 5, []string{"a", "b"}},
		{"last_lines", []string{"a\n", "b\n", "c\n"}, 2, []string{"b", "c"}},
		{"partial_last_line_left_out", []string{"a\n", "b\n", "c"}, 5, []string{"a", "b"}},
		{"zero", []string{"a\n"}, 0, nil},
		{"across_chunks", repeat(long+"\n", 100), 50, repeatLines(long, 50)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hub, err := OpenLogHub(filepath.Join(t.TempDir(), "gateway.log"), 1<<30, 1)
			if err != nil {
				t.Fatal(err)
			}
			defer hub.Close()
			for _, w := range tt.writes {
				hub.Write([]byte(w))
			}
			got, err := hub.Tail(tt.n)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) || len(got) != len(tt.want) {
				t.Errorf("Tail(%d): got %d lines, want %d", tt.n, len(got), len(tt.want))
			}
		})
	}
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func repeatLines(s string, n int) []string { return repeat(s, n) }

func TestLogHubSubscribe(t *testing.T) {
	hub, err := OpenLogHub(filepath.Join(t.TempDir(), "gateway.log"), 1<<30, 1)
	if err != nil {
		t.Fatal(err)
	}
	lines, cancel := hub.Subscribe()

	// Lines split across writes arrive whole; a slow subscriber loses the
	// lines past its buffer and the writer does not wait.
	hub.Write([]byte("first "))
	hub.Write([]byte("line\nsecond line\n"))
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 100 {
				hub.Write([]byte("more\n"))
			}
		})
	}
	wg.Wait()
	if got := <-lines; got != "first line" {
		t.Errorf("first: got %q, want %q", got, "first line")
	}
	if got := <-lines; got != "second line" {
		t.Errorf("second: got %q, want %q", got, "second line")
	}
	if got := len(lines); got != subscriberBuffer-2 {
		t.Errorf("buffered: got %d, want %d", got, subscriberBuffer-2)
	}
	cancel()
	cancel() // idempotent

	late, _ := hub.Subscribe()
	if err := hub.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-late; ok {
		t.Error("subscription after Close: got a line, want the channel closed")
	}
	if _, err := hub.Write([]byte("x\n")); err == nil {
		t.Error("Write after Close: got nil error, want one")
	}
}
