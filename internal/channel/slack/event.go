package slack

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gatehouse/internal/channel"
)

// envelope is one Socket Mode message from Slack: hello, events_api,
// disconnect, or a kind the adapter only acknowledges (slash_commands,
// interactive).
type envelope struct {
	Type         string          `json:"type"`
	EnvelopeID   string          `json:"envelope_id"`
	Payload      json.RawMessage `json:"payload"`
	Reason       string          `json:"reason"` // disconnect only
	RetryAttempt int             `json:"retry_attempt"`
}

// callback is the part of an events_api payload (an Events API
// event_callback) the adapter reads.
type callback struct {
	Type   string          `json:"type"`
	TeamID string          `json:"team_id"`
	Event  json.RawMessage `json:"event"`
}

// Event is a message or app_mention event, the part of it the adapter
// reads.
type Event struct {
	Type        string       `json:"type"`    // message or app_mention
	Subtype     string       `json:"subtype"` // "" for a plain user message
	Hidden      bool         `json:"hidden"`
	Channel     string       `json:"channel"`
	ChannelType string       `json:"channel_type"` // im, mpim, channel, group; absent on app_mention
	User        string       `json:"user"`
	BotID       string       `json:"bot_id"`
	Text        string       `json:"text"`
	TS          string       `json:"ts"`
	ThreadTS    string       `json:"thread_ts"`
	ClientMsgID string       `json:"client_msg_id"`
	Team        string       `json:"team"`
	UserProfile *UserProfile `json:"user_profile"`
}

// UserProfile is the sender's profile some message events carry.
type UserProfile struct {
	DisplayName string `json:"display_name"`
	RealName    string `json:"real_name"`
	Name        string `json:"name"`
}

// DecodeEvent decodes the payload of an events_api envelope. It returns
// nil and no error for a payload that carries an event other than message
// or app_mention. Team is set from the payload's team_id when the event
// lacks it.
func DecodeEvent(payload []byte) (*Event, error) {
	var cb callback
	if err := json.Unmarshal(payload, &cb); err != nil {
		return nil, fmt.Errorf("slack: decode events_api payload: %w", err)
	}
	if cb.Type != "event_callback" || len(cb.Event) == 0 {
		return nil, nil
	}
	var kind struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(cb.Event, &kind); err != nil {
		return nil, fmt.Errorf("slack: decode event: %w", err)
	}
	if kind.Type != "message" && kind.Type != "app_mention" {
		return nil, nil
	}
	ev := new(Event)
	if err := json.Unmarshal(cb.Event, ev); err != nil {
		return nil, fmt.Errorf("slack: decode %s event: %w", kind.Type, err)
	}
	if ev.Team == "" {
		ev.Team = cb.TeamID
	}
	return ev, nil
}

// identity is who the bot is, from auth.test.
type identity struct {
	UserID string `json:"user_id"`
	BotID  string `json:"bot_id"`
	TeamID string `json:"team_id"`
	Team   string `json:"team"`
}

// userSubtype reports whether a message subtype is still a person's new
// message: none, a thread reply also sent to the channel, or a message
// with a file (whose text is read). Every other subtype (message_changed,
// message_deleted, bot_message, channel_join, …) is not for the agent.
func userSubtype(subtype string) bool {
	return subtype == "" || subtype == "thread_broadcast" || subtype == "file_share"
}

// inbound maps ev to an Inbound for the bot me, or reports false for an
// event that carries no new message from a person (a bot, the bot itself,
// an edit or deletion, a blank text).
func inbound(ev *Event, me identity, account string) (channel.Inbound, bool) {
	if ev == nil || ev.Type != "message" && ev.Type != "app_mention" {
		return channel.Inbound{}, false
	}
	if !userSubtype(ev.Subtype) || ev.Hidden || ev.BotID != "" || ev.User == "" || ev.User == me.UserID ||
		ev.Channel == "" || ev.TS == "" || strings.TrimSpace(ev.Text) == "" {
		return channel.Inbound{}, false
	}
	in := channel.Inbound{
		Channel: Name,
		Account: account,
		// Not client_msg_id: Slack sends one message as both a message and
		// an app_mention event, and only clients set client_msg_id, while
		// channel and ts name one message in both.
		MessageID: ev.Channel + ":" + ev.TS,
		SenderID:  ev.User,
		ChatID:    ev.Channel,
		ChatType:  chatType(ev),
		GuildID:   ev.Team,
		ThreadID:  ev.ThreadTS,
		Text:      unescape(ev.Text),
		Mentioned: ev.Type == "app_mention" || mentions(ev.Text, me.UserID),
		Time:      tsTime(ev.TS),
	}
	if p := ev.UserProfile; p != nil {
		in.SenderName = firstNonEmpty(p.DisplayName, p.RealName, p.Name)
	}
	return in, true
}

// chatType is direct for a one-to-one conversation with the bot and group
// for everything else, so a conversation of unknown kind falls under the
// stricter group policy.
func chatType(ev *Event) string {
	if ev.ChannelType == "im" || ev.ChannelType == "" && ev.Type == "message" && strings.HasPrefix(ev.Channel, "D") {
		return channel.ChatDirect
	}
	return channel.ChatGroup
}

// mentions reports whether text mentions the user id: <@U123> or the
// older <@U123|name>.
func mentions(text, userID string) bool {
	if userID == "" {
		return false
	}
	return strings.Contains(text, "<@"+userID+">") || strings.Contains(text, "<@"+userID+"|")
}

// unescape undoes the three escapes Slack applies to message text.
func unescape(s string) string {
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(s)
}

// escape applies them, so that the text sent is shown as written: a "<!channel>"
// or "<@U123>" the model writes is not a mention, and "<url|label>" not a
// disguised link.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// tsTime is the time of a Slack timestamp ("1355517523.000005"), or zero.
func tsTime(ts string) time.Time {
	sec, frac, _ := strings.Cut(ts, ".")
	s, err := strconv.ParseInt(sec, 10, 64)
	if err != nil || s < 0 {
		return time.Time{}
	}
	var us int64
	if len(frac) == 6 {
		if us, err = strconv.ParseInt(frac, 10, 64); err != nil || us < 0 {
			us = 0
		}
	}
	return time.Unix(s, us*1000).UTC()
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			return s
		}
	}
	return ""
}
