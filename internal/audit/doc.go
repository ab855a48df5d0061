// Package audit is Gatehouse's security audit: a catalog of checks on the
// configuration, the state directory and, with Options.Deep, the running
// gateway and its host; the fixers that repair what is safe to repair; and
// the seed guides' verification checklist built on the same results.
//
// # Using it
//
// [Run] audits one state directory and returns a [Report]. It never
// changes anything unless Options.Fix is set, and then only what the
// catalog marks fixable: file modes and ownership, and a few config keys
// whose safe value is not in doubt (redaction, mDNS, the control UI's
// insecure auth, open group policies, configWrites, missing sandbox
// limits). It never rotates a secret and never changes the bind.
//
// The CLI (gatehouse security audit, gatehouse verify) and the gateway's
// self-audit both call Run in-process; nothing here prints or exits. The
// CLI maps [Report.Highest] to the exit status: 0 when no finding is worse
// than info, 1 for warnings only, 2 for any critical finding.
//
// # Comparing runs
//
// Every [Finding] has a stable CheckID from [Catalog] and a Subject naming
// what it is about: a dotted config path (channels.telegram.dmPolicy), a
// path relative to the state directory (gatehouse.json, "." for the
// directory itself), an address or a URL path. [Finding.Key] joins the
// two and is the same on every run for the same problem, so [Diff] can
// tell what is new since the last report: that is what the gateway tells
// its owner about. Neither Subject nor Detail ever holds a secret's value.
//
// # Deep checks
//
// With Options.Deep the audit probes the running gateway the way an
// attacker on this host would, always through loopback (127.0.0.1 or
// [::1], whatever the gateway binds): routes without credentials, a
// WebSocket upgrade with a foreign Origin, a foreign Host header, an RPC
// before authenticating, and the lockout after ten wrong tokens, sent from
// a loopback address of its own (127.x.y.z) so that the lockout it
// triggers never locks out the owner's CLI. It also reads this host's
// state with read-only commands, each with a timeout: the gateway's
// listening sockets (/proc/net/tcp), the firewall (ufw, nft or iptables),
// the DOCKER-USER chain when a Docker engine is installed, the systemd
// unit's `systemd-analyze security` exposure, `tailscale funnel status`,
// and the user the gateway runs as. A check that cannot run is reported as
// skipped, with the reason; it never passes silently.
//
// This package is imported by internal/cli and internal/gateway; it must
// import neither.
package audit
