package channel

import (
	"context"
	"fmt"
	"time"
)

// Chat types of Inbound.ChatType.
const (
	ChatDirect = "direct"
	ChatGroup  = "group"
)

// Inbound is one message a platform delivered, normalised.
type Inbound struct {
	Channel    string    `json:"channel"`              // "telegram", …
	Account    string    `json:"account,omitempty"`    // the channel account that received it; "" for the default
	MessageID  string    `json:"messageId"`            // the platform's id for this delivery, unique per channel account: the dedup key
	SenderID   string    `json:"senderId,omitempty"`   // immutable platform user id
	SenderName string    `json:"senderName,omitempty"` // display name, for prompts and logs only (untrusted)
	ChatID     string    `json:"chatId"`
	ChatType   string    `json:"chatType,omitempty"` // ChatDirect or ChatGroup
	GuildID    string    `json:"guildId,omitempty"`  // Discord guild, Slack team; "" elsewhere
	ThreadID   string    `json:"threadId,omitempty"` // forum topic or thread; "" for none
	Text       string    `json:"text"`
	Mentioned  bool      `json:"mentioned,omitempty"` // the bot was @mentioned or replied to
	Time       time.Time `json:"time,omitzero"`
}

// Outbound is one reply to send.
type Outbound struct {
	Channel  string
	Account  string
	ChatID   string
	ThreadID string
	ReplyTo  string // platform message id to quote; "" for none
	Text     string
}

// Sink takes an inbound message. It returns nil only once the message is
// recorded durably (the inbox commit); an adapter acknowledges a message to
// its platform only after Sink returned nil for it.
type Sink func(ctx context.Context, in Inbound) error

// Channel is one chat platform account.
type Channel interface {
	// Name is the channel's name, as in config: "telegram".
	Name() string
	// Run receives messages into sink until ctx ends, reconnecting by
	// itself. It returns nil when ctx ends and an error only when it cannot
	// go on (a refused token).
	Run(ctx context.Context, sink Sink) error
	// Send delivers out. A *RetryAfterError asks the caller to wait.
	Send(ctx context.Context, out Outbound) error
}

// Typer is a Channel that can show a typing indicator.
type Typer interface {
	Typing(ctx context.Context, chatID string) error
}

// Limits is a Channel whose messages have a maximum length, in characters
// (Unicode code points).
type Limits interface {
	MaxMessageLen() int
}

// Statuser is a Channel that reports whether it is connected to its
// platform and the last error it had, for gatehouse status.
type Statuser interface {
	Status() (connected bool, lastErr error)
}

// RetryAfterError is a platform's request to wait before sending again
// (Telegram's 429 with parameters.retry_after).
type RetryAfterError struct {
	After time.Duration
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("rate limited by the platform: retry after %s", e.After)
}
