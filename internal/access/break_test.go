package access

// Every security rule has a test that tries to break it: these are the
// attempts. Each must end in Deny, or Pair for an unknown DM sender.

import (
	"errors"
	"testing"

	"gatehouse/internal/config"
)

func TestBreak_sender_matching(t *testing.T) {
	allowlist := func(entries ...string) *config.Channel {
		return &config.Channel{DMPolicy: "allowlist", AllowFrom: entries}
	}
	runDecide(t, []decideCase{
		{name: "trailing_space_in_sender", cfg: allowlist("123"), req: dm("telegram", "123 "), want: Deny},
		{name: "leading_space_in_sender", cfg: allowlist("123"), req: dm("telegram", " 123"), want: Deny},
		{name: "tab_in_sender", cfg: allowlist("123"), req: dm("telegram", "123\t"), want: Deny},
		{name: "zero_width_space_in_sender", cfg: allowlist("123"), req: dm("telegram", "123\u200b"), want: Deny},
		{name: "nul_in_sender", cfg: allowlist("123"), req: dm("telegram", "123\x00"), want: Deny},
		{name: "full_width_digits", cfg: allowlist("123"), req: dm("telegram", "１２３"), want: Deny},
		{name: "arabic_indic_digits", cfg: allowlist("123"), req: dm("telegram", "١٢٣"), want: Deny},
		{name: "leading_zero", cfg: allowlist("123"), req: dm("telegram", "0123"), want: Deny},
		{name: "prefix_of_id", cfg: allowlist("1234"), req: dm("telegram", "123"), want: Deny},
		{name: "id_extends_entry", cfg: allowlist("123"), req: dm("telegram", "1234"), want: Deny},
		{name: "slack_id_case_folded", cfg: allowlist("slack:U01ABC"), req: dm("slack", "u01abc"), want: Deny},
		{name: "cyrillic_look_alike_in_slack_id", cfg: allowlist("U01ABC"), req: dm("slack", "U01АBC"), want: Deny},
		{name: "telegram_entry_sent_by_discord", cfg: allowlist("telegram:123"), req: dm("discord", "123"), want: Deny},
		{name: "sender_id_carries_the_prefix", cfg: allowlist("telegram:123"), req: dm("telegram", "telegram:123"), want: Deny},
		{name: "sender_id_carries_other_prefix", cfg: allowlist("discord:123"), req: dm("telegram", "discord:123"), want: Deny},
		{name: "cyrillic_e_in_prefix", cfg: allowlist("telеgram:123"), req: dm("telegram", "123"), want: Deny},
		{name: "prefix_wrong_case", cfg: allowlist("Telegram:123"), req: dm("telegram", "123"), want: Deny},
		{name: "empty_prefix", cfg: allowlist(":123"), req: dm("telegram", "123"), want: Deny},
		{name: "star_sender_against_star", cfg: allowlist("*"), req: dm("telegram", "*"), want: Deny},
		{name: "prefixed_star", cfg: allowlist("telegram:*"), req: dm("telegram", "999"), want: Deny},
		{name: "star_under_pairing_pairs", cfg: &config.Channel{AllowFrom: []string{"*"}}, req: dm("telegram", "999"), want: Pair},
		{name: "username_sender_against_username", cfg: allowlist("@alice"), req: dm("telegram", "@alice"), want: Deny},
		{name: "username_without_at", cfg: allowlist("@alice"), req: dm("telegram", "alice"), want: Deny},
		{name: "empty_sender_against_empty_entry", cfg: allowlist("", " ", "telegram:"), req: dm("telegram", ""), want: Deny},
		{name: "empty_sender_under_open", cfg: &config.Channel{DMPolicy: "open"}, req: dm("telegram", ""), want: Deny},
		{name: "nested_enabled_false_beats_allowFrom", cfg: &config.Channel{AllowFrom: []string{"123"}, DM: &config.ChannelDM{Enabled: new(false)}}, req: dm("telegram", "123"), want: Deny},
		{name: "channel_disabled_beats_allowFrom", cfg: &config.Channel{Enabled: new(false), AllowFrom: []string{"123"}}, req: dm("telegram", "123"), want: Deny},
		{name: "chat_type_case", cfg: &config.Channel{DMPolicy: "open"}, req: Request{Channel: "telegram", SenderID: "1", ChatType: "Direct"}, want: Deny},
	})
}

