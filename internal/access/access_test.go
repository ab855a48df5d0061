package access

import (
	"testing"

	"gatehouse/internal/config"
)

type decideCase struct {
	name      string
	cfg       *config.Channel
	approved  []string // senders approved by pairing first, in order
	req       Request
	want      Verdict
	wantOwner bool
	// wantReason, if set, is the Decision's reason.
	wantReason string
}

func runDecide(t *testing.T, tests []decideCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, _ := newGate(t, Options{})
			for _, s := range tt.approved {
				approve(t, g, tt.req.Channel, s)
			}
			got, err := g.Decide(t.Context(), tt.cfg, tt.req)
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			if got.Verdict != tt.want || got.Owner != tt.wantOwner {
				t.Errorf("Decide = %v (owner %v, %q), want %v (owner %v)", got.Verdict, got.Owner, got.Reason, tt.want, tt.wantOwner)
			}
			if tt.wantReason != "" && got.Reason != tt.wantReason {
				t.Errorf("Decide reason = %q, want %q", got.Reason, tt.wantReason)
			}
		})
	}
}

func TestDecide_dm_policies(t *testing.T) {
	tg := func(s string) Request { return dm("telegram", s) }
	runDecide(t, []decideCase{
		{name: "pairing_is_default_unknown_sender_pairs", cfg: &config.Channel{}, req: tg("999"), want: Pair, wantReason: "unknown sender: pairing"},
		{name: "pairing_allowFrom_sender_allowed_and_owner", cfg: &config.Channel{AllowFrom: []string{"123"}}, req: tg("123"), want: Allow, wantOwner: true},
		{name: "pairing_unknown_with_allowFrom_pairs", cfg: &config.Channel{AllowFrom: []string{"123"}}, req: tg("999"), want: Pair},
		{name: "pairing_approved_sender_allowed", cfg: &config.Channel{DMPolicy: "pairing"}, approved: []string{"555"}, req: tg("555"), want: Allow, wantOwner: true, wantReason: "sender approved"},
		{name: "allowlist_listed_allowed", cfg: &config.Channel{DMPolicy: "allowlist", AllowFrom: []string{"123"}}, req: tg("123"), want: Allow, wantOwner: true},
		{name: "allowlist_unknown_denied", cfg: &config.Channel{DMPolicy: "allowlist", AllowFrom: []string{"123"}}, req: tg("999"), want: Deny, wantReason: "sender not allowlisted"},
		{name: "allowlist_empty_unknown_denied", cfg: &config.Channel{DMPolicy: "allowlist"}, req: tg("999"), want: Deny},
		{name: "allowlist_approved_allowed", cfg: &config.Channel{DMPolicy: "allowlist"}, approved: []string{"555"}, req: tg("555"), want: Allow, wantOwner: true},
		{name: "open_unknown_allowed_not_owner", cfg: &config.Channel{DMPolicy: "open", AllowFrom: []string{"*"}}, req: tg("999"), want: Allow, wantReason: "dm policy open"},
		{name: "open_first_allowFrom_is_owner", cfg: &config.Channel{DMPolicy: "open", AllowFrom: []string{"123", "*"}}, req: tg("123"), want: Allow, wantOwner: true},
		{name: "disabled_listed_denied", cfg: &config.Channel{DMPolicy: "disabled", AllowFrom: []string{"123"}}, req: tg("123"), want: Deny, wantReason: "dm policy disabled"},
		{name: "disabled_approved_denied", cfg: &config.Channel{DMPolicy: "disabled"}, approved: []string{"555"}, req: tg("555"), want: Deny},
		{name: "unknown_policy_fails_closed", cfg: &config.Channel{DMPolicy: "everyone", AllowFrom: []string{"123"}}, req: tg("123"), want: Deny},
		{name: "channel_disabled_denied", cfg: &config.Channel{Enabled: new(false), DMPolicy: "open"}, req: tg("123"), want: Deny, wantReason: "channel disabled"},
		{name: "nil_config_denied", cfg: nil, req: tg("123"), want: Deny},
		{name: "empty_sender_denied", cfg: &config.Channel{DMPolicy: "open"}, req: tg(""), want: Deny},
		{name: "unknown_chat_type_denied", cfg: &config.Channel{DMPolicy: "open"}, req: Request{Channel: "telegram", SenderID: "1", ChatType: "channel"}, want: Deny},
	})
}

