package config

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// fieldErrors flattens what Parse and the File methods return.
func fieldErrors(t *testing.T, err error) []*FieldError {
	t.Helper()
	var out []*FieldError
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Fatalf("error %q (%T) is not a *FieldError", err, err)
		}
		out = append(out, fe)
	}
	walk(err)
	return out
}

func TestParse_valid(t *testing.T) {
	tests := []struct {
		name  string
		input string
		check func(*Config) any
		want  any
	}{
		{"empty_document_is_default", "", func(c *Config) any { return c.Gateway.Port }, DefaultPort},
		{"empty_object_is_default", "{}", func(c *Config) any { return c.Gateway.Bind }, "loopback"},
		{"comments_and_trailing_commas", "// top\n{\n  /* block */ \"gateway\": {\"port\": 18790,},\n}\n", func(c *Config) any { return c.Gateway.Port }, 18790},
		{"absent_keys_keep_defaults", `{"gateway": {"port": 18790}}`, func(c *Config) any { return c.Gateway.Auth.Mode }, "token"},
		{"schema_key_allowed", `{"$schema": "./gatehouse.schema.json"}`, func(c *Config) any { return c.Schema }, "./gatehouse.schema.json"},
		{"deny_replaced_not_merged", `{"tools": {"deny": ["exec"]}}`, func(c *Config) any { return c.Tools.Deny }, []string{"exec"}},
		{"deny_empty", `{"tools": {"deny": []}}`, func(c *Config) any { return c.Tools.Deny }, []string{}},
		{"secret_reference", `{"gateway": {"auth": {"token": {"secret": "gw"}}}}`, func(c *Config) any { return c.Gateway.Auth.Token }, Secret{Ref: "gw"}},
		{"secret_env", `{"gateway": {"auth": {"token": "${GW_TOKEN}"}}}`, func(c *Config) any { return c.Gateway.Auth.Token }, Secret{Env: "GW_TOKEN"}},
		{"telegram_group_any_key", `{"channels": {"telegram": {"groups": {"-1001234": {"requireMention": false}}}}}`, func(c *Config) any { return *c.Channels.Telegram.Groups["-1001234"].RequireMention }, false},
		{"provider_any_name", `{"models": {"providers": {"ollama": {"api": "openai-compatible", "baseUrl": "http://127.0.0.1:11434/v1"}}}}`, func(c *Config) any { return c.Models.Providers["ollama"].API }, "openai-compatible"},
		{"elevated_allow_from_any_channel", `{"tools": {"elevated": {"allowFrom": {"telegram": ["123"]}}}}`, func(c *Config) any { return c.Tools.Elevated.AllowFrom["telegram"] }, []string{"123"}},
		{"plugin_any_name", `{"plugins": {"entries": {"voice-call": {"enabled": true}}}}`, func(c *Config) any { return c.Plugins.Entries["voice-call"].Enabled }, true},
		{"nested_guild_channels", `{"channels": {"discord": {"guilds": {"1": {"channels": {"general": {"requireMention": true}}}}}}}`, func(c *Config) any { return *c.Channels.Discord.Guilds["1"].Channels["general"].RequireMention }, true},
		{"custom_bind_with_ip", `{"gateway": {"bind": "custom", "customBindHost": "100.64.0.1"}}`, func(c *Config) any { return c.Gateway.CustomBindHost }, "100.64.0.1"},
		{"remote_wss", `{"gateway": {"mode": "remote", "remote": {"url": "wss://gw.example.net:18789"}}}`, func(c *Config) any { return c.Gateway.Remote.URL }, "wss://gw.example.net:18789"},
		{"model_ref_with_slashes", `{"agents": {"defaults": {"model": {"primary": "openrouter/meta-llama/llama-3.3-70b"}}}}`, func(c *Config) any { return c.Agents.Defaults.Model.Primary }, "openrouter/meta-llama/llama-3.3-70b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tt.input))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := tt.check(cfg); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestParse_invalid(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []string // Error() of each *FieldError, in order
	}{
		{"misspelt_key_suggests_sibling", `{"gateway": {"bnd": "lan"}}`, []string{`unknown key "gateway.bnd" (did you mean "gateway.bind"?)`}},
		{"wrong_case_suggests_key", `{"channels": {"telegram": {"dmpolicy": "open"}}}`, []string{`unknown key "channels.telegram.dmpolicy" (did you mean "channels.telegram.dmPolicy"?)`}},
		{"key_at_wrong_level_suggests_full_path", `{"dmPolicy": "pairing", "readOnlyRoot": true}`, []string{`unknown key "dmPolicy"`, `unknown key "readOnlyRoot" (did you mean "agents.defaults.sandbox.docker.readOnlyRoot"?)`}},
		{"unrelated_key_no_suggestion", `{"gateway": {"zzzzzzzz": 1}}`, []string{`unknown key "gateway.zzzzzzzz"`}},
		{"enum_lists_allowed", `{"gateway": {"bind": "foo"}}`, []string{`gateway.bind: "foo" is not one of loopback, lan, tailnet, custom`}},
		{"enum_suggests_close_value", `{"gateway": {"bind": "lopback"}}`, []string{`gateway.bind: "lopback" is not one of loopback, lan, tailnet, custom (did you mean "loopback"?)`}},
		{"port_above_max", `{"gateway": {"port": 70000}}`, []string{`gateway.port: 70000 is out of range (allowed: 1 to 65535)`}},
		{"port_zero", `{"gateway": {"port": 0}}`, []string{`gateway.port: 0 is out of range (allowed: 1 to 65535)`}},
		{"port_fraction", `{"gateway": {"port": 1.5}}`, []string{`gateway.port: 1.5 is not a whole number`}},
		{"port_huge", `{"gateway": {"port": 99999999999999999999}}`, []string{`gateway.port: 99999999999999999999 is out of range (allowed: 1 to 65535)`}},
		{"port_as_string", `{"gateway": {"port": "18789"}}`, []string{`gateway.port: got a string, want a whole number (allowed: 1 to 65535)`}},
		{"bool_as_string", `{"tools": {"elevated": {"enabled": "false"}}}`, []string{`tools.elevated.enabled: got a string, want true or false`}},
		{"deny_as_string", `{"tools": {"deny": "gateway"}}`, []string{`tools.deny: got a string, want an array of strings, e.g. ["a", "b"]`}},
		{"deny_element_type", `{"tools": {"deny": ["gateway", 1]}}`, []string{`tools.deny[1]: got a number, want a string`}},
		{"null_refused", `{"gateway": {"port": null}}`, []string{`gateway.port: null is not allowed: remove the key to use the default (gatehouse config unset gateway.port)`}},
		{"top_level_array", `[]`, []string{`the config must be a JSON object, {…}`}},
		{"duplicate_key", `{"gateway": {"port": 1, "port": 2}}`, []string{`gateway.port: duplicate key: keep one of them`}},
		{"empty_map_key", `{"models": {"providers": {"": {}}}}`, []string{`models.providers.: a key must not be empty`}},
		{"secret_number_hides_value", `{"gateway": {"auth": {"token": 1234}}}`, []string{`gateway.auth.token: got a number, want a string, "${ENV_VAR}" or {"secret": "NAME"}`}},
		{"secret_bad_reference", `{"gateway": {"auth": {"token": {"secret": ""}}}}`, []string{`gateway.auth.token: a secret reference is {"secret": "NAME"} with a non-empty NAME`}},
		{"secret_extra_key", `{"gateway": {"auth": {"token": {"secret": "a", "b": "c"}}}}`, []string{`gateway.auth.token: a secret reference is {"secret": "NAME"} with a non-empty NAME`}},
		{"unknown_key_in_map_value", `{"models": {"providers": {"openai": {"apikey": "x"}}}}`, []string{`unknown key "models.providers.openai.apikey" (did you mean "models.providers.openai.apiKey"?)`}},
		{"all_errors_listed", `{"gateway": {"bnd": "x", "bind": "foo", "port": 70000}, "gatway": {}}`, []string{
			`unknown key "gateway.bnd" (did you mean "gateway.bind"?)`,
			`gateway.bind: "foo" is not one of loopback, lan, tailnet, custom`,
			`gateway.port: 70000 is out of range (allowed: 1 to 65535)`,
			`unknown key "gatway" (did you mean "gateway"?)`,
		}},
		{"custom_bind_needs_host", `{"gateway": {"bind": "custom"}}`, []string{`gateway.customBindHost: is required when gateway.bind is custom: run gatehouse config set gateway.customBindHost <IP address> first`}},
		{"custom_bind_host_not_ip", `{"gateway": {"bind": "custom", "customBindHost": "example.com"}}`, []string{`gateway.customBindHost: "example.com" is not an IP address: use one such as 192.168.1.10 or fd7a:115c:a1e0::1`}},
		{"remote_url_http", `{"gateway": {"remote": {"url": "https://gw.example.net"}}}`, []string{`gateway.remote.url: "https://gw.example.net" is not a ws:// or wss:// URL: use one such as wss://gateway.example.net:18789`}},
		{"model_ref_without_provider", `{"agents": {"defaults": {"model": {"primary": "gpt-4o", "fallbacks": ["openai/gpt-4o", "/x"]}}}}`, []string{
			`agents.defaults.model.primary: "gpt-4o" is not a model reference: write provider/model, e.g. anthropic/claude-sonnet-4-5`,
			`agents.defaults.model.fallbacks[1]: "/x" is not a model reference: write provider/model, e.g. anthropic/claude-sonnet-4-5`,
		}},
		{"empty_tool_name", `{"tools": {"deny": ["gateway", " "], "allow": [""]}}`, []string{
			`tools.allow[0]: a tool name must not be empty: remove the entry`,
			`tools.deny[1]: a tool name must not be empty: remove the entry`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.input))
			if err == nil {
				t.Fatal("Parse succeeded, want an error")
			}
			var got []string
			for _, fe := range fieldErrors(t, err) {
				got = append(got, fe.Error())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("errors:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestParse_field_error_fields(t *testing.T) {
	_, err := Parse([]byte(`{"gateway": {"bind": "foo"}}`))
	var got *FieldError
	if !errors.As(err, &got) {
		t.Fatalf("got %T, want *FieldError", err)
	}
	want := &FieldError{
		Path:    "gateway.bind",
		Problem: `"foo" is not one of loopback, lan, tailnet, custom`,
		Got:     "foo",
		Allowed: []string{"loopback", "lan", "tailnet", "custom"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestParse_syntax_error_has_line_and_column(t *testing.T) {
	_, err := Parse([]byte("{\n  \"gateway\": {\n    \"port\": 18789,,\n  }\n}"))
	if err == nil {
		t.Fatal("Parse succeeded, want a syntax error")
	}
	if got, want := err.Error(), "line 3, column 19"; !strings.Contains(got, want) {
		t.Errorf("got %q, want it to contain %q", got, want)
	}
}

func TestParse_secret_value_never_in_error(t *testing.T) {
	const token = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	_, err := Parse([]byte(`{"gateway": {"auth": {"token": {"secret": "x", "v": "` + token + `"}}, "remote": {"token": [` + "1234" + `]}}}`))
	if err == nil {
		t.Fatal("Parse succeeded, want an error")
	}
	for _, fe := range fieldErrors(t, err) {
		if strings.Contains(fe.Error(), token) || strings.Contains(fe.Got, token) || strings.Contains(fe.Error(), "1234") {
			t.Errorf("error %q leaks the secret", fe.Error())
		}
	}
}

func TestDefault_is_valid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Errorf("Default().Validate() = %v, want nil", err)
	}
}

func TestLevenshtein_counts_swaps_as_one(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"bind", "bind", 0},
		{"bnd", "bind", 1},
		{"kitten", "sitting", 3},
		{"", "abc", 3},
		{"auht", "auth", 1},
	}
	for _, tt := range tests {
		if got := levenshtein(tt.a, tt.b); got != tt.want {
			t.Errorf("levenshtein(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestParse_error_count_is_bounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("{")
	for i := range 200 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"k%d": 1`, i)
	}
	b.WriteString("}")
	_, err := Parse([]byte(b.String()))
	errs := fieldErrors(t, err)
	if got, want := len(errs), maxErrors+1; got != want {
		t.Errorf("got %d errors, want %d", got, want)
	}
	if got, want := errs[len(errs)-1].Error(), "more than 50 problems; fix these first"; got != want {
		t.Errorf("last error got %q, want %q", got, want)
	}
}
