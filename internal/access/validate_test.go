package access

import (
	"strings"
	"testing"

	"gatehouse/internal/config"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		channel string
		cfg     *config.Channel
		want    []string // "severity path"
	}{
		{"nil_is_fine", "telegram", nil, nil},
		{"secure_defaults_are_fine", "telegram", &config.Channel{}, nil},
		{"seed_guide_settings_are_fine", "telegram", &config.Channel{DMPolicy: "pairing", GroupPolicy: "disabled", AllowFrom: []string{"123", "telegram:456"}}, nil},
		{"aws_guide_nested_is_fine", "discord", &config.Channel{GroupPolicy: "allowlist", Guilds: map[string]config.GroupRule{}, DM: &config.ChannelDM{Enabled: new(true), Policy: "allowlist", AllowFrom: []string{"1118908675717877760"}}}, nil},
		{"open_dm_policy", "telegram", &config.Channel{DMPolicy: "open"}, []string{"critical channels.telegram.dmPolicy"}},
		{"open_with_star", "telegram", &config.Channel{DMPolicy: "open", AllowFrom: []string{"*"}}, []string{"critical channels.telegram.dmPolicy", "critical channels.telegram.allowFrom[0]"}},
		{"star_without_open_is_ignored", "telegram", &config.Channel{DMPolicy: "allowlist", AllowFrom: []string{"123", "*"}}, []string{"warn channels.telegram.allowFrom[1]"}},
		{"star_under_default_pairing", "telegram", &config.Channel{AllowFrom: []string{" * "}}, []string{"warn channels.telegram.allowFrom[0]"}},
		{"nested_open", "discord", &config.Channel{DM: &config.ChannelDM{Policy: "open", AllowFrom: []string{"*"}}}, []string{"critical channels.discord.dm.policy", "critical channels.discord.dm.allowFrom[0]"}},
		{"username_entry", "telegram", &config.Channel{AllowFrom: []string{"@alice"}}, []string{"critical channels.telegram.allowFrom[0]"}},
		{"prefixed_username_entry", "telegram", &config.Channel{AllowFrom: []string{"telegram:@alice"}}, []string{"critical channels.telegram.allowFrom[0]"}},
		{"other_channel_entry", "telegram", &config.Channel{AllowFrom: []string{"discord:987"}}, []string{"warn channels.telegram.allowFrom[0]"}},
		{"prefix_wrong_case", "telegram", &config.Channel{AllowFrom: []string{"Telegram:123"}}, []string{"warn channels.telegram.allowFrom[0]"}},
		{"empty_entry", "telegram", &config.Channel{AllowFrom: []string{" ", "telegram:"}}, []string{"warn channels.telegram.allowFrom[0]", "warn channels.telegram.allowFrom[1]"}},
		{"look_alike_entries", "telegram", &config.Channel{AllowFrom: []string{"１２３", "123\u200b", "12 3"}}, []string{"warn channels.telegram.allowFrom[0]", "warn channels.telegram.allowFrom[1]", "warn channels.telegram.allowFrom[2]"}},
		{"open_group_policy", "telegram", &config.Channel{GroupPolicy: "open"}, []string{"critical channels.telegram.groupPolicy"}},
		{"unknown_policies", "telegram", &config.Channel{DMPolicy: "all", GroupPolicy: "all"}, []string{"critical channels.telegram.dmPolicy", "critical channels.telegram.groupPolicy"}},
		{"config_writes", "telegram", &config.Channel{ConfigWrites: true}, []string{"warn channels.telegram.configWrites"}},
		{"both_forms_disagree", "discord", &config.Channel{DMPolicy: "pairing", AllowFrom: []string{"1"}, DM: &config.ChannelDM{Policy: "allowlist", AllowFrom: []string{"2"}}}, []string{"warn channels.discord.dmPolicy", "warn channels.discord.allowFrom"}},
		{"both_forms_agree", "discord", &config.Channel{DMPolicy: "allowlist", AllowFrom: []string{"1"}, DM: &config.ChannelDM{Policy: "allowlist", AllowFrom: []string{"1"}}}, nil},
		{"dm_enabled_false_overrides_policy", "discord", &config.Channel{DM: &config.ChannelDM{Enabled: new(false), Policy: "allowlist"}}, []string{"warn channels.discord.dm.enabled"}},
		{"group_rule_entries", "discord", &config.Channel{GroupPolicy: "allowlist", Guilds: map[string]config.GroupRule{
			"g1": {AllowFrom: []string{"*"}, Channels: map[string]config.GroupRule{"c1": {AllowFrom: []string{"@bob"}}}},
		}}, []string{"warn channels.discord.guilds.g1.allowFrom[0]", "critical channels.discord.guilds.g1.channels.c1.allowFrom[0]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, p := range Validate(tt.channel, tt.cfg) {
				got = append(got, string(p.Severity)+" "+p.Path)
				if p.Message == "" {
					t.Errorf("problem at %s has no message", p.Path)
				}
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("Validate =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestValidate_messages_say_what_to_do(t *testing.T) {
	tests := []struct {
		name string
		cfg  *config.Channel
		want string
	}{
		{"username_asks_for_numeric_id", &config.Channel{AllowFrom: []string{"@alice"}}, "use the numeric user id"},
		{"open_says_how_to_close", &config.Channel{DMPolicy: "open"}, "gatehouse config set channels.telegram.dmPolicy pairing"},
		{"other_channel_says_where", &config.Channel{AllowFrom: []string{"discord:1"}}, "move it to channels.discord"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps := Validate("telegram", tt.cfg)
			if len(ps) != 1 || !strings.Contains(ps[0].Message, tt.want) {
				t.Errorf("Validate = %v, want one problem saying %q", ps, tt.want)
			}
		})
	}
}
