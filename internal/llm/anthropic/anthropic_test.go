package anthropic

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/llm"
	"gatehouse/internal/testkit"
)

const testKey = "sk-ant-test-0123456789SECRET"

// clearEnv makes sure nothing the SDK could read from the environment
// points anywhere but the test server.
func clearEnv(t *testing.T) {
	for _, k := range []string{"ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL", "ANTHROPIC_PROFILE", "ANTHROPIC_CUSTOM_HEADERS", "ANTHROPIC_CONFIG_DIR", "HTTPS_PROXY", "HTTP_PROXY"} {
		t.Setenv(k, "")
	}
}

func newProvider(t *testing.T, base string) *Provider {
	t.Helper()
	p, err := New(Options{APIKey: testKey, BaseURL: base})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var weatherTool = llm.ToolSpec{
	Name:        "get_weather",
	Description: "Current weather in a city.",
	Parameters:  json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false}`),
}

func TestAimock(t *testing.T) {
	clearEnv(t)
	m := testkit.StartAimock(t, []map[string]any{
		{"match": map[string]any{"userMessage": "weather?", "hasToolResult": true},
			"response": map[string]any{"content": "It is sunny in Paris."}},
		{"match": map[string]any{"userMessage": "weather?"},
			"response": map[string]any{"toolCalls": []any{map[string]any{"name": "get_weather", "arguments": map[string]any{"city": "Paris"}}}}},
		{"match": map[string]any{"userMessage": "hello"},
			"response": map[string]any{"content": "Hi there, how can I help?",
				"usage": map[string]any{"input_tokens": 12, "output_tokens": 7}}},
	})
	p := newProvider(t, m.URL)
	ctx := t.Context()

	t.Run("text_streams", func(t *testing.T) {
		var deltas []string
		resp, err := p.Chat(ctx, &llm.Request{
			Model:    "claude-sonnet-4-5",
			System:   "You are terse.",
			Messages: []llm.Message{{Role: llm.RoleUser, Content: "hello"}},
		}, func(s string) { deltas = append(deltas, s) })
		if err != nil {
			t.Fatal(err)
		}
		if got, want := resp.Message.Content, "Hi there, how can I help?"; got != want {
			t.Errorf("content = %q, want %q", got, want)
		}
		if got, want := strings.Join(deltas, ""), resp.Message.Content; got != want {
			t.Errorf("deltas join to %q, want %q", got, want)
		}
		if len(deltas) < 2 {
			t.Errorf("got %d deltas, want the text in several", len(deltas))
		}
		if resp.Usage.OutputTokens == 0 {
			t.Errorf("usage = %+v, want output tokens counted", resp.Usage)
		}
		if got, want := resp.StopReason, "stop"; got != want {
			t.Errorf("stop reason = %q, want %q", got, want)
		}
	})

	var call llm.ToolCall
	t.Run("tool_call", func(t *testing.T) {
		resp, err := p.Chat(ctx, &llm.Request{
			Model:    "claude-sonnet-4-5",
			Messages: []llm.Message{{Role: llm.RoleUser, Content: "weather?"}},
			Tools:    []llm.ToolSpec{weatherTool},
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(resp.Message.ToolCalls), 1; got != want {
			t.Fatalf("got %d tool calls, want %d: %+v", got, want, resp.Message)
		}
		call = resp.Message.ToolCalls[0]
		var args struct{ City string }
		if err := json.Unmarshal(call.Arguments, &args); err != nil {
			t.Fatalf("arguments %s: %v", call.Arguments, err)
		}
		if call.Name != "get_weather" || args.City != "Paris" || call.ID == "" {
			t.Errorf("tool call = %s(%s) id %q, want get_weather({city: Paris}) with an id", call.Name, call.Arguments, call.ID)
		}
		if got, want := resp.StopReason, "tool_use"; got != want {
			t.Errorf("stop reason = %q, want %q", got, want)
		}
	})

	t.Run("tool_result", func(t *testing.T) {
		if call.ID == "" {
			t.Skip("no tool call")
		}
		resp, err := p.Chat(ctx, &llm.Request{
			Model: "claude-sonnet-4-5",
			Messages: []llm.Message{
				{Role: llm.RoleUser, Content: "weather?"},
				{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{call}},
				{Role: llm.RoleTool, ToolCallID: call.ID, ToolName: call.Name, Content: `{"sky":"clear"}`},
			},
			Tools: []llm.ToolSpec{weatherTool},
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := resp.Message.Content, "It is sunny in Paris."; got != want {
			t.Errorf("content = %q, want %q", got, want)
		}
		// The journal holds aimock's normalised (OpenAI-shaped) view of
		// the body; TestRequestShape checks Anthropic's own shape.
		j := m.JournalText(t)
		for _, want := range []string{`"tool_call_id":"` + call.ID + `"`, `"max_tokens":4096`, `"You are terse."`, `"path":"/v1/messages"`} {
			if !strings.Contains(j, want) {
				t.Errorf("aimock journal lacks %s:\n%s", want, j)
			}
		}
	})
}

// TestRequestShape checks the JSON the SDK sends for a conversation with
// two parallel tool results: one user message holding both, after the
// assistant's two tool_use blocks.
func TestRequestShape(t *testing.T) {
	clearEnv(t)
	var got map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		json.Unmarshal(b, &got)
		if r.Header.Get("X-Api-Key") != testKey || r.Header.Get("Anthropic-Version") == "" {
			t.Errorf("headers: x-api-key %q, anthropic-version %q", r.Header.Get("X-Api-Key"), r.Header.Get("Anthropic-Version"))
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5-20250929\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":10,\"output_tokens\":1,\"cache_read_input_tokens\":50,\"cache_creation_input_tokens\":5}}}\n\n")
		fmt.Fprint(w, "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":3}}\n\n")
		fmt.Fprint(w, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
	}))
	defer srv.Close()
	resp, err := newProvider(t, srv.URL).Chat(t.Context(), &llm.Request{
		Model:     "claude-sonnet-4-5",
		MaxTokens: 100,
		Messages: []llm.Message{
			{Role: llm.RoleUser, Content: "both"},
			{Role: llm.RoleAssistant, Content: "On it.", ToolCalls: []llm.ToolCall{
				{ID: "t1", Name: "a", Arguments: json.RawMessage(`{"x":1}`)},
				{ID: "t2", Name: "b", Arguments: json.RawMessage(`{}`)},
			}},
			{Role: llm.RoleTool, ToolCallID: "t1", Content: "one"},
			{Role: llm.RoleTool, ToolCallID: "t2", Content: "boom", IsError: true},
		},
		Tools: []llm.ToolSpec{weatherTool},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	msgs, _ := json.Marshal(got["messages"])
	want := `[{"content":[{"text":"both","type":"text"}],"role":"user"},` +
		`{"content":[{"text":"On it.","type":"text"},{"id":"t1","input":{"x":1},"name":"a","type":"tool_use"},{"id":"t2","input":{},"name":"b","type":"tool_use"}],"role":"assistant"},` +
		`{"content":[{"content":[{"text":"one","type":"text"}],"tool_use_id":"t1","type":"tool_result"},{"content":[{"text":"boom","type":"text"}],"is_error":true,"tool_use_id":"t2","type":"tool_result"}],"role":"user"}]`
	if string(msgs) != want {
		t.Errorf("messages =\n%s\nwant\n%s", msgs, want)
	}
	tools, _ := json.Marshal(got["tools"])
	if want := `[{"description":"Current weather in a city.","input_schema":{"additionalProperties":false,"properties":{"city":{"type":"string"}},"required":["city"],"type":"object"},"name":"get_weather"}]`; string(tools) != want {
		t.Errorf("tools =\n%s\nwant\n%s", tools, want)
	}
	if got, want := got["max_tokens"], float64(100); got != want {
		t.Errorf("max_tokens = %v, want %v", got, want)
	}
	if got, want := resp.Usage, (llm.Usage{InputTokens: 10, OutputTokens: 3, CacheReadTokens: 50, CacheWriteTokens: 5}); got != want {
		t.Errorf("usage = %+v, want %+v", got, want)
	}
	if got, want := resp.Model, "claude-sonnet-4-5-20250929"; got != want {
		t.Errorf("model = %q, want %q", got, want)
	}
}

// anthropicError is Anthropic's documented error body.
func anthropicError(typ, msg string) string {
	b, _ := json.Marshal(map[string]any{"type": "error", "error": map[string]any{"type": typ, "message": msg}})
	return string(b)
}

func TestErrors(t *testing.T) {
	clearEnv(t)
	tests := []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		kind       llm.ErrorKind
		retryAfter time.Duration
	}{
		{"rate_limit_retry_after", 429, map[string]string{"Retry-After": "12"},
			anthropicError("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"), llm.KindRateLimit, 12 * time.Second},
		{"overloaded_529", 529, nil, anthropicError("overloaded_error", "Overloaded"), llm.KindOverloaded, 0},
		{"api_error_500", 500, nil, anthropicError("api_error", "Internal server error"), llm.KindServer, 0},
		{"auth_401", 401, nil, anthropicError("authentication_error", "invalid x-api-key"), llm.KindAuth, 0},
		{"permission_403", 403, nil, anthropicError("permission_error", "Your API key does not have permission to use the specified resource."), llm.KindAuth, 0},
		{"billing_400", 400, nil, anthropicError("invalid_request_error", "Your credit balance is too low to access the Anthropic API."), llm.KindBilling, 0},
		{"billing_error_402", 402, nil, anthropicError("billing_error", "billing"), llm.KindBilling, 0},
		{"not_found_404", 404, nil, anthropicError("not_found_error", "model: claude-9"), llm.KindBadRequest, 0},
		{"prompt_too_long", 400, nil, anthropicError("invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"), llm.KindContext, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				fmt.Fprint(w, tt.body)
			}))
			defer srv.Close()
			_, err := newProvider(t, srv.URL).Chat(t.Context(), &llm.Request{Model: "claude-sonnet-4-5", Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}}}, nil)
			var le *llm.Error
			if !errors.As(err, &le) {
				t.Fatalf("err = %T %v, want *llm.Error", err, err)
			}
			if le.Kind != tt.kind || le.RetryAfter != tt.retryAfter || le.Status != tt.status {
				t.Errorf("got kind %s retryAfter %v status %d, want %s %v %d (%v)", le.Kind, le.RetryAfter, le.Status, tt.kind, tt.retryAfter, tt.status, err)
			}
			if s := err.Error(); strings.Contains(s, testKey) || strings.Contains(s, srv.URL) {
				t.Errorf("error leaks the key or URL: %s", s)
			}
		})
	}
}

func TestOverloadedMidStream(t *testing.T) {
	clearEnv(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}}\n\n")
		fmt.Fprint(w, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n")
	}))
	defer srv.Close()
	_, err := newProvider(t, srv.URL).Chat(t.Context(), &llm.Request{Model: "claude-sonnet-4-5"}, nil)
	var le *llm.Error
	if !errors.As(err, &le) || le.Kind != llm.KindOverloaded || !le.Retryable() {
		t.Fatalf("err = %v, want retryable overloaded", err)
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{"loopback_http", Options{APIKey: "k", BaseURL: "http://127.0.0.1:1"}, ""},
		{"no_key", Options{BaseURL: "http://127.0.0.1:1"}, "no API key"},
		{"remote_http", Options{APIKey: "k", BaseURL: "http://proxy.example:8080"}, "unencrypted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.opts)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if (tt.wantErr == "") != (got == "") || !strings.Contains(got, tt.wantErr) {
				t.Errorf("New error = %q, want one containing %q", got, tt.wantErr)
			}
		})
	}
}

// TestIgnoresEnvironment: the SDK's environment variables and profile
// files change nothing.
func TestIgnoresEnvironment(t *testing.T) {
	clearEnv(t)
	t.Setenv("ANTHROPIC_API_KEY", "sk-from-env")
	t.Setenv("ANTHROPIC_AUTH_TOKEN", "tok-from-env")
	t.Setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:1")
	t.Setenv("ANTHROPIC_CUSTOM_HEADERS", "X-Leak: 1")
	t.Setenv("ANTHROPIC_CONFIG_DIR", t.TempDir())
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
	}))
	defer srv.Close()
	if _, err := newProvider(t, srv.URL).Chat(t.Context(), &llm.Request{Model: "claude-sonnet-4-5"}, nil); err != nil {
		t.Fatal(err)
	}
	if got.Get("X-Api-Key") != testKey || got.Get("Authorization") != "" || got.Get("X-Leak") != "" {
		t.Errorf("request headers took values from the environment: %v", got)
	}
}