func TestDecide_nested_dm_form(t *testing.T) {
	dc := func(s string) Request { return dm("discord", s) }
	runDecide(t, []decideCase{
		{name: "aws_guide_allowlist_listed", cfg: &config.Channel{GroupPolicy: "allowlist", DM: &config.ChannelDM{Enabled: new(true), Policy: "allowlist", AllowFrom: []string{"1118908675717877760"}}},
			req: dc("1118908675717877760"), want: Allow, wantOwner: true},
		{name: "aws_guide_allowlist_unknown", cfg: &config.Channel{DM: &config.ChannelDM{Enabled: new(true), Policy: "allowlist", AllowFrom: []string{"1118908675717877760"}}},
			req: dc("42"), want: Deny},
		{name: "enabled_false_disables_open", cfg: &config.Channel{DMPolicy: "open", DM: &config.ChannelDM{Enabled: new(false)}}, req: dc("42"), want: Deny, wantReason: "dm policy disabled"},
		{name: "nested_policy_wins", cfg: &config.Channel{DMPolicy: "open", DM: &config.ChannelDM{Policy: "allowlist"}}, req: dc("42"), want: Deny},
		{name: "nested_allowFrom_replaces_top_level", cfg: &config.Channel{DMPolicy: "allowlist", AllowFrom: []string{"123"}, DM: &config.ChannelDM{AllowFrom: []string{"456"}}}, req: dc("123"), want: Deny},
		{name: "nested_allowFrom_admits", cfg: &config.Channel{DMPolicy: "allowlist", AllowFrom: []string{"123"}, DM: &config.ChannelDM{AllowFrom: []string{"456"}}}, req: dc("456"), want: Allow, wantOwner: true},
		{name: "empty_nested_fields_fall_back", cfg: &config.Channel{DMPolicy: "allowlist", AllowFrom: []string{"123"}, DM: &config.ChannelDM{Enabled: new(true)}}, req: dc("123"), want: Allow, wantOwner: true},
		{name: "nested_policy_defaults_to_pairing", cfg: &config.Channel{DM: &config.ChannelDM{AllowFrom: []string{"123"}}}, req: dc("42"), want: Pair},
	})
}

