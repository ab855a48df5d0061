package service

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// sendTimeout bounds one notification, so a service manager that stopped
// reading cannot hang the gateway.
const sendTimeout = 5 * time.Second

// Notifier sends sd_notify(3) messages to the service manager that started
// the process. A nil or zero Notifier, or one made outside systemd (no
// NOTIFY_SOCKET) or on another platform, does nothing and returns nil.
//
// A Notifier is safe for concurrent use; each message is one datagram on a
// fresh connection.
type Notifier struct {
	socket   string        // NOTIFY_SOCKET: a path or "@abstract" name; "" disables
	watchdog time.Duration // half of WATCHDOG_USEC; 0 disables the watchdog
}

// Ready tells the service manager that startup, or a reload, is finished.
func (n *Notifier) Ready() error { return n.send("READY=1") }

// Reloading tells the service manager that the configuration is being
// reloaded; call Ready when done. The message carries MONOTONIC_USEC, which
// systemd 253 and later require for Type=notify-reload.
func (n *Notifier) Reloading() error {
	if !n.enabled() {
		return nil
	}
	usec, err := monotonicUsec()
	if err != nil {
		return fmt.Errorf("notify reloading: %w", err)
	}
	return n.send(fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d", usec))
}

// Stopping tells the service manager that shutdown has begun.
func (n *Notifier) Stopping() error { return n.send("STOPPING=1") }

// Status sets the one-line status that systemctl status shows. Line breaks
// in s become spaces, so s cannot add assignments such as READY=1 or
// MAINPID= to the message.
func (n *Notifier) Status(s string) error {
	s = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
	return n.send("STATUS=" + s)
}

// WatchdogInterval returns how often RunWatchdog pings: half of
// WATCHDOG_USEC, as sd_watchdog_enabled(3) advises, or 0 when the service
// manager asked for no watchdog or asked it of another process.
func (n *Notifier) WatchdogInterval() time.Duration {
	if !n.enabled() {
		return 0
	}
	return n.watchdog
}

// RunWatchdog sends WATCHDOG=1 every WatchdogInterval until ctx is done,
// and then returns nil. It returns nil at once when the watchdog is off, and
// the error when a ping cannot be sent: the service manager will soon kill a
// process that stops pinging, so the caller should shut down cleanly first.
func (n *Notifier) RunWatchdog(ctx context.Context) error {
	interval := n.WatchdogInterval()
	if interval <= 0 {
		return nil
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := n.send("WATCHDOG=1"); err != nil {
				return err
			}
		}
	}
}

func (n *Notifier) enabled() bool { return n != nil && n.socket != "" }

// send delivers one message, or does nothing for a disabled Notifier.
func (n *Notifier) send(msg string) error {
	if !n.enabled() {
		return nil
	}
	if err := sendDatagram(n.socket, msg); err != nil {
		kind, _, _ := strings.Cut(msg, "=")
		return fmt.Errorf("notify service manager of %s via NOTIFY_SOCKET %q: %w", kind, n.socket, err)
	}
	return nil
}
