//go:build unix

package state

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// envLockHolder makes the test binary a lock holder: it takes the lock at
// the path the variable names, prints "locked", and holds it until stdin
// closes. This is runc's init_test.go re-exec trick.
const envLockHolder = "GATEHOUSE_TEST_LOCK_HOLDER"

func TestMain(m *testing.M) {
	if path := os.Getenv(envLockHolder); path != "" {
		os.Exit(holdLock(path))
	}
	os.Exit(m.Run())
}

func holdLock(path string) int {
	l, err := TryLock(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("locked")
	io.Copy(io.Discard, os.Stdin)
	if err := l.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func readLockFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestTryLock_writes_pid_and_close_clears_it(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gateway.lock")
	l, err := TryLock(path)
	if err != nil {
		t.Fatalf("TryLock: %v", err)
	}
	if got, want := readLockFile(t, path), strconv.Itoa(os.Getpid())+"\n"; got != want {
		t.Errorf("lock file = %q, want %q", got, want)
	}
	if got := modeOf(t, path); got != 0o600 {
		t.Errorf("lock file mode = %#o, want 0600", got)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := readLockFile(t, path); got != "" {
		t.Errorf("lock file after Close = %q, want empty", got)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestTryLock_second_fd_in_process(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gateway.lock")
	l, err := TryLock(path)
	if err != nil {
		t.Fatalf("TryLock: %v", err)
	}
	defer l.Close()

	_, err = TryLock(path)
	le, ok := errors.AsType[*LockedError](err)
	if !ok {
		t.Fatalf("second TryLock error = %v, want *LockedError", err)
	}
	if le.PID != os.Getpid() || le.Path != path {
		t.Errorf("LockedError = %+v, want PID %d and Path %q", le, os.Getpid(), path)
	}
	pid, err := LockHolder(path)
	if err != nil || pid != os.Getpid() {
		t.Errorf("LockHolder = %d, %v, want %d, nil", pid, err, os.Getpid())
	}
	// A refused TryLock must not disturb the holder's PID.
	if got, want := readLockFile(t, path), strconv.Itoa(os.Getpid())+"\n"; got != want {
		t.Errorf("lock file = %q, want %q", got, want)
	}

	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	l2, err := TryLock(path)
	if err != nil {
		t.Fatalf("TryLock after Close: %v", err)
	}
	l2.Close()
}

func TestTryLock_other_process(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gateway.lock")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envLockHolder+"="+path)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("holder said %q, %v; want \"locked\"", line, err)
	}
	holder := cmd.Process.Pid

	_, err = TryLock(path)
	le, ok := errors.AsType[*LockedError](err)
	if !ok {
		t.Fatalf("TryLock error = %v, want *LockedError", err)
	}
	if le.PID != holder {
		t.Errorf("LockedError.PID = %d, want the holder's %d", le.PID, holder)
	}
	want := fmt.Sprintf(`another gateway is running on this state dir (pid %d, lock %s): stop it with "gatehouse gateway stop" or use --profile for a second instance`, holder, path)
	if le.Error() != want {
		t.Errorf("Error() = %q, want %q", le.Error(), want)
	}
	if pid, err := LockHolder(path); err != nil || pid != holder {
		t.Errorf("LockHolder = %d, %v, want %d, nil", pid, err, holder)
	}

	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("holder: %v", err)
	}
	if pid, err := LockHolder(path); err != nil || pid != 0 {
		t.Errorf("LockHolder after holder exit = %d, %v, want 0, nil", pid, err)
	}
	l, err := TryLock(path)
	if err != nil {
		t.Fatalf("TryLock after holder exit: %v", err)
	}
	l.Close()
}

func TestTryLock_killed_holder_releases(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gateway.lock")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envLockHolder+"="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "locked\n" {
		t.Fatalf("holder said %q, %v; want \"locked\"", line, err)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	// The stale PID stays in the file, but the lock is free.
	if pid, err := LockHolder(path); err != nil || pid != 0 {
		t.Errorf("LockHolder = %d, %v, want 0, nil", pid, err)
	}
	l, err := TryLock(path)
	if err != nil {
		t.Fatalf("TryLock after kill: %v", err)
	}
	defer l.Close()
	if got, want := readLockFile(t, path), strconv.Itoa(os.Getpid())+"\n"; got != want {
		t.Errorf("lock file = %q, want %q", got, want)
	}
}

func TestLockHolder_no_file(t *testing.T) {
	pid, err := LockHolder(filepath.Join(t.TempDir(), "gateway.lock"))
	if err != nil || pid != 0 {
		t.Errorf("LockHolder = %d, %v, want 0, nil", pid, err)
	}
}

func TestTryLock_refuses_symlink(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gateway.lock")
	if err := os.Symlink(filepath.Join(dir, "elsewhere"), path); err != nil {
		t.Fatal(err)
	}
	_, err := TryLock(path)
	if err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Errorf("TryLock = %v, want a symlink error", err)
	}
}

func TestLockedError_unknown_pid(t *testing.T) {
	err := &LockedError{Path: "/s/gateway.lock"}
	if got := err.Error(); !strings.Contains(got, "(pid unknown, lock /s/gateway.lock)") {
		t.Errorf("Error() = %q, want it to say the pid is unknown", got)
	}
}
