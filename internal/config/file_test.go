package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

const hexToken = "3f5e9c0a7b2d4e6f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7"

// loadTemp writes content (if not empty) to a new gatehouse.json and loads it.
func loadTemp(t *testing.T, content string) *File {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gatehouse.json")
	if content != "" {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	f, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return f
}

// reload saves f and loads it again from disk.
func reload(t *testing.T, f *File) *File {
	t.Helper()
	if err := f.Save(); err != nil {
		t.Fatalf("Save: %v", err)
	}
	g, err := Load(f.Path())
	if err != nil {
		t.Fatalf("Load after Save: %v", err)
	}
	return g
}

// TestSet_seed_guides replays every `openclaw config set` of the seed guides
// with gatehouse's Set, then checks the value survives Save and Load.
func TestSet_seed_guides(t *testing.T) {
	tests := []struct {
		path string
		raw  string
		want any // what Get returns after the round trip
	}{
		{"gateway.mode", "local", "local"},
		{"agents.defaults.model.primary", "anthropic/claude-sonnet-4-5-20250929", "anthropic/claude-sonnet-4-5-20250929"},
		{"agents.defaults.model.primary", `"anthropic/claude-sonnet-4-5-20250929"`, "anthropic/claude-sonnet-4-5-20250929"},
		{"channels.telegram.dmPolicy", "pairing", "pairing"},
		{"channels.telegram.configWrites", "false", false},
		{"channels.telegram.groupPolicy", "disabled", "disabled"},
		{"agents.defaults.sandbox.mode", "all", "all"},
		{"agents.defaults.sandbox.scope", "session", "session"},
		{"agents.defaults.sandbox.docker.network", "none", "none"},
		{"agents.defaults.sandbox.workspaceAccess", "ro", "ro"},
		{"agents.defaults.sandbox.docker.readOnlyRoot", "true", true},
		{"tools.deny", `["gateway", "nodes"]`, []any{"gateway", "nodes"}},
		{"tools.elevated.enabled", "false", false},
		{"discovery.mdns.mode", "off", "off"},
		{"gateway.bind", "loopback", "loopback"},
		{"gateway.port", "18789", float64(18789)},
		{"logging.redactSensitive", "tools", "tools"},
		{"gateway.controlUi.enabled", "true", true},
		{"gateway.controlUi.allowInsecureAuth", "false", false},
		{"gateway.controlUi.enabled", "false", false},
		{"gateway.auth.mode", "token", "token"},
		{"gateway.auth.token", hexToken, hexToken},
		{"gateway.remote.token", hexToken, hexToken},
	}
	// One file through all the steps, as a reader of the guides would do.
	f := loadTemp(t, "")
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.path, ".", "_"), func(t *testing.T) {
			if err := f.Set(tt.path, tt.raw); err != nil {
				t.Fatalf("Set(%q, %q): %v", tt.path, tt.raw, err)
			}
			f = reload(t, f)
			got, err := f.Get(tt.path)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Get(%q) = %#v, want %#v", tt.path, got, tt.want)
			}
		})
	}
}

// TestLoad_aws_guide_discord is the AWS guide's hand-edited channels block,
// with comments and trailing commas.
func TestLoad_aws_guide_discord(t *testing.T) {
	f := loadTemp(t, `{
  // Written by hand, as the AWS guide does.
  "channels": {
    "discord": {
      "enabled": true,
      "token": "MTQ2NzQ2MjUy.example",
      "groupPolicy": "allowlist",
      "guilds": {},
      "dm": {
        "enabled": true,
        "policy": "allowlist", /* only me */
        "allowFrom": ["1118908675717877760",],
      },
    },
  },
}
`)
	d := f.Config().Channels.Discord
	if d == nil {
		t.Fatal("channels.discord is nil")
	}
	got := []any{*d.Enabled, d.Token, d.GroupPolicy, len(d.Guilds), *d.DM.Enabled, d.DM.Policy, d.DM.AllowFrom}
	want := []any{true, Secret{Plain: "MTQ2NzQ2MjUy.example"}, "allowlist", 0, true, "allowlist", []string{"1118908675717877760"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v, want %#v", got, want)
	}
	if got, want := f.Config().PlaintextSecrets(), []string{"channels.discord.token"}; !slices.Equal(got, want) {
		t.Errorf("PlaintextSecrets() = %q, want %q", got, want)
	}
	g := reload(t, f)
	if !reflect.DeepEqual(g.Config(), f.Config()) {
		t.Errorf("after Save and Load got %+v, want %+v", g.Config(), f.Config())
	}
	b, err := os.ReadFile(f.Path())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"// Written by hand", "/* only me */"} {
		if !strings.Contains(string(b), c) {
			t.Errorf("saved file lost comment %q:\n%s", c, b)
		}
	}
}