func TestBreak_groups(t *testing.T) {
	group := func(chat, sender string) Request {
		return Request{Channel: "telegram", SenderID: sender, ChatID: chat, ChatType: Group, Mentioned: true}
	}
	listed := &config.Channel{GroupPolicy: "allowlist", AllowFrom: []string{"7"}, Groups: map[string]config.GroupRule{"-100": {AllowFrom: []string{"8"}}}}
	runDecide(t, []decideCase{
		{name: "group_id_with_space", cfg: listed, req: group("-100 ", "8"), want: Deny},
		{name: "group_id_without_minus", cfg: listed, req: group("100", "8"), want: Deny},
		{name: "dm_owner_not_in_group_allowFrom", cfg: listed, req: group("-100", "7"), want: Deny},
		{name: "group_listed_but_policy_disabled", cfg: &config.Channel{Groups: map[string]config.GroupRule{"-100": {}}}, req: group("-100", "8"), want: Deny},
		{name: "group_message_posing_as_dm_chat", cfg: listed, req: Request{Channel: "telegram", SenderID: "8", ChatID: "-100", ChatType: "private", Mentioned: true}, want: Deny},
		{name: "guild_channel_not_listed", cfg: &config.Channel{GroupPolicy: "allowlist", Guilds: map[string]config.GroupRule{"g": {Channels: map[string]config.GroupRule{"c1": {}}}}},
			req: Request{Channel: "discord", SenderID: "1", ChatID: "c2", GuildID: "g", ChatType: Group, Mentioned: true}, want: Deny},
		{name: "channel_rule_without_its_guild", cfg: &config.Channel{GroupPolicy: "allowlist", Guilds: map[string]config.GroupRule{"g": {Channels: map[string]config.GroupRule{"c1": {}}}}},
			req: Request{Channel: "discord", SenderID: "1", ChatID: "c1", GuildID: "other", ChatType: Group, Mentioned: true}, want: Deny},
		{name: "unmentioned_by_default", cfg: &config.Channel{GroupPolicy: "open"}, req: Request{Channel: "telegram", SenderID: "1", ChatID: "-1", ChatType: Group}, want: Deny},
	})
}

