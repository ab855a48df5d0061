// Package gateway owns the gateway's HTTP server: the listener address and
// the exposure check, the HTTP routes (/healthz, the authenticated API), the
// WebSocket RPC on /ws with its challenge handshake and method table, token
// authentication with a per-client lockout, and the log file the RPC tails.
//
// Every route but /healthz needs the gateway token: a bearer header over
// HTTP, a challenge proof over the WebSocket. Tokens are compared in constant
// time and never accepted from a URL.
//
// Only the CLI imports gateway.
package gateway
