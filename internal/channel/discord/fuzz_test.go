package discord

import (
	"encoding/json"
	"strings"
	"testing"

	"gatehouse/internal/channel"
	"gatehouse/internal/testkit"
)

// FuzzDecodeDispatch feeds arbitrary gateway messages to the payload
// decoder and, for MESSAGE_CREATE, to the mapping to channel.Inbound: no
// panic, a dispatch always has an event name and a positive sequence
// number, and every Inbound is well formed and never the bot's own.
func FuzzDecodeDispatch(f *testing.F) {
	wrap := func(t string, s int64, d []byte) []byte {
		return mustJSON(payload{Op: opDispatch, T: t, S: &s, D: d})
	}
	f.Add(wrap("READY", 1, testkit.DiscordFile(f, "ready.json")))
	f.Add(wrap("MESSAGE_CREATE", 2, messageJSON(f, nil)))
	f.Add(wrap("MESSAGE_CREATE", 3, messageJSON(f, map[string]any{"guild_id": nil, "member": nil, "content": "<@" + botID + "> hi"})))
	f.Add(wrap("MESSAGE_CREATE", 4, messageJSON(f, map[string]any{"author": map[string]any{"id": botID, "bot": true}})))
	f.Add(wrap("MESSAGE_CREATE", 5, messageJSON(f, map[string]any{"id": "../x", "content": "x"})))
	f.Add(wrap("MESSAGE_CREATE", 6, messageJSON(f, map[string]any{"referenced_message": map[string]any{"author": map[string]any{"id": botID}}})))
	for _, s := range []string{
		`{"op":10,"d":{"heartbeat_interval":41250},"s":null,"t":null}`,
		`{"op":11}`,
		`{"op":1,"d":251}`,
		`{"op":7,"d":null}`,
		`{"op":9,"d":false}`,
		`{"op":0,"t":"MESSAGE_CREATE","s":0,"d":{}}`,
		`{"op":0,"t":"MESSAGE_CREATE","s":1,"d":{"content":"\ud800","author":{"id":"1"},"id":"2","channel_id":"3"}}`,
		`{"op":0,"t":"RESUMED","s":9,"d":null}`,
		`{"op":"0"}`,
		`[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodePayload(b)
		if err != nil {
			return
		}
		if p.Op != opDispatch {
			return
		}
		if p.T == "" || p.S == nil || *p.S <= 0 {
			t.Fatalf("dispatch decoded without event name or seq: %+v", p)
		}
		if p.T != "MESSAGE_CREATE" {
			return
		}
		m, err := decodeMessage(p.D)
		if err != nil {
			return
		}
		in, ok := inbound(m, botID, "")
		if !ok {
			return
		}
		if in.Channel != Name || in.MessageID != m.ID || !snowflake(in.MessageID) || !snowflake(in.ChatID) || !snowflake(in.SenderID) {
			t.Fatalf("malformed inbound %+v", in)
		}
		if in.SenderID == botID {
			t.Fatalf("the bot's own message became inbound: %+v", in)
		}
		if strings.TrimSpace(in.Text) == "" {
			t.Fatalf("blank text: %+v", in)
		}
		switch {
		case in.ChatType == channel.ChatDirect && in.GuildID == "":
		case in.ChatType == channel.ChatGroup && snowflake(in.GuildID):
		default:
			t.Fatalf("chat type %q with guild %q", in.ChatType, in.GuildID)
		}
		if _, err := json.Marshal(in); err != nil {
			t.Fatalf("inbound does not encode: %v", err)
		}
	})
}