func TestBreak_pairing(t *testing.T) {
	ctx := t.Context()
	cfg := &config.Channel{}

	t.Run("approval_does_not_cross_channels", func(t *testing.T) {
		g, _ := newGate(t, Options{})
		approve(t, g, "telegram", "123")
		if d, err := g.Decide(ctx, cfg, dm("discord", "123")); err != nil || d.Verdict != Pair {
			t.Errorf("Decide on discord = %+v, %v; want Pair", d, err)
		}
	})
	t.Run("approval_does_not_cross_accounts", func(t *testing.T) {
		g, _ := newGate(t, Options{})
		approve(t, g, "telegram", "123")
		req := dm("telegram", "123")
		req.Account = "work"
		if d, err := g.Decide(ctx, cfg, req); err != nil || d.Verdict != Pair {
			t.Errorf("Decide on account work = %+v, %v; want Pair", d, err)
		}
	})
	t.Run("approved_sender_with_space_is_not_approved", func(t *testing.T) {
		g, _ := newGate(t, Options{})
		approve(t, g, "telegram", "123")
		if d, err := g.Decide(ctx, cfg, dm("telegram", "123 ")); err != nil || d.Verdict != Pair {
			t.Errorf("Decide(\"123 \") = %+v, %v; want Pair", d, err)
		}
	})
	t.Run("owner_of_one_account_is_not_owner_of_another", func(t *testing.T) {
		g, _ := newGate(t, Options{})
		work := dm("telegram", "1")
		work.Account = "work"
		code, _, err := g.PairingCode(ctx, work)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := g.Approve(ctx, "telegram", code); err != nil {
			t.Fatal(err)
		}
		if a := approve(t, g, "telegram", "2"); !a.Owner {
			t.Errorf("first approved on the default account = %+v, want owner", a)
		}
		if d, err := g.Decide(ctx, &config.Channel{DMPolicy: "open"}, dm("telegram", "1")); err != nil || d.Owner {
			t.Errorf("Decide(work owner on default account) = %+v, %v; want not owner", d, err)
		}
	})
	t.Run("pair_verdict_is_never_owner", func(t *testing.T) {
		g, _ := newGate(t, Options{})
		if d, err := g.Decide(ctx, cfg, dm("telegram", "1")); err != nil || d.Verdict != Pair || d.Owner {
			t.Errorf("Decide = %+v, %v; want Pair without owner", d, err)
		}
	})
	t.Run("near_miss_codes_refused", func(t *testing.T) {
		g, _ := newGate(t, Options{})
		code, _, err := g.PairingCode(ctx, dm("telegram", "1")) // ABCDEFGH
		if err != nil {
			t.Fatal(err)
		}
		for _, guess := range []string{
			code[:7], code + "J", code[:7] + "J", "*", "%", "", code[:4] + "%",
			"ＡBCDEFGH", "ABCDEFGH\x00", "ABCDEFG\u0048\u0301", "abcdefgh'--",
		} {
			if _, err := g.Approve(ctx, "telegram", guess); !errors.Is(err, ErrNoSuchCode) {
				t.Errorf("Approve(%q) = %v, want ErrNoSuchCode", guess, err)
			}
		}
		if d, err := g.Decide(ctx, cfg, dm("telegram", "1")); err != nil || d.Verdict != Pair {
			t.Errorf("Decide after guesses = %+v, %v; want Pair", d, err)
		}
	})
	t.Run("pending_code_does_not_admit", func(t *testing.T) {
		g, _ := newGate(t, Options{})
		if _, _, err := g.PairingCode(ctx, dm("telegram", "1")); err != nil {
			t.Fatal(err)
		}
		if d, err := g.Decide(ctx, &config.Channel{DMPolicy: "allowlist"}, dm("telegram", "1")); err != nil || d.Verdict != Deny {
			t.Errorf("Decide(pending under allowlist) = %+v, %v; want Deny", d, err)
		}
	})
	t.Run("flood_of_new_senders_capped", func(t *testing.T) {
		g, _ := newGate(t, Options{})
		var refused int
		for i := range 50 {
			if _, _, err := g.PairingCode(ctx, dm("telegram", string(rune('a'+i)))); errors.Is(err, ErrTooManyPending) {
				refused++
			}
		}
		ps, err := g.Pending(ctx, "telegram")
		if err != nil || len(ps) != DefaultMaxPending || refused != 50-DefaultMaxPending {
			t.Errorf("after 50 senders: %d pending, %d refused, %v; want %d pending", len(ps), refused, err, DefaultMaxPending)
		}
	})
}

func TestBreak_store_failure_fails_closed(t *testing.T) {
	g, _ := newGate(t, Options{})
	if err := approveAndClose(t, g); err != nil {
		t.Fatal(err)
	}
	d, err := g.Decide(t.Context(), &config.Channel{}, dm("telegram", "123"))
	if err == nil || d.Verdict != Deny || d.Owner {
		t.Errorf("Decide on a closed store = %+v, %v; want Deny with an error", d, err)
	}
}

// approveAndClose approves sender 123 on telegram, then closes the
// database under the gate.
func approveAndClose(t *testing.T, g *Gate) error {
	approve(t, g, "telegram", "123")
	return g.db.Close()
}
