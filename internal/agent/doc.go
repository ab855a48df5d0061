// Package agent runs the conversation: it maps an inbound message to a
// session, runs one turn at a time per session (many sessions in
// parallel), assembles the prompt from the workspace files and the
// session's history, calls the model, runs the tools it asks for through
// the tool policy, and stores the redacted transcript and the usage. It
// also answers chat commands (/new, /reset, /status, /stop), compacts long
// histories into a summary, and enforces the daily budget before every
// model call.
//
// Everything a turn reads from outside the owner's own words is untrusted:
// tool results, and the summaries made from them, reach the model only
// inside nonce-tagged fences (see fence.go), and inbound text is stripped of
// chat-template control tokens.
//
// The gateway wires it; channels know nothing of it, and it knows nothing
// of channels: they meet as [Inbound] values. It owns the sessions,
// messages, usage and notices tables of package store.
package agent