func TestDecide_allowFrom_entries(t *testing.T) {
	allowlist := func(entries ...string) *config.Channel {
		return &config.Channel{DMPolicy: "allowlist", AllowFrom: entries}
	}
	runDecide(t, []decideCase{
		{name: "star_ignored_under_allowlist", cfg: allowlist("*"), req: dm("telegram", "999"), want: Deny},
		{name: "star_ignored_under_pairing", cfg: &config.Channel{AllowFrom: []string{"*"}}, req: dm("telegram", "999"), want: Pair},
		{name: "star_with_open_allows", cfg: &config.Channel{DMPolicy: "open", AllowFrom: []string{"*"}}, req: dm("telegram", "999"), want: Allow},
		{name: "username_never_matches", cfg: allowlist("@alice"), req: dm("telegram", "@alice"), want: Deny},
		{name: "prefixed_username_never_matches", cfg: allowlist("telegram:@alice"), req: dm("telegram", "@alice"), want: Deny},
		{name: "prefixed_entry_matches", cfg: allowlist("telegram:123"), req: dm("telegram", "123"), want: Allow, wantOwner: true},
		{name: "discord_prefix_on_discord", cfg: allowlist("discord:987"), req: dm("discord", "987"), want: Allow, wantOwner: true},
		{name: "slack_prefix_on_slack", cfg: allowlist("slack:U01ABC"), req: dm("slack", "U01ABC"), want: Allow, wantOwner: true},
		{name: "other_channel_prefix_never_matches", cfg: allowlist("discord:123"), req: dm("telegram", "123"), want: Deny},
		{name: "guide_multi_platform_list_matches_own", cfg: allowlist("telegram:123456789", "discord:987654321", "slack:U01ABC123"), req: dm("discord", "987654321"), want: Allow, wantOwner: true},
		{name: "entry_spaces_trimmed", cfg: allowlist(" 123 "), req: dm("telegram", "123"), want: Allow, wantOwner: true},
		{name: "prefixed_entry_spaces_trimmed", cfg: allowlist(" telegram: 123 "), req: dm("telegram", "123"), want: Allow, wantOwner: true},
		{name: "id_with_colon_needs_prefix", cfg: allowlist("telegram:a:b"), req: dm("telegram", "a:b"), want: Allow, wantOwner: true},
		{name: "second_entry_not_owner", cfg: allowlist("123", "456"), req: dm("telegram", "456"), want: Allow},
		{name: "owner_is_first_usable_entry", cfg: allowlist("discord:1", "*", "@bob", "456"), req: dm("telegram", "456"), want: Allow, wantOwner: true},
		{name: "approved_owner_wins_over_allowFrom", cfg: allowlist("123"), approved: []string{"555"}, req: dm("telegram", "123"), want: Allow},
		{name: "approved_owner_is_owner", cfg: allowlist("123"), approved: []string{"555"}, req: dm("telegram", "555"), want: Allow, wantOwner: true},
	})
}

