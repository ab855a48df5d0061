package config

import (
	"reflect"
	"slices"
	"testing"
)

func TestIsSecretPath(t *testing.T) {
	tests := []struct {
		path string
		want bool
	}{
		{"gateway.auth.token", true},
		{"gateway.auth.password", true},
		{"gateway.remote.token", true},
		{"channels.telegram.token", true},
		{"channels.slack.appToken", true},
		{"channels.*.token", true},
		{"channels.*.appToken", true},
		{"models.providers.openai.apiKey", true},
		{"models.providers.*.apiKey", true},
		{"gateway.auth.mode", false},
		{"gateway.auth", false},
		{"gateway.remote.url", false},
		{"channels.telegram.dmPolicy", false},
		{"channels.*.dmPolicy", false},
		{"gateway.auth.tokn", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := IsSecretPath(tt.path); got != tt.want {
			t.Errorf("IsSecretPath(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
}

func TestSecrets(t *testing.T) {
	cfg, err := Parse([]byte(`{
		"gateway": {"auth": {"token": "plain-gw"}, "remote": {"token": {"secret": "remote"}}},
		"channels": {"telegram": {"token": "${TELEGRAM_BOT_TOKEN}"}, "slack": {"token": "xoxb-1", "appToken": "xapp-1"}},
		"models": {"providers": {"openai": {"apiKey": "sk-1"}, "anthropic": {"apiKey": {"secret": "anthropic"}}, "ollama": {}}},
	}`))
	if err != nil {
		t.Fatal(err)
	}
	got := cfg.Secrets()
	want := []SecretField{
		{"gateway.auth.token", Secret{Plain: "plain-gw"}},
		{"gateway.remote.token", Secret{Ref: "remote"}},
		{"channels.telegram.token", Secret{Env: "TELEGRAM_BOT_TOKEN"}},
		{"channels.slack.token", Secret{Plain: "xoxb-1"}},
		{"channels.slack.appToken", Secret{Plain: "xapp-1"}},
		{"models.providers.anthropic.apiKey", Secret{Ref: "anthropic"}},
		{"models.providers.openai.apiKey", Secret{Plain: "sk-1"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Secrets():\n got %+v\nwant %+v", got, want)
	}
	gotPlain := cfg.PlaintextSecrets()
	wantPlain := []string{"gateway.auth.token", "channels.slack.token", "channels.slack.appToken", "models.providers.openai.apiKey"}
	if !slices.Equal(gotPlain, wantPlain) {
		t.Errorf("PlaintextSecrets() = %q, want %q", gotPlain, wantPlain)
	}
	if got := Default().Secrets(); len(got) != 0 {
		t.Errorf("Default().Secrets() = %+v, want none", got)
	}
}

func TestRedact(t *testing.T) {
	f := loadTemp(t, `{
		"gateway": {"auth": {"token": "`+hexToken+`"}, "remote": {"token": {"secret": "remote"}}},
		"channels": {"telegram": {"token": "${TELEGRAM_BOT_TOKEN}"}, "discord": {"token": "discord-plain"}},
		"models": {"providers": {"openai": {"apiKey": "sk-1", "baseUrl": "https://api.openai.com/v1"}}},
	}`)
	tests := []struct {
		name string
		path string
		want any
	}{
		{"plaintext_leaf", "gateway.auth.token", Redacted},
		{"reference_leaf", "gateway.remote.token", map[string]any{"secret": "remote"}},
		{"env_leaf", "channels.telegram.token", "${TELEGRAM_BOT_TOKEN}"},
		{"not_a_secret", "gateway.bind", "loopback"},
		{"subtree", "gateway.auth", map[string]any{"mode": "token", "token": Redacted}},
		{"map_subtree", "models.providers", map[string]any{"openai": map[string]any{"apiKey": Redacted, "baseUrl": "https://api.openai.com/v1"}}},
		{"channels", "channels", map[string]any{
			"telegram": map[string]any{"token": "${TELEGRAM_BOT_TOKEN}", "configWrites": false},
			"discord":  map[string]any{"token": Redacted, "configWrites": false},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := f.Get(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if got := Redact(v, tt.path); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
	t.Run("whole_config_leaves_input_alone", func(t *testing.T) {
		v, err := f.Get("")
		if err != nil {
			t.Fatal(err)
		}
		r := Redact(v, "").(map[string]any)
		auth := func(m map[string]any) any {
			return m["gateway"].(map[string]any)["auth"].(map[string]any)["token"]
		}
		if got := auth(r); got != Redacted {
			t.Errorf("redacted token got %v, want %v", got, Redacted)
		}
		if got := auth(v.(map[string]any)); got != hexToken {
			t.Errorf("input token got %v, want it unchanged", got)
		}
	})
}
