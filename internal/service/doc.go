// Package service owns Gatehouse's life under systemd: the sd_notify
// protocol (readiness, reloads, stopping, status and the watchdog), the
// hardened unit that runs `gatehouse gateway run` (unit.go), the plans that
// install and remove it (plan.go, apply.go), and what systemd says about
// it (status.go).
//
// It imports nothing of Gatehouse's. The CLI reads the configuration and
// describes the gateway in a [Unit]; the gateway's run loop uses the
// [Notifier]; an audit may hold an installed unit to [MaxExposure].
package service
