package tool

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/llm"
)

var fixed = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

func TestDecodeArgs(t *testing.T) {
	type args struct {
		Timezone string `json:"timezone"`
		Count    int    `json:"count,omitempty"`
	}
	tests := []struct {
		name    string
		raw     string
		want    args
		wantErr string
	}{
		{"empty", ``, args{}, ""},
		{"null", `null`, args{}, ""},
		{"empty_object", ` {} `, args{}, ""},
		{"fields", `{"timezone":"UTC","count":3}`, args{"UTC", 3}, ""},
		{"unknown_field", `{"tz":"UTC"}`, args{}, `unknown argument "tz"`},
		{"case_folded_field", `{"TimeZone":"UTC"}`, args{}, `unknown argument "TimeZone"`},
		{"duplicate", `{"timezone":"UTC","timezone":"Local"}`, args{}, `given twice`},
		{"array", `["UTC"]`, args{}, "must be a JSON object"},
		{"string", `"UTC"`, args{}, "must be a JSON object"},
		{"trailing", `{} {}`, args{}, "nothing after it"},
		{"trailing_garbage", `{}x`, args{}, "nothing after it"},
		{"wrong_type", `{"count":"3"}`, args{}, `"count" must be a int`},
		{"truncated", `{"timezone":`, args{}, "not valid JSON"},
		{"too_big", `{"timezone":"` + strings.Repeat("a", MaxArgsBytes) + `"}`, args{}, "over the limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got args
			err := DecodeArgs(json.RawMessage(tt.raw), &got)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("DecodeArgs(%.40q) error = %v, want one containing %q", tt.raw, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("DecodeArgs(%q) = %+v, %v; want %+v, nil", tt.raw, got, err, tt.want)
			}
		})
	}
}

func TestTimeNow(t *testing.T) {
	tool := NewTimeNow(func() time.Time { return fixed })
	tests := []struct {
		name      string
		args      string
		want      string
		wantError bool
	}{
		{"utc_only", `{}`, `{"utc":"2026-03-14T15:09:26Z"}`, false},
		{"no_args", ``, `{"utc":"2026-03-14T15:09:26Z"}`, false},
		{"zone", `{"timezone":"Europe/Paris"}`,
			`{"utc":"2026-03-14T15:09:26Z","timezone":"Europe/Paris","local":"2026-03-14T16:09:26+01:00"}`, false},
		{"utc_zone", `{"timezone":"UTC"}`, `{"utc":"2026-03-14T15:09:26Z","timezone":"UTC","local":"2026-03-14T15:09:26Z"}`, false},
		{"local_refused", `{"timezone":"Local"}`, "", true},
		{"path_refused", `{"timezone":"../../etc/passwd"}`, "", true},
		{"absolute_refused", `{"timezone":"/etc/localtime"}`, "", true},
		{"unknown_zone", `{"timezone":"Mars/Olympus_Mons"}`, "", true},
		{"unknown_field", `{"zone":"UTC"}`, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tool.Run(t.Context(), Call{Args: json.RawMessage(tt.args)})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if got.IsError != tt.wantError || (!tt.wantError && got.Text != tt.want) {
				t.Errorf("Run(%s) = %+v; want text %s, IsError %v", tt.args, got, tt.want, tt.wantError)
			}
		})
	}
}

type fakeStatus struct{ err error }

func (f fakeStatus) SessionStatus(ctx context.Context, key string) (SessionStatus, error) {
	return SessionStatus{SessionKey: key, Messages: 4, TokensToday: 120, CostTodayUSD: 0.5}, f.err
}

func TestSessionStatus(t *testing.T) {
	st := NewSessionStatus()
	tests := []struct {
		name      string
		call      Call
		want      string
		wantError bool
		wantErr   bool
	}{
		{"answers", Call{SessionKey: "agent:main:main", Status: fakeStatus{}},
			`{"sessionKey":"agent:main:main","messages":4,"tokensToday":120,"costTodayUsd":0.5}`, false, false},
		{"args_refused", Call{Args: json.RawMessage(`{"key":"other"}`), Status: fakeStatus{}}, "", true, false},
		{"no_source", Call{SessionKey: "k"}, "", false, true},
		{"source_fails", Call{SessionKey: "k", Status: fakeStatus{err: errors.New("db")}}, "", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := st.Run(t.Context(), tt.call)
			if (err != nil) != tt.wantErr || got.IsError != tt.wantError || (!tt.wantError && !tt.wantErr && got.Text != tt.want) {
				t.Errorf("Run = %+v, %v; want %s, IsError %v, error %v", got, err, tt.want, tt.wantError, tt.wantErr)
			}
		})
	}
}

