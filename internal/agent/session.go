package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Inbound is one message for the agent, as the router hands it over.
type Inbound struct {
	Channel  string // "telegram", "discord", "cli", …
	Account  string // the bot account on the channel, for multi-account channels
	PeerID   string // the sender's immutable platform id
	ChatID   string // the chat (group) id
	ChatType string // "direct" | "group"
	// Owner reports that the sender is the owner (host user, or a chat
	// identity the owner approved).
	Owner bool
	// SessionKey, when set, overrides the key derived from the fields
	// above (the CLI and the RPC name sessions directly).
	SessionKey string
	Text       string
	// Say, when not nil, sends text to the chat the turn answers, before
	// the reply: the message tool uses it.
	Say func(ctx context.Context, text string) error
}

// Chat types.
const (
	ChatDirect = "direct"
	ChatGroup  = "group"
)

// maxKeyLen bounds a session key.
const maxKeyLen = 512

// SessionKey returns the session key for in under dmScope (the
// session.dmScope setting):
//
//	main                      agent:main:main (owner DMs on every channel share it)
//	per-peer                  agent:main:dm:<peer>
//	per-channel-peer          agent:main:<channel>:dm:<peer> (the default)
//	per-account-channel-peer  agent:main:<channel>:<account>:dm:<peer>
//	any, in a group           agent:main:<channel>:group:<chatId>
//
// Two senders never share a history unless dmScope is main, and even then
// only owners share the main session: a DM from anyone else falls back to
// per-channel-peer, so that a stranger never reads the owner's
// conversation. An unknown dmScope means per-channel-peer.
//
// Components are escaped (see escapeComponent), so a peer id holding ':'
// cannot forge another session's key. in.SessionKey is ignored.
func SessionKey(dmScope string, in Inbound) string {
	ch, peer := escapeComponent(in.Channel), escapeComponent(in.PeerID)
	if in.ChatType == ChatGroup {
		return "agent:main:" + ch + ":group:" + escapeComponent(in.ChatID)
	}
	switch dmScope {
	case "main":
		if in.Owner {
			return "agent:main:main"
		}
	case "per-peer":
		return "agent:main:dm:" + peer
	case "per-account-channel-peer":
		return "agent:main:" + ch + ":" + escapeComponent(in.Account) + ":dm:" + peer
	}
	return "agent:main:" + ch + ":dm:" + peer
}

// escapeComponent percent-encodes every byte of s outside
// [A-Za-z0-9._@+-], ':' and '%' included, so that components never split
// or run into each other. Distinct inputs give distinct outputs.
func escapeComponent(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '.' || c == '_' || c == '@' || c == '+' || c == '-' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// validate checks the fields SessionKey relies on.
func (in *Inbound) validate() error {
	if in.ChatType != ChatDirect && in.ChatType != ChatGroup {
		return fmt.Errorf("chat type %q is neither %q nor %q", in.ChatType, ChatDirect, ChatGroup)
	}
	if in.SessionKey != "" {
		return checkKey(in.SessionKey)
	}
	switch {
	case in.Channel == "":
		return errors.New("inbound message has no channel")
	case in.ChatType == ChatDirect && in.PeerID == "":
		return errors.New("direct message has no peer id")
	case in.ChatType == ChatGroup && in.ChatID == "":
		return errors.New("group message has no chat id")
	}
	return nil
}

// checkKey accepts an explicit session key: agent:…, printable, bounded.
func checkKey(key string) error {
	if !strings.HasPrefix(key, "agent:") || len(key) > maxKeyLen || !utf8.ValidString(key) {
		return fmt.Errorf("session key %.80q must start with agent: and be at most %d bytes of UTF-8: see gatehouse sessions list", key, maxKeyLen)
	}
	for _, r := range key {
		if r < 0x20 || r == 0x7f || r == ' ' {
			return fmt.Errorf("session key %.80q holds a space or control character", key)
		}
	}
	return nil
}
