package slack

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"gatehouse/internal/channel"
	"gatehouse/internal/testkit"
)

// FuzzDecodeEvent feeds arbitrary bytes to the events_api payload decoder
// and the mapping to channel.Inbound: no panic, and every Inbound is well
// formed and never from the bot itself.
func FuzzDecodeEvent(f *testing.F) {
	seeds := []string{
		`{"type":"event_callback","team_id":"T1","event":{"type":"message","channel":"D1","channel_type":"im","user":"U1","text":"hi","ts":"1.000001"}}`,
		`{"type":"event_callback","event":{"type":"app_mention","channel":"C1","user":"U1","text":"<@U0BOT> hi","ts":"2.5","thread_ts":"1.0"}}`,
		`{"type":"event_callback","event":{"type":"message","subtype":"message_changed","hidden":true,"message":{"text":"x"},"channel":"C1","ts":"3.0"}}`,
		`{"type":"event_callback","event":{"type":"message","bot_id":"B1","text":"bot","channel":"C1","ts":"4.0"}}`,
		`{"type":"event_callback","event":{"type":"message","user":"U0BOT","text":"me","channel":"C1","ts":"5.0"}}`,
		`{"type":"event_callback","event":{"type":"user_change","user":{"id":"U1"}}}`,
		`{"type":"event_callback","event":{"type":"message","user":{"id":"U1"}}}`,
		`{"type":"event_callback","event":"message"}`,
		`{"type":"url_verification","challenge":"x"}`,
		`{"type":"event_callback","event":{"type":"message","user":"U1","text":"\ud800 &lt;","channel":"C1","ts":"99999999999999999999.1"}}`,
		`null`, `[]`, `{}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	// The payloads of the documented envelopes.
	files := testkit.SlackFiles("events_api_*.json")
	if len(files) == 0 {
		f.Fatal("no events_api_*.json in testkit's testdata/slack")
	}
	for _, name := range files {
		b := testkit.SlackFile(f, name)
		var env envelope
		if err := json.Unmarshal(b, &env); err != nil {
			f.Fatalf("%s: %v", name, err)
		}
		f.Add([]byte(env.Payload))
	}
	me := identity{UserID: "U0BOT", BotID: "B0BOT"}
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := DecodeEvent(b)
		if err != nil || ev == nil {
			return
		}
		if ev.Type != "message" && ev.Type != "app_mention" {
			t.Fatalf("decoded a %q event", ev.Type)
		}
		in, ok := inbound(ev, me, "")
		if !ok {
			return
		}
		if in.Channel != Name || in.MessageID != ev.Channel+":"+ev.TS {
			t.Fatalf("channel %q, MessageID %q for %+v", in.Channel, in.MessageID, ev)
		}
		if in.ChatType != channel.ChatDirect && in.ChatType != channel.ChatGroup {
			t.Fatalf("ChatType %q", in.ChatType)
		}
		if in.ChatID == "" || in.SenderID == "" || in.SenderID == me.UserID || strings.TrimSpace(in.Text) == "" {
			t.Fatalf("bad inbound %+v", in)
		}
		if !utf8.ValidString(in.Text) {
			t.Fatalf("text not UTF-8: %q", in.Text)
		}
		if in.ChatType == channel.ChatDirect && ev.ChannelType != "im" && ev.ChannelType != "" {
			t.Fatalf("%q conversation mapped to direct", ev.ChannelType)
		}
	})
}
