package agent

import (
	"testing"
)

func TestSessionKey(t *testing.T) {
	tests := []struct {
		name  string
		scope string
		in    Inbound
		want  string
	}{
		{"main_owner", "main", Inbound{Channel: "telegram", PeerID: "42", ChatType: ChatDirect, Owner: true}, "agent:main:main"},
		{"main_owner_other_channel", "main", Inbound{Channel: "discord", PeerID: "7", ChatType: ChatDirect, Owner: true}, "agent:main:main"},
		{"main_stranger_falls_back", "main", Inbound{Channel: "telegram", PeerID: "42", ChatType: ChatDirect}, "agent:main:telegram:dm:42"},
		{"per_peer", "per-peer", Inbound{Channel: "telegram", PeerID: "42", ChatType: ChatDirect}, "agent:main:dm:42"},
		{"per_channel_peer", "per-channel-peer", Inbound{Channel: "telegram", PeerID: "42", ChatType: ChatDirect}, "agent:main:telegram:dm:42"},
		{"default_scope", "", Inbound{Channel: "telegram", PeerID: "42", ChatType: ChatDirect}, "agent:main:telegram:dm:42"},
		{"unknown_scope", "everyone", Inbound{Channel: "telegram", PeerID: "42", ChatType: ChatDirect}, "agent:main:telegram:dm:42"},
		{"per_account", "per-account-channel-peer", Inbound{Channel: "slack", Account: "T01", PeerID: "U9", ChatType: ChatDirect}, "agent:main:slack:T01:dm:U9"},
		{"group", "per-channel-peer", Inbound{Channel: "telegram", PeerID: "42", ChatID: "-100", ChatType: ChatGroup}, "agent:main:telegram:group:-100"},
		{"group_under_main", "main", Inbound{Channel: "telegram", PeerID: "42", ChatID: "-100", ChatType: ChatGroup, Owner: true}, "agent:main:telegram:group:-100"},
		{"colon_escaped", "per-channel-peer", Inbound{Channel: "telegram", PeerID: "1:group:2", ChatType: ChatDirect}, "agent:main:telegram:dm:1%3Agroup%3A2"},
		{"percent_escaped", "per-peer", Inbound{Channel: "x", PeerID: "%3A", ChatType: ChatDirect}, "agent:main:dm:%253A"},
		{"space_and_newline", "per-peer", Inbound{Channel: "x", PeerID: "a b\n", ChatType: ChatDirect}, "agent:main:dm:a%20b%0A"},
		{"channel_escaped", "per-channel-peer", Inbound{Channel: "tg:dm", PeerID: "1", ChatType: ChatDirect}, "agent:main:tg%3Adm:dm:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SessionKey(tt.scope, tt.in); got != tt.want {
				t.Errorf("SessionKey(%q, %+v) = %q, want %q", tt.scope, tt.in, got, tt.want)
			}
		})
	}
}

// TestSessionKeyNoCollision checks that a crafted peer id cannot land in
// another peer's or a group's session.
func TestSessionKeyNoCollision(t *testing.T) {
	a := SessionKey("per-account-channel-peer", Inbound{Channel: "tg", Account: "a:dm:b", PeerID: "c", ChatType: ChatDirect})
	b := SessionKey("per-account-channel-peer", Inbound{Channel: "tg", Account: "a", PeerID: "b:dm:c", ChatType: ChatDirect})
	g := SessionKey("per-channel-peer", Inbound{Channel: "tg", ChatID: "5", ChatType: ChatGroup})
	d := SessionKey("per-channel-peer", Inbound{Channel: "tg", PeerID: "x:group:5", ChatType: ChatDirect})
	if a == b || g == d {
		t.Errorf("keys collide: %q %q, %q %q", a, b, g, d)
	}
}

func TestInboundValidate(t *testing.T) {
	tests := []struct {
		name    string
		in      Inbound
		wantErr bool
	}{
		{"dm", Inbound{Channel: "tg", PeerID: "1", ChatType: ChatDirect}, false},
		{"group", Inbound{Channel: "tg", ChatID: "1", ChatType: ChatGroup}, false},
		{"explicit_key", Inbound{SessionKey: "agent:main:cli:dm:owner", ChatType: ChatDirect}, false},
		{"no_channel", Inbound{PeerID: "1", ChatType: ChatDirect}, true},
		{"no_peer", Inbound{Channel: "tg", ChatType: ChatDirect}, true},
		{"group_no_chat", Inbound{Channel: "tg", PeerID: "1", ChatType: ChatGroup}, true},
		{"bad_chat_type", Inbound{Channel: "tg", PeerID: "1", ChatType: "channel"}, true},
		{"no_chat_type", Inbound{SessionKey: "agent:main:x", Channel: "tg", PeerID: "1"}, true},
		{"key_without_prefix", Inbound{SessionKey: "main", ChatType: ChatDirect}, true},
		{"key_with_newline", Inbound{SessionKey: "agent:main:x\n", ChatType: ChatDirect}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.in.validate()
			if (err != nil) != tt.wantErr {
				t.Errorf("validate(%+v) = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
		})
	}
}
