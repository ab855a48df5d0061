// Package testkit starts the third-party peers the tests run against on
// loopback (see test/peers): aimock for the OpenAI, Anthropic and Gemini
// HTTP APIs, telegram-test-api for the Bot API; and, for Discord, which has
// no test server, a fake Gateway and REST API written from its
// documentation (Discord). Only tests import it.
package testkit

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Aimock is a running @copilotkit/aimock server on 127.0.0.1.
type Aimock struct {
	// URL is the server's base URL, e.g. http://127.0.0.1:40123 (no /v1).
	URL string
	cmd *exec.Cmd
	out *syncBuffer
}

// PeersDir is test/peers in the module, where `npm ci` installs the peers.
func PeersDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "test", "peers")
}

// StartAimock starts aimock serving the given fixtures (the value of the
// "fixtures" array of an aimock fixture file) and stops it when the test
// ends. It fails the test when aimock is not installed: run
// `npm ci --prefix test/peers` (make test does).
func StartAimock(t testing.TB, fixtures []map[string]any) *Aimock {
	t.Helper()
	cli := filepath.Join(PeersDir(), "node_modules", "@copilotkit", "aimock", "dist", "cli.js")
	if _, err := os.Stat(cli); err != nil {
		t.Fatalf("aimock is not installed (%v): run npm ci --prefix test/peers", err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not installed: %v", err)
	}
	dir := t.TempDir()
	b, err := json.Marshal(map[string]any{"fixtures": fixtures})
	if err != nil {
		t.Fatal(err)
	}
	fx := filepath.Join(dir, "fixtures.json")
	if err := os.WriteFile(fx, b, 0o600); err != nil {
		t.Fatal(err)
	}
	port := FreePort(t)
	m := &Aimock{URL: "http://127.0.0.1:" + strconv.Itoa(port), out: &syncBuffer{}}
	m.cmd = exec.Command(node, cli, "-p", strconv.Itoa(port), "-h", "127.0.0.1", "-f", fx, "--log-level", "warn")
	m.cmd.Stdout, m.cmd.Stderr = m.out, m.out
	m.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { m.cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		m.cmd.Process.Kill()
		<-done
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-done:
			t.Fatalf("aimock exited: %s", m.out.String())
		default:
		}
		resp, err := http.Get(m.URL + "/__aimock/journal")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("aimock did not start: %v\n%s", err, m.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return m
}

// Journal returns the requests aimock received, oldest first, each as the
// raw JSON aimock reports (its fields include method, path, headers, body).
func (m *Aimock) Journal(t testing.TB) []json.RawMessage {
	t.Helper()
	resp, err := http.Get(m.URL + "/__aimock/journal?limit=1000")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var list []json.RawMessage
	if err := json.Unmarshal(b, &list); err != nil {
		var wrapped struct {
			Entries []json.RawMessage `json:"entries"`
		}
		if err2 := json.Unmarshal(b, &wrapped); err2 != nil {
			t.Fatalf("journal: %v: %s", err, b)
		}
		list = wrapped.Entries
	}
	return list
}

// JournalText is the whole journal as one string, for "does any request
// contain X" assertions.
func (m *Aimock) JournalText(t testing.TB) string {
	var b strings.Builder
	for _, e := range m.Journal(t) {
		b.Write(e)
		b.WriteByte('\n')
	}
	return b.String()
}

// FreePort returns a TCP port free on 127.0.0.1 at the time of the call.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
