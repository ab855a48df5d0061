package slack

import (
	"testing"
	"time"

	"gatehouse/internal/channel"
)

func TestInbound(t *testing.T) {
	me := identity{UserID: "U0BOT", BotID: "B0BOT", TeamID: "T1"}
	msg := func(f func(*Event)) *Event {
		ev := &Event{Type: "message", Channel: "C1", ChannelType: "channel", User: "U1", Text: "hello", TS: "1700000000.000100", Team: "T1"}
		if f != nil {
			f(ev)
		}
		return ev
	}
	tests := []struct {
		name string
		ev   *Event
		ok   bool
		want channel.Inbound // checked when ok
	}{
		{"channel_message", msg(nil), true, channel.Inbound{ChatType: channel.ChatGroup, Text: "hello"}},
		{"im_is_direct", msg(func(e *Event) { e.Channel, e.ChannelType = "D1", "im" }), true, channel.Inbound{ChatType: channel.ChatDirect, Text: "hello"}},
		{"mpim_is_group", msg(func(e *Event) { e.Channel, e.ChannelType = "G1", "mpim" }), true, channel.Inbound{ChatType: channel.ChatGroup, Text: "hello"}},
		{"private_channel_is_group", msg(func(e *Event) { e.ChannelType = "group" }), true, channel.Inbound{ChatType: channel.ChatGroup, Text: "hello"}},
		{"unknown_type_is_group", msg(func(e *Event) { e.Channel, e.ChannelType = "D1", "app_home" }), true, channel.Inbound{ChatType: channel.ChatGroup, Text: "hello"}},
		{"mention", msg(func(e *Event) { e.Text = "hey <@U0BOT> look" }), true, channel.Inbound{ChatType: channel.ChatGroup, Text: "hey <@U0BOT> look", Mentioned: true}},
		{"legacy_mention", msg(func(e *Event) { e.Text = "<@U0BOT|gatehouse> hi" }), true, channel.Inbound{ChatType: channel.ChatGroup, Text: "<@U0BOT|gatehouse> hi", Mentioned: true}},
		{"other_user_mention", msg(func(e *Event) { e.Text = "<@U0BOTX> hi" }), true, channel.Inbound{ChatType: channel.ChatGroup, Text: "<@U0BOTX> hi"}},
		{"app_mention", msg(func(e *Event) { e.Type, e.ChannelType, e.Text = "app_mention", "", "hi" }), true, channel.Inbound{ChatType: channel.ChatGroup, Text: "hi", Mentioned: true}},
		{"thread_reply", msg(func(e *Event) { e.ThreadTS = "1699999999.000001" }), true, channel.Inbound{ChatType: channel.ChatGroup, Text: "hello", ThreadID: "1699999999.000001"}},
		{"thread_broadcast", msg(func(e *Event) { e.Subtype, e.ThreadTS = "thread_broadcast", "1.1" }), true, channel.Inbound{ChatType: channel.ChatGroup, Text: "hello", ThreadID: "1.1"}},
		{"unescaped", msg(func(e *Event) { e.Text = "a &lt;b&gt; &amp;amp;" }), true, channel.Inbound{ChatType: channel.ChatGroup, Text: "a <b> &amp;"}},
		{"profile_name", msg(func(e *Event) { e.UserProfile = &UserProfile{RealName: "Ann Lee", Name: "ann"} }), true, channel.Inbound{ChatType: channel.ChatGroup, Text: "hello", SenderName: "Ann Lee"}},
		{"bot_message", msg(func(e *Event) { e.Subtype, e.BotID, e.User = "bot_message", "B9", "" }), false, channel.Inbound{}},
		{"other_bot_as_user", msg(func(e *Event) { e.BotID = "B9" }), false, channel.Inbound{}},
		{"own_user", msg(func(e *Event) { e.User = "U0BOT" }), false, channel.Inbound{}},
		{"changed", msg(func(e *Event) { e.Subtype = "message_changed" }), false, channel.Inbound{}},
		{"deleted", msg(func(e *Event) { e.Subtype, e.Hidden = "message_deleted", true }), false, channel.Inbound{}},
		{"join", msg(func(e *Event) { e.Subtype = "channel_join" }), false, channel.Inbound{}},
		{"blank", msg(func(e *Event) { e.Text = " \n" }), false, channel.Inbound{}},
		{"no_ts", msg(func(e *Event) { e.TS = "" }), false, channel.Inbound{}},
		{"no_user", msg(func(e *Event) { e.User = "" }), false, channel.Inbound{}},
		{"reaction", &Event{Type: "reaction_added", User: "U1", Channel: "C1", TS: "1.1", Text: "x"}, false, channel.Inbound{}},
		{"nil", nil, false, channel.Inbound{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, ok := inbound(tt.ev, me, "")
			if ok != tt.ok {
				t.Fatalf("inbound ok = %v, want %v (%+v)", ok, tt.ok, in)
			}
			if !ok {
				return
			}
			want := tt.want
			want.Channel, want.MessageID, want.SenderID, want.ChatID, want.GuildID = "slack", tt.ev.Channel+":"+tt.ev.TS, "U1", tt.ev.Channel, "T1"
			want.Time = time.Unix(1700000000, 100000).UTC()
			if in != want {
				t.Errorf("inbound = %+v, want %+v", in, want)
			}
		})
	}
}

func TestTSTime(t *testing.T) {
	tests := []struct {
		ts   string
		want time.Time
	}{
		{"1355517523.000005", time.Unix(1355517523, 5000).UTC()},
		{"1355517523", time.Unix(1355517523, 0).UTC()},
		{"x.1", time.Time{}},
		{"-5.000001", time.Time{}},
		{"", time.Time{}},
	}
	for _, tt := range tests {
		if got := tsTime(tt.ts); !got.Equal(tt.want) {
			t.Errorf("tsTime(%q) = %v, want %v", tt.ts, got, tt.want)
		}
	}
}

func TestEscapeRoundTrip(t *testing.T) {
	for _, s := range []string{"a < b && c > d", "&lt; literal", "<!channel> <@U1> <http://x|y>"} {
		if got := unescape(escape(s)); got != s {
			t.Errorf("unescape(escape(%q)) = %q", s, got)
		}
	}
}
