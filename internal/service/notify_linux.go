package service

import (
	"errors"
	"net"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// NewNotifier returns a Notifier for the service manager described by
// getenv's NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID (pass os.Getenv).
// The watchdog applies only when WATCHDOG_PID is empty or names this
// process, so a child that inherits the environment does not ping for its
// parent.
//
// It reads only; the variables stay set. NOTIFY_SOCKET "vsock:…" addresses
// (systemd 254, for virtual machines) are not supported: sends return an
// error.
func NewNotifier(getenv func(string) string) *Notifier {
	n := &Notifier{socket: getenv("NOTIFY_SOCKET")}
	usec, err := strconv.ParseInt(getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || usec <= 0 {
		return n
	}
	if pid := getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return n
	}
	n.watchdog = time.Duration(usec) * time.Microsecond / 2
	return n
}

// sendDatagram writes msg as one unixgram datagram to socket, a file system
// path or, with a leading '@', a name in the abstract namespace (the net
// package makes the '@' a NUL byte).
func sendDatagram(socket, msg string) error {
	if socket[0] != '/' && socket[0] != '@' {
		return errors.New("want an absolute path or an @abstract socket name")
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: socket, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetWriteDeadline(time.Now().Add(sendTimeout)); err != nil {
		return err
	}
	_, err = conn.Write([]byte(msg))
	return err
}

// monotonicUsec reads CLOCK_MONOTONIC in microseconds, the clock systemd
// compares MONOTONIC_USEC against.
func monotonicUsec() (int64, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0, err
	}
	return ts.Nano() / 1e3, nil
}
