package telegram

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gatehouse/internal/channel"
)

// Update is the part of a Bot API Update the adapter reads.
type Update struct {
	UpdateID int64    `json:"update_id"`
	Message  *Message `json:"message"`
}

// Message is the part of a Bot API Message the adapter reads.
type Message struct {
	MessageID       int64    `json:"message_id"`
	MessageThreadID int64    `json:"message_thread_id"`
	IsTopicMessage  bool     `json:"is_topic_message"`
	From            *User    `json:"from"`
	Chat            Chat     `json:"chat"`
	Date            int64    `json:"date"`
	Text            string   `json:"text"`
	Caption         string   `json:"caption"`
	ReplyTo         *Message `json:"reply_to_message"`
}

// User is a Bot API User.
type User struct {
	ID        int64  `json:"id"`
	IsBot     bool   `json:"is_bot"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Username  string `json:"username"`
}

// Chat is a Bot API Chat.
type Chat struct {
	ID    int64  `json:"id"`
	Type  string `json:"type"` // private, group, supergroup, channel
	Title string `json:"title"`
}

// DecodeUpdate decodes one update of a getUpdates result.
func DecodeUpdate(b []byte) (Update, error) {
	var u Update
	if err := json.Unmarshal(b, &u); err != nil {
		return Update{}, fmt.Errorf("telegram: decode update: %w", err)
	}
	if u.UpdateID <= 0 {
		return Update{}, fmt.Errorf("telegram: decode update: no update_id")
	}
	return u, nil
}

// inbound maps u to an Inbound for the bot me, or reports false for an
// update that carries no text message for the agent (a service message, a
// photo without caption, another bot).
func inbound(u Update, me User, account string) (channel.Inbound, bool) {
	m := u.Message
	if m == nil || m.From == nil || m.From.IsBot {
		return channel.Inbound{}, false
	}
	text := m.Text
	if text == "" {
		text = m.Caption
	}
	if strings.TrimSpace(text) == "" {
		return channel.Inbound{}, false
	}
	in := channel.Inbound{
		Channel:    "telegram",
		Account:    account,
		MessageID:  strconv.FormatInt(u.UpdateID, 10),
		SenderID:   strconv.FormatInt(m.From.ID, 10),
		SenderName: strings.TrimSpace(m.From.FirstName + " " + m.From.LastName),
		ChatID:     strconv.FormatInt(m.Chat.ID, 10),
		ChatType:   channel.ChatGroup,
		Text:       text,
		Time:       time.Unix(m.Date, 0).UTC(),
	}
	if in.SenderName == "" {
		in.SenderName = m.From.Username
	}
	if m.Chat.Type == "private" {
		in.ChatType = channel.ChatDirect
	}
	if m.IsTopicMessage && m.MessageThreadID != 0 {
		in.ThreadID = strconv.FormatInt(m.MessageThreadID, 10)
	}
	in.Mentioned = mentions(text, me.Username) || (m.ReplyTo != nil && m.ReplyTo.From != nil && me.ID != 0 && m.ReplyTo.From.ID == me.ID)
	return in, true
}

// mentions reports whether text holds @username as a whole word
// (usernames are case-insensitive).
func mentions(text, username string) bool {
	if username == "" {
		return false
	}
	lower, want := strings.ToLower(text), "@"+strings.ToLower(username)
	for i := 0; ; {
		j := strings.Index(lower[i:], want)
		if j < 0 {
			return false
		}
		end := i + j + len(want)
		if end == len(lower) || !isUsernameByte(lower[end]) {
			return true
		}
		i = end
	}
}

func isUsernameByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
}
