package discord

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"gatehouse/internal/channel"
)

// Gateway opcodes.
const (
	opDispatch       = 0
	opHeartbeat      = 1
	opIdentify       = 2
	opResume         = 6
	opReconnect      = 7
	opInvalidSession = 9
	opHello          = 10
	opHeartbeatACK   = 11
)

// Gateway intents the adapter asks for.
const (
	intentGuilds         = 1 << 0
	intentGuildMessages  = 1 << 9
	intentDirectMessages = 1 << 12
	intentMessageContent = 1 << 15 // privileged: enabled in the Developer Portal

	intents = intentGuilds | intentGuildMessages | intentDirectMessages | intentMessageContent
)

// Message types that carry what a person wrote.
const (
	messageDefault = 0
	messageReply   = 19
)

// payload is a gateway message: {"op", "d", "s", "t"}.
type payload struct {
	Op int             `json:"op"`
	D  json.RawMessage `json:"d"`
	S  *int64          `json:"s,omitempty"` // sequence number, dispatches only
	T  string          `json:"t,omitempty"` // event name, dispatches only
}

// decodePayload decodes one gateway message. A dispatch must carry an
// event name and a positive sequence number.
func decodePayload(b []byte) (payload, error) {
	var p payload
	if err := json.Unmarshal(b, &p); err != nil {
		return payload{}, fmt.Errorf("discord: decode gateway payload: %w", err)
	}
	if p.Op == opDispatch && (p.T == "" || p.S == nil || *p.S <= 0) {
		return payload{}, errors.New("discord: decode gateway payload: dispatch without an event name or sequence number")
	}
	return p, nil
}

// hello is HELLO's data.
type hello struct {
	HeartbeatInterval int64 `json:"heartbeat_interval"` // milliseconds
}

// ready is READY's data, the part the adapter reads.
type ready struct {
	SessionID        string `json:"session_id"`
	ResumeGatewayURL string `json:"resume_gateway_url"`
	User             user   `json:"user"`
}

// message is a Message object, the part the adapter reads.
type message struct {
	ID         string   `json:"id"`
	ChannelID  string   `json:"channel_id"`
	GuildID    string   `json:"guild_id"`
	Author     user     `json:"author"`
	Member     *member  `json:"member"`
	Content    string   `json:"content"`
	Timestamp  string   `json:"timestamp"`
	Mentions   []user   `json:"mentions"`
	Type       int      `json:"type"`
	WebhookID  string   `json:"webhook_id"`
	Referenced *message `json:"referenced_message"`
}

// user is a User object.
type user struct {
	ID         string `json:"id"`
	Username   string `json:"username"`
	GlobalName string `json:"global_name"`
	Bot        bool   `json:"bot"`
	System     bool   `json:"system"`
}

// member is a guild Member object.
type member struct {
	Nick string `json:"nick"`
}

func decodeMessage(d json.RawMessage) (message, error) {
	var m message
	if err := json.Unmarshal(d, &m); err != nil {
		return message{}, fmt.Errorf("discord: decode MESSAGE_CREATE: %w", err)
	}
	return m, nil
}

// inbound maps m to an Inbound for the bot botID, or reports false for a
// message not for the agent: the bot's own, another bot's or a webhook's,
// a system message (a join, a pin), one without text, or one whose ids are
// not snowflakes.
func inbound(m message, botID, account string) (channel.Inbound, bool) {
	if m.Type != messageDefault && m.Type != messageReply {
		return channel.Inbound{}, false
	}
	if m.Author.Bot || m.Author.System || m.WebhookID != "" || m.Author.ID == botID {
		return channel.Inbound{}, false
	}
	if !snowflake(m.ID) || !snowflake(m.ChannelID) || !snowflake(m.Author.ID) || (m.GuildID != "" && !snowflake(m.GuildID)) {
		return channel.Inbound{}, false
	}
	if strings.TrimSpace(m.Content) == "" {
		return channel.Inbound{}, false
	}
	in := channel.Inbound{
		Channel:    Name,
		Account:    account,
		MessageID:  m.ID,
		SenderID:   m.Author.ID,
		SenderName: m.Author.GlobalName,
		ChatID:     m.ChannelID,
		ChatType:   channel.ChatDirect,
		Text:       m.Content,
		Mentioned:  mentioned(m, botID),
	}
	if m.GuildID != "" {
		in.ChatType, in.GuildID = channel.ChatGroup, m.GuildID
	}
	if m.Member != nil && m.Member.Nick != "" {
		in.SenderName = m.Member.Nick
	}
	if in.SenderName == "" {
		in.SenderName = m.Author.Username
	}
	if t, err := time.Parse(time.RFC3339, m.Timestamp); err == nil {
		in.Time = t.UTC()
	}
	return in, true
}

// mentioned reports whether m @mentions the bot botID or replies to it.
func mentioned(m message, botID string) bool {
	if botID == "" {
		return false
	}
	for _, u := range m.Mentions {
		if u.ID == botID {
			return true
		}
	}
	if strings.Contains(m.Content, "<@"+botID+">") || strings.Contains(m.Content, "<@!"+botID+">") {
		return true
	}
	return m.Referenced != nil && m.Referenced.Author.ID == botID
}

// snowflake reports whether s is a Discord id: 1 to 20 decimal digits.
func snowflake(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