func TestSet_keeps_comments(t *testing.T) {
	f := loadTemp(t, `{
  // The gateway.
  "gateway": {
    "port": 18789, // the default
    /* keep loopback */ "bind": "loopback",
  },
}
`)
	if err := f.Set("gateway.port", "18790"); err != nil {
		t.Fatal(err)
	}
	if err := f.Set("channels.telegram.dmPolicy", "pairing"); err != nil {
		t.Fatal(err)
	}
	if err := f.Unset("gateway.bind"); err != nil {
		t.Fatal(err)
	}
	g := reload(t, f)
	b, err := os.ReadFile(g.Path())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"// The gateway.", "// the default", "18790", `"dmPolicy": "pairing"`} {
		if !strings.Contains(string(b), c) {
			t.Errorf("saved file lacks %q:\n%s", c, b)
		}
	}
	if strings.Contains(string(b), `"bind"`) {
		t.Errorf("saved file still has the unset key:\n%s", b)
	}
}

func TestSet_schema_aware_values(t *testing.T) {
	tests := []struct {
		name string
		path string
		raw  string
		want any
	}{
		{"digit_token_stays_string", "gateway.auth.token", "1234", "1234"},
		{"exponent_token_stays_string", "gateway.remote.token", "1e5", "1e5"},
		{"bool_word_into_string", "agents.defaults.sandbox.docker.network", "true", "true"},
		{"secret_reference_object", "gateway.auth.token", `{"secret": "gateway-token"}`, map[string]any{"secret": "gateway-token"}},
		{"env_reference", "models.providers.openai.apiKey", "${OPENAI_API_KEY}", "${OPENAI_API_KEY}"},
		{"quoted_string_unquoted", "channels.slack.dmPolicy", `"allowlist"`, "allowlist"},
		{"number_into_int", "gateway.port", "18790", float64(18790)},
		{"array", "tools.allow", `["browser"]`, []any{"browser"}},
		{"whole_object", "channels.discord", `{"enabled": true, "dm": {"policy": "allowlist"}}`, map[string]any{"enabled": true, "dm": map[string]any{"policy": "allowlist"}, "configWrites": false}},
		{"map_entry_created", "channels.telegram.groups.-1001234.requireMention", "false", false},
		{"plugin_entry", "plugins.entries.voice-call.enabled", "true", true},
		{"elevated_allow_from", "tools.elevated.allowFrom.telegram", `["123456789"]`, []any{"123456789"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := loadTemp(t, "")
			if err := f.Set(tt.path, tt.raw); err != nil {
				t.Fatalf("Set: %v", err)
			}
			f = reload(t, f)
			got, err := f.Get(tt.path)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestSet_refused(t *testing.T) {
	tests := []struct {
		name string
		path string
		raw  string
		want *FieldError
	}{
		{"bind_foo_lists_allowed", "gateway.bind", "foo", &FieldError{Path: "gateway.bind", Problem: `"foo" is not one of loopback, lan, tailnet, custom`, Got: "foo", Allowed: []string{"loopback", "lan", "tailnet", "custom"}}},
		{"port_70000", "gateway.port", "70000", &FieldError{Path: "gateway.port", Problem: "70000 is out of range (allowed: 1 to 65535)", Got: "70000"}},
		{"port_word", "gateway.port", "high", &FieldError{Path: "gateway.port", Problem: "got a string, want a whole number (allowed: 1 to 65535)", Got: "a string"}},
		{"misspelt_leaf", "gateway.bnd", "lan", &FieldError{Path: "gateway.bnd", Problem: ProblemUnknownKey, DidYouMean: "gateway.bind"}},
		{"misspelt_whole_path", "gatway.auht.tokn", "x", &FieldError{Path: "gatway.auht.tokn", Problem: ProblemUnknownKey, DidYouMean: "gateway.auth.token"}},
		{"case_misspelt", "Gateway.ControlUI.Enabled", "true", &FieldError{Path: "Gateway.ControlUI.Enabled", Problem: ProblemUnknownKey, DidYouMean: "gateway.controlUi.enabled"}},
		{"below_a_leaf", "gateway.port.number", "1", &FieldError{Path: "gateway.port.number", Problem: ProblemUnknownKey}},
		{"empty_segment", "gateway..port", "1", &FieldError{Path: "gateway..port", Problem: "a path is keys separated by single dots, e.g. gateway.auth.mode"}},
		{"custom_bind_without_host", "gateway.bind", "custom", &FieldError{Path: "gateway.customBindHost", Problem: "is required when gateway.bind is custom: run gatehouse config set gateway.customBindHost <IP address> first"}},
		{"root", "", "{}", &FieldError{Problem: "name the key to set, e.g. gatehouse config set gateway.port 18789"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := loadTemp(t, `{"gateway": {"port": 18790}}`)
			before := string(f.Bytes())
			err := f.Set(tt.path, tt.raw)
			var got *FieldError
			if !errors.As(err, &got) {
				t.Fatalf("Set error = %v (%T), want a *FieldError", err, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
			if after := string(f.Bytes()); after != before {
				t.Errorf("file changed on error: got %q, want %q", after, before)
			}
			if got := f.Config().Gateway.Port; got != 18790 {
				t.Errorf("config changed on error: port got %d, want 18790", got)
			}
		})
	}
}

func TestUnset(t *testing.T) {
	f := loadTemp(t, `{"gateway": {"port": 18790, "bind": "custom", "customBindHost": "10.0.0.2"}}`)
	if err := f.Unset("gateway.port"); err != nil {
		t.Fatalf("Unset: %v", err)
	}
	if got, want := f.Config().Gateway.Port, DefaultPort; got != want {
		t.Errorf("port got %d, want the default %d", got, want)
	}
	if err := f.Unset("gateway.port"); err != nil {
		t.Errorf("Unset of an absent key: got %v, want nil", err)
	}
	// Removing the host while bind is custom would break the config.
	var fe *FieldError
	if err := f.Unset("gateway.customBindHost"); !errors.As(err, &fe) || fe.Path != "gateway.customBindHost" {
		t.Errorf("Unset(gateway.customBindHost) = %v, want a *FieldError for gateway.customBindHost", err)
	}
	if got, want := f.Config().Gateway.CustomBindHost, "10.0.0.2"; got != want {
		t.Errorf("host got %q, want %q (unchanged)", got, want)
	}
	if err := f.Unset("gateway.prot"); !errors.As(err, &fe) || fe.DidYouMean != "gateway.port" {
		t.Errorf("Unset(gateway.prot) = %v, want a suggestion of gateway.port", err)
	}
}

func TestGet(t *testing.T) {
	f := loadTemp(t, `{"gateway": {"auth": {"token": "`+hexToken+`"}}, "models": {"providers": {"openai": {"apiKey": {"secret": "openai"}}}}}`)
	tests := []struct {
		name string
		path string
		want any
	}{
		{"default_value", "gateway.bind", "loopback"},
		{"default_number", "gateway.port", float64(DefaultPort)},
		{"default_array", "tools.deny", []any{"gateway", "nodes"}},
		{"subtree", "gateway.controlUi", map[string]any{"enabled": false, "allowInsecureAuth": false}},
		{"plaintext_secret", "gateway.auth.token", hexToken},
		{"secret_reference", "models.providers.openai.apiKey", map[string]any{"secret": "openai"}},
		{"unconfigured_channel", "channels.telegram.dmPolicy", nil},
		{"absent_optional", "gateway.customBindHost", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.Get(tt.path)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
	t.Run("whole_config", func(t *testing.T) {
		got, err := f.Get("")
		if err != nil {
			t.Fatal(err)
		}
		m, ok := got.(map[string]any)
		if !ok || m["gateway"] == nil || m["tools"] == nil {
			t.Errorf("got %#v, want the whole config", got)
		}
	})
	t.Run("unknown_path", func(t *testing.T) {
		_, err := f.Get("gateway.auth.tokn")
		var fe *FieldError
		if !errors.As(err, &fe) || fe.DidYouMean != "gateway.auth.token" {
			t.Errorf("got %v, want a suggestion of gateway.auth.token", err)
		}
	})
}

func TestLoad_missing_file_is_default(t *testing.T) {
	f, err := Load(filepath.Join(t.TempDir(), "gatehouse.json"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if f.Exists {
		t.Error("Exists got true, want false")
	}
	if !reflect.DeepEqual(f.Config(), Default()) {
		t.Errorf("got %+v, want Default()", f.Config())
	}
}

func TestLoad_invalid_returns_field_errors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.json")
	if err := os.WriteFile(path, []byte(`{"gateway": {"bnd": "x", "port": 0}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if got := len(fieldErrors(t, err)); got != 2 {
		t.Errorf("got %d field errors (%v), want 2", got, err)
	}
}

func TestSave_backup_and_mode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gatehouse.json")
	const old = "{\"gateway\": {\"port\": 18790}}\n"
	if err := os.WriteFile(path, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil { // regardless of umask
		t.Fatal(err)
	}
	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Set("gateway.port", "18791"); err != nil {
		t.Fatal(err)
	}
	if err := f.Save(); err != nil {
		t.Fatalf("Save: %v", err)
	}
	for _, p := range []string{path, path + ".bak"} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got != 0o600 {
			t.Errorf("%s mode got %v, want 0600", filepath.Base(p), got)
		}
	}
	bak, err := os.ReadFile(path + ".bak")
	if err != nil {
		t.Fatal(err)
	}
	if string(bak) != old {
		t.Errorf(".bak got %q, want the previous file %q", bak, old)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"gatehouse.json", "gatehouse.json.bak"}; !slices.Equal(names, want) {
		t.Errorf("directory got %q, want %q (no temporary files left)", names, want)
	}
}

func TestSave_new_file(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "gatehouse.json")
	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Set("gateway.port", "18790"); err != nil {
		t.Fatal(err)
	}
	g := reload(t, f)
	if !g.Exists || !f.Exists {
		t.Errorf("Exists after Save got %v/%v, want true", f.Exists, g.Exists)
	}
	if _, err := os.Stat(path + ".bak"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat .bak: got %v, want no backup of a file that did not exist", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := "{\n\t\"gateway\": {\n\t\t\"port\": 18790\n\t}\n}\n"; string(b) != want {
		t.Errorf("got %q, want %q", b, want)
	}
}

func TestFromConfig(t *testing.T) {
	cfg := Default()
	cfg.Gateway.Auth.Token = Secret{Ref: "gateway-token"}
	cfg.Agents.Defaults.Model.Primary = "anthropic/claude-sonnet-4-5"
	path := filepath.Join(t.TempDir(), "gatehouse.json")
	f, err := FromConfig(path, cfg)
	if err != nil {
		t.Fatalf("FromConfig: %v", err)
	}
	g := reload(t, f)
	if !reflect.DeepEqual(g.Config(), cfg) {
		t.Errorf("got %+v, want %+v", g.Config(), cfg)
	}
	bad := Default()
	bad.Gateway.Bind = "everywhere"
	if _, err := FromConfig(path, bad); err == nil {
		t.Error("FromConfig of an invalid config succeeded, want an error")
	}
}
