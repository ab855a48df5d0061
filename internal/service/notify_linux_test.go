package service

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// listen opens a unixgram socket standing in for systemd's notify socket.
// name is a path, or "@…" for the abstract namespace.
func listen(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatalf("listen %q: %v", name, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// recv returns the next datagram. The deadline only keeps a broken test
// from hanging; a passing test never waits for it.
func recv(t *testing.T, conn *net.UnixConn) string {
	t.Helper()
	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, _, err := conn.ReadFromUnix(buf)
	if err != nil {
		t.Fatalf("receive notification: %v", err)
	}
	return string(buf[:n])
}

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func pathSocket(t *testing.T) string {
	return filepath.Join(t.TempDir(), "notify.sock")
}

func abstractSocket(t *testing.T) string {
	return fmt.Sprintf("@gatehouse-test-%d-%s-%d", os.Getpid(), t.Name(), time.Now().UnixNano())
}

func TestNotifierMessages(t *testing.T) {
	sockets := []struct {
		name string
		addr func(*testing.T) string
	}{
		{"path", pathSocket},
		{"abstract", abstractSocket},
	}
	messages := []struct {
		name string
		send func(*Notifier) error
		want string
	}{
		{"ready", (*Notifier).Ready, "READY=1"},
		{"stopping", (*Notifier).Stopping, "STOPPING=1"},
		{"status", func(n *Notifier) error { return n.Status("serving 2 channels") }, "STATUS=serving 2 channels"},
		{"status_newlines_flattened", func(n *Notifier) error { return n.Status("a\nREADY=1\r\nb") }, "STATUS=a READY=1 b"},
	}
	for _, s := range sockets {
		for _, m := range messages {
			t.Run(s.name+"/"+m.name, func(t *testing.T) {
				addr := s.addr(t)
				conn := listen(t, addr)
				n := NewNotifier(env(map[string]string{"NOTIFY_SOCKET": addr}))
				if err := m.send(n); err != nil {
					t.Fatalf("send: %v", err)
				}
				if got := recv(t, conn); got != m.want {
					t.Errorf("datagram = %q, want %q", got, m.want)
				}
			})
		}
	}
}

func TestNotifierReloading(t *testing.T) {
	addr := pathSocket(t)
	conn := listen(t, addr)
	n := NewNotifier(env(map[string]string{"NOTIFY_SOCKET": addr}))
	before, err := monotonicUsec()
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Reloading(); err != nil {
		t.Fatal(err)
	}
	after, err := monotonicUsec()
	if err != nil {
		t.Fatal(err)
	}
	got := recv(t, conn)
	rest, ok := strings.CutPrefix(got, "RELOADING=1\nMONOTONIC_USEC=")
	usec, err := strconv.ParseInt(rest, 10, 64)
	if !ok || err != nil || usec < before || usec > after {
		t.Errorf("datagram = %q, want \"RELOADING=1\\nMONOTONIC_USEC=<%d..%d>\"", got, before, after)
	}
}

func TestNotifierWithoutSocketIsNoop(t *testing.T) {
	notifiers := map[string]*Notifier{
		"nil":      nil,
		"zero":     {},
		"no_env":   NewNotifier(env(nil)),
		"watchdog": NewNotifier(env(map[string]string{"WATCHDOG_USEC": "2000"})),
	}
	for name, n := range notifiers {
		t.Run(name, func(t *testing.T) {
			for _, err := range []error{n.Ready(), n.Reloading(), n.Stopping(), n.Status("x")} {
				if err != nil {
					t.Errorf("got %v, want nil", err)
				}
			}
			if got := n.WatchdogInterval(); got != 0 {
				t.Errorf("WatchdogInterval = %v, want 0", got)
			}
			// Returns at once, with a live context.
			if err := n.RunWatchdog(t.Context()); err != nil {
				t.Errorf("RunWatchdog = %v, want nil", err)
			}
		})
	}
}

func TestNotifierSendErrors(t *testing.T) {
	tests := []struct {
		name   string
		socket string
	}{
		{"nobody_listening", filepath.Join(t.TempDir(), "gone.sock")},
		{"relative_path", "notify.sock"},
		{"vsock", "vsock:2:1234"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := NewNotifier(env(map[string]string{"NOTIFY_SOCKET": tt.socket}))
			err := n.Ready()
			if err == nil {
				t.Fatal("Ready = nil, want an error")
			}
			if !strings.Contains(err.Error(), "NOTIFY_SOCKET") {
				t.Errorf("Ready = %q, want it to name NOTIFY_SOCKET", err)
			}
		})
	}
}

func TestWatchdogInterval(t *testing.T) {
	self := strconv.Itoa(os.Getpid())
	tests := []struct {
		name string
		usec string
		pid  string
		want time.Duration
	}{
		{"off", "", "", 0},
		{"any_process", "30000000", "", 15 * time.Second},
		{"this_process", "2000", self, time.Millisecond},
		{"other_process", "30000000", "1", 0},
		{"zero", "0", "", 0},
		{"negative", "-5", "", 0},
		{"garbage", "30s", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := NewNotifier(env(map[string]string{
				"NOTIFY_SOCKET": "@unused",
				"WATCHDOG_USEC": tt.usec,
				"WATCHDOG_PID":  tt.pid,
			}))
			if got := n.WatchdogInterval(); got != tt.want {
				t.Errorf("WatchdogInterval = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRunWatchdog(t *testing.T) {
	addr := abstractSocket(t)
	conn := listen(t, addr)
	n := NewNotifier(env(map[string]string{
		"NOTIFY_SOCKET": addr,
		"WATCHDOG_USEC": "2000",
		"WATCHDOG_PID":  strconv.Itoa(os.Getpid()),
	}))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- n.RunWatchdog(ctx) }()
	for i := range 2 {
		if got := recv(t, conn); got != "WATCHDOG=1" {
			t.Errorf("datagram %d = %q, want \"WATCHDOG=1\"", i, got)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("RunWatchdog after cancel = %v, want nil", err)
	}
}

func TestRunWatchdogSendError(t *testing.T) {
	n := NewNotifier(env(map[string]string{
		"NOTIFY_SOCKET": filepath.Join(t.TempDir(), "gone.sock"),
		"WATCHDOG_USEC": "2000",
	}))
	if err := n.RunWatchdog(t.Context()); err == nil {
		t.Error("RunWatchdog with no listener = nil, want an error")
	}
}