func TestAllowed(t *testing.T) {
	cfg := config.Default()
	cfg.Tools.Deny = append(cfg.Tools.Deny, " Time_Now ")
	cfg.Tools.Allow = []string{"time_now", "config"}
	tests := []struct {
		name string
		tool string
		want bool
	}{
		{"builtin", "session_status", true},
		{"coding_profile_has_exec", "exec", true},
		{"coding_profile_lacks_web", "web_fetch", false},
		{"denied_wins_over_allow", "time_now", false},
		{"default_deny_gateway", "gateway", false},
		{"reserved_config_even_if_allowed", "config", false},
		{"reserved_pairing", "pairing", false},
		{"reserved_nodes", "nodes", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Allowed(cfg, tt.tool); got != tt.want {
				t.Errorf("Allowed(%q) = %v, want %v", tt.tool, got, tt.want)
			}
		})
	}
	if got := Allowed(&config.Config{}, "pairing"); got {
		t.Errorf("Allowed(empty policy, pairing) = true, want false")
	}
}

func TestPolicyProfilesGroupsAndAgentOverride(t *testing.T) {
	cfg := config.Default()
	cfg.Tools.Profile = "minimal"
	p := NewPolicy(cfg, DefaultAgentID)
	for _, n := range []string{"exec", "read", "message", "web_fetch"} {
		if p.Allows(n) {
			t.Errorf("minimal allows %s", n)
		}
	}
	cfg.Tools.Allow = []string{"group:fs", "Group:Web"}
	cfg.Tools.Deny = []string{"gateway", "nodes", "group:web", "write"}
	p = NewPolicy(cfg, DefaultAgentID)
	for n, want := range map[string]bool{"read": true, "grep": true, "write": false, "web_fetch": false, "web_search": false, "exec": false} {
		if p.Allows(n) != want {
			t.Errorf("Allows(%s) = %v, want %v", n, !want, want)
		}
	}
	// An agents.list entry replaces profile and allow, and adds to deny.
	cfg.Agents.List = []config.AgentEntry{{ID: "main", Tools: &config.AgentTools{Profile: "full", Deny: []string{"exec"}}}, {ID: "other", Tools: &config.AgentTools{Profile: "minimal"}}}
	p = NewPolicy(cfg, DefaultAgentID)
	for n, want := range map[string]bool{"read": true, "web_fetch": false, "exec": false, "memory_get": true, "write": false} {
		if p.Allows(n) != want {
			t.Errorf("override: Allows(%s) = %v, want %v", n, !want, want)
		}
	}
}

type named string

func (n named) Spec() llm.ToolSpec { return llm.ToolSpec{Name: string(n)} }
func (n named) Run(context.Context, Call) (Result, error) {
	return Result{}, nil
}

func TestRegistry(t *testing.T) {
	r := NewRegistry(named("b_tool"), named("a_tool"))
	var got []string
	for _, s := range r.Specs(nil) {
		got = append(got, s.Name)
	}
	if strings.Join(got, ",") != "a_tool,b_tool" {
		t.Errorf("Specs(nil) = %v, want [a_tool b_tool]", got)
	}
	only := r.Specs(func(n string) bool { return n == "b_tool" })
	if len(only) != 1 || only[0].Name != "b_tool" {
		t.Errorf("Specs(only b_tool) = %v", only)
	}
	if _, ok := r.Lookup("a_tool"); !ok {
		t.Error("Lookup(a_tool) missing")
	}
	if _, ok := r.Lookup("c_tool"); ok {
		t.Error("Lookup(c_tool) found a tool")
	}
	if specs := NewRegistry(Builtins()...).Specs(nil); len(specs) != 2 {
		t.Errorf("builtins = %v, want time_now and session_status", specs)
	}
}

func TestRegistryRefuses(t *testing.T) {
	tests := []struct {
		name  string
		tools []Tool
	}{
		{"reserved_gateway", []Tool{named("gateway")}},
		{"reserved_config", []Tool{named("config")}},
		{"reserved_pairing", []Tool{named("pairing")}},
		{"reserved_nodes", []Tool{named("nodes")}},
		{"duplicate", []Tool{named("x"), named("x")}},
		{"bad_name", []Tool{named("Exec Now")}},
		{"empty_name", []Tool{named("")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("NewRegistry(%v) did not panic", tt.tools)
				}
			}()
			NewRegistry(tt.tools...)
		})
	}
}
