// Package access decides who may talk to the agent, before anything a
// message carries reaches the agent or the inbox: the DM policy (pairing,
// allowlist, open, disabled), allowFrom lists, the group policy with its
// per-group, per-guild and per-channel rules, the mention gate, pairing
// codes and their approval, and a per-sender rate limit.
//
// A [Gate] answers one [Request] with a [Decision]: [Allow], [Pair] (an
// unknown DM sender under the pairing policy: reply with a code from
// [Gate.PairingCode], pass nothing on) or [Deny] (ignore silently). The
// gate never sees message text, except for [ParseApprove], which the
// caller uses on the owner's own DMs.
//
// Senders are matched on immutable platform ids only: an allowFrom entry is
// "123" or "<channel>:123", compared exactly after trimming the entry's
// surrounding spaces. Usernames and display names never match, because
// they change hands. [Validate] reports the entries and settings that
// cannot work or are risky, for the config check and the security audit.
//
// Only the gateway's wiring and the CLI's offline commands may import it;
// channels and the agent must not. It owns the pairing_requests and
// allowed_senders tables of package store.
package access
