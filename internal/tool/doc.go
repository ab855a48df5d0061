// Package tool owns what the agent may do besides talking: the [Tool]
// interface, the [Registry] of tools a gateway offers, the policy that
// decides which of them a turn may use ([Allowed]), strict decoding of the
// arguments a model sends ([DecodeArgs]), and the built-in tools that touch
// nothing outside the process (time_now, session_status).
//
// Tools that could reconfigure the gateway (its config, pairing, devices,
// nodes or tool policy) do not exist for the agent at all: no such tool is
// ever registered, the names "gateway", "nodes", "config" and "pairing" are
// refused by [NewRegistry] and by [Allowed], and nothing in this package can
// reach the gateway's state. A prompt-injected model can therefore only ask
// for tools whose worst case the sandbox bounds.
//
// The agent imports this package; tools import the sandbox and egress
// packages, never the agent, the gateway or a channel.
package tool