func TestDecide_groups(t *testing.T) {
	group := func(chat, sender string, mentioned bool) Request {
		return Request{Channel: "telegram", SenderID: sender, ChatID: chat, ChatType: Group, Mentioned: mentioned}
	}
	guild := func(guildID, chat, sender string, mentioned bool) Request {
		return Request{Channel: "discord", SenderID: sender, ChatID: chat, GuildID: guildID, ChatType: Group, Mentioned: mentioned}
	}
	allowGroups := func(rules map[string]config.GroupRule) *config.Channel {
		return &config.Channel{GroupPolicy: "allowlist", Groups: rules}
	}
	allowGuilds := func(rules map[string]config.GroupRule) *config.Channel {
		return &config.Channel{GroupPolicy: "allowlist", Guilds: rules}
	}
	runDecide(t, []decideCase{
		{name: "disabled_by_default", cfg: &config.Channel{DMPolicy: "open"}, req: group("-100", "1", true), want: Deny, wantReason: "group policy disabled"},
		{name: "disabled_explicit", cfg: &config.Channel{GroupPolicy: "disabled", Groups: map[string]config.GroupRule{"-100": {}}}, req: group("-100", "1", true), want: Deny},
		{name: "allowlist_listed_mentioned", cfg: allowGroups(map[string]config.GroupRule{"-100": {}}), req: group("-100", "1", true), want: Allow, wantReason: "group allowlisted"},
		{name: "allowlist_requireMention_default_on", cfg: allowGroups(map[string]config.GroupRule{"-100": {}}), req: group("-100", "1", false), want: Deny, wantReason: "not mentioned"},
		{name: "allowlist_unlisted", cfg: allowGroups(map[string]config.GroupRule{"-100": {}}), req: group("-200", "1", true), want: Deny, wantReason: "group not allowlisted"},
		{name: "allowlist_empty_guilds_like_guide", cfg: allowGuilds(map[string]config.GroupRule{}), req: guild("g1", "c1", "1", true), want: Deny, wantReason: "group not allowlisted"},
		{name: "allowlist_channel_of_unlisted_workspace_by_its_own_id", cfg: allowGroups(map[string]config.GroupRule{"C1": {}}), req: guild("T1", "C1", "1", true), want: Allow},
		{name: "allowlist_other_channel_of_that_workspace", cfg: allowGroups(map[string]config.GroupRule{"C1": {}}), req: guild("T1", "C2", "1", true), want: Deny, wantReason: "group not allowlisted"},
		{name: "allowlist_rule_disabled", cfg: allowGroups(map[string]config.GroupRule{"-100": {Enabled: new(false)}}), req: group("-100", "1", true), want: Deny, wantReason: "group disabled"},
		{name: "rule_requireMention_false", cfg: allowGroups(map[string]config.GroupRule{"-100": {RequireMention: new(false)}}), req: group("-100", "1", false), want: Allow},
		{name: "channel_requireMention_false", cfg: &config.Channel{GroupPolicy: "allowlist", RequireMention: new(false), Groups: map[string]config.GroupRule{"-100": {}}}, req: group("-100", "1", false), want: Allow},
		{name: "rule_requireMention_beats_channel", cfg: &config.Channel{GroupPolicy: "allowlist", RequireMention: new(false), Groups: map[string]config.GroupRule{"-100": {RequireMention: new(true)}}}, req: group("-100", "1", false), want: Deny, wantReason: "not mentioned"},
		{name: "rule_allowFrom_member_in", cfg: allowGroups(map[string]config.GroupRule{"-100": {AllowFrom: []string{"telegram:7"}}}), req: group("-100", "7", true), want: Allow},
		{name: "rule_allowFrom_member_out", cfg: allowGroups(map[string]config.GroupRule{"-100": {AllowFrom: []string{"7"}}}), req: group("-100", "8", true), want: Deny, wantReason: "sender not in group allowFrom"},
		{name: "open_any_group_mentioned", cfg: &config.Channel{GroupPolicy: "open"}, req: group("-300", "1", true), want: Allow, wantReason: "group policy open"},
		{name: "open_requireMention_default_on", cfg: &config.Channel{GroupPolicy: "open"}, req: group("-300", "1", false), want: Deny, wantReason: "not mentioned"},
		{name: "open_honours_disabled_rule", cfg: &config.Channel{GroupPolicy: "open", Groups: map[string]config.GroupRule{"-300": {Enabled: new(false)}}}, req: group("-300", "1", true), want: Deny},
		{name: "open_honours_rule_allowFrom", cfg: &config.Channel{GroupPolicy: "open", Groups: map[string]config.GroupRule{"-300": {AllowFrom: []string{"7"}}}}, req: group("-300", "8", true), want: Deny},
		{name: "unknown_group_policy_fails_closed", cfg: &config.Channel{GroupPolicy: "all"}, req: group("-300", "1", true), want: Deny},
		{name: "guild_listed_any_channel", cfg: allowGuilds(map[string]config.GroupRule{"g1": {}}), req: guild("g1", "c9", "1", true), want: Allow},
		{name: "guild_unlisted", cfg: allowGuilds(map[string]config.GroupRule{"g1": {}}), req: guild("g2", "c1", "1", true), want: Deny},
		{name: "guild_disabled", cfg: allowGuilds(map[string]config.GroupRule{"g1": {Enabled: new(false)}}), req: guild("g1", "c1", "1", true), want: Deny, wantReason: "guild disabled"},
		{name: "guild_channel_listed", cfg: allowGuilds(map[string]config.GroupRule{"g1": {Channels: map[string]config.GroupRule{"c1": {}}}}), req: guild("g1", "c1", "1", true), want: Allow},
		{name: "guild_channel_unlisted", cfg: allowGuilds(map[string]config.GroupRule{"g1": {Channels: map[string]config.GroupRule{"c1": {}}}}), req: guild("g1", "c2", "1", true), want: Deny, wantReason: "guild channel not allowlisted"},
		{name: "guild_channel_disabled", cfg: allowGuilds(map[string]config.GroupRule{"g1": {Channels: map[string]config.GroupRule{"c1": {Enabled: new(false)}}}}), req: guild("g1", "c1", "1", true), want: Deny, wantReason: "guild channel disabled"},
		{name: "guild_channel_requireMention_beats_guild", cfg: allowGuilds(map[string]config.GroupRule{"g1": {RequireMention: new(true), Channels: map[string]config.GroupRule{"c1": {RequireMention: new(false)}}}}), req: guild("g1", "c1", "1", false), want: Allow},
		{name: "guild_requireMention_inherited_by_channel", cfg: allowGuilds(map[string]config.GroupRule{"g1": {RequireMention: new(false), Channels: map[string]config.GroupRule{"c1": {}}}}), req: guild("g1", "c1", "1", false), want: Allow},
		{name: "guild_channel_allowFrom_beats_guild", cfg: allowGuilds(map[string]config.GroupRule{"g1": {AllowFrom: []string{"7"}, Channels: map[string]config.GroupRule{"c1": {AllowFrom: []string{"8"}}}}}), req: guild("g1", "c1", "7", true), want: Deny},
		{name: "guild_allowFrom_inherited_by_channel", cfg: allowGuilds(map[string]config.GroupRule{"g1": {AllowFrom: []string{"7"}, Channels: map[string]config.GroupRule{"c1": {}}}}), req: guild("g1", "c1", "7", true), want: Allow},
		{name: "guild_id_in_groups_map", cfg: allowGroups(map[string]config.GroupRule{"g1": {}}), req: guild("g1", "c1", "1", true), want: Allow},
		{name: "guilds_map_not_used_for_plain_groups", cfg: allowGuilds(map[string]config.GroupRule{"-100": {}}), req: group("-100", "1", true), want: Deny},
		{name: "owner_in_group", cfg: &config.Channel{AllowFrom: []string{"7"}, GroupPolicy: "open"}, req: group("-300", "7", true), want: Allow, wantOwner: true},
		{name: "member_in_group_not_owner", cfg: &config.Channel{AllowFrom: []string{"7"}, GroupPolicy: "open"}, req: group("-300", "8", true), want: Allow},
		{name: "approved_owner_in_group", cfg: &config.Channel{GroupPolicy: "open"}, approved: []string{"7"}, req: group("-300", "7", true), want: Allow, wantOwner: true},
		{name: "owner_not_mentioned_denied", cfg: &config.Channel{AllowFrom: []string{"7"}, GroupPolicy: "open"}, req: group("-300", "7", false), want: Deny},
		{name: "dm_allowFrom_does_not_open_groups", cfg: &config.Channel{AllowFrom: []string{"7"}, GroupPolicy: "allowlist"}, req: group("-300", "7", true), want: Deny},
	})
}

func TestNew_options(t *testing.T) {
	db := openDB(t)
	tests := []struct {
		name    string
		opts    Options
		wantErr bool
	}{
		{"zero_means_defaults", Options{}, false},
		{"negative_ttl", Options{PendingTTL: -1}, true},
		{"negative_max_pending", Options{MaxPending: -1}, true},
		{"negative_rate", Options{RatePerMinute: -1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(db, tt.opts)
			if got := err != nil; got != tt.wantErr {
				t.Errorf("New error = %v, want error %v", err, tt.wantErr)
			}
		})
	}
	if _, err := New(nil, Options{}); err == nil {
		t.Error("New(nil) = nil error, want one")
	}
	g, err := New(db, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if g.pendingTTL != DefaultPendingTTL || g.maxPending != DefaultMaxPending || g.limiter.rate != DefaultRatePerMinute {
		t.Errorf("defaults = %v, %d, %d; want %v, %d, %d", g.pendingTTL, g.maxPending, g.limiter.rate, DefaultPendingTTL, DefaultMaxPending, DefaultRatePerMinute)
	}
}
