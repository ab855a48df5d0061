// Package service owns Gatehouse's life under a service manager: the
// sd_notify protocol (readiness, reloads, stopping, status and the watchdog)
// and, later, rendering and installing the systemd unit and managing
// instances.
//
// It imports nothing of Gatehouse's. The gateway's run loop uses the
// Notifier; the CLI uses the unit installer. Nothing below the gateway may
// import it.
package service
