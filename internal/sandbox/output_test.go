package sandbox

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
)

func TestOutputBuffer(t *testing.T) {
	tests := []struct {
		name      string
		max       int
		writes    []string
		want      string
		truncated bool
		dropped   int64
	}{
		{name: "under_cap", max: 10, writes: []string{"abc", "def"}, want: "abcdef"},
		{name: "exactly_cap", max: 6, writes: []string{"abc", "def"}, want: "abcdef"},
		{name: "split_write", max: 4, writes: []string{"abc", "def"}, want: "abcd", truncated: true, dropped: 2},
		{name: "after_full", max: 3, writes: []string{"abc", "def", "g"}, want: "abc", truncated: true, dropped: 4},
		{name: "empty_write", max: 3, writes: []string{""}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewOutputBuffer(tt.max)
			for _, w := range tt.writes {
				n, err := b.Write([]byte(w))
				if n != len(w) || err != nil {
					t.Fatalf("Write(%q) = %d, %v; want %d, nil", w, n, err, len(w))
				}
			}
			if got := string(b.Bytes()); got != tt.want {
				t.Errorf("Bytes() = %q, want %q", got, tt.want)
			}
			if got := b.Truncated(); got != tt.truncated {
				t.Errorf("Truncated() = %v, want %v", got, tt.truncated)
			}
			if got := b.Dropped(); got != tt.dropped {
				t.Errorf("Dropped() = %d, want %d", got, tt.dropped)
			}
		})
	}
}

func TestOutputBufferDefaultCap(t *testing.T) {
	b := NewOutputBuffer(0)
	b.Write(bytes.Repeat([]byte("x"), DefaultMaxOutput+1))
	if got := len(b.Bytes()); got != DefaultMaxOutput {
		t.Errorf("kept %d bytes, want DefaultMaxOutput (%d)", got, DefaultMaxOutput)
	}
}

func TestOutputBufferConcurrent(t *testing.T) {
	b := NewOutputBuffer(1 << 20)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 100 {
				fmt.Fprintf(b, "%d:%d\n", i, j)
			}
		})
	}
	wg.Wait()
	if got := bytes.Count(b.Bytes(), []byte("\n")); got != 800 {
		t.Errorf("lines kept = %d, want 800", got)
	}
}
