package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/llm"
	"gatehouse/internal/testkit"
)

const testKey = "sk-test-0123456789abcdefSECRET"

// clearEnv makes sure nothing the SDK could read from the environment
// points anywhere but the test server.
func clearEnv(t *testing.T) {
	for _, k := range []string{"OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID", "OPENAI_ADMIN_KEY", "OPENAI_CUSTOM_HEADERS", "HTTPS_PROXY", "HTTP_PROXY"} {
		t.Setenv(k, "")
	}
}

func newProvider(t *testing.T, base string) *Provider {
	t.Helper()
	p, err := New(Options{Name: "openai", APIKey: testKey, BaseURL: base})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var weatherTool = llm.ToolSpec{
	Name:        "get_weather",
	Description: "Current weather in a city.",
	Parameters:  json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`),
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
				"usage": map[string]any{"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19}}},
	})
	p := newProvider(t, m.URL+"/v1")
	ctx := t.Context()

	t.Run("text_streams", func(t *testing.T) {
		var deltas []string
		resp, err := p.Chat(ctx, &llm.Request{
			Model:    "gpt-4o-mini",
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
		if got, want := resp.Usage, (llm.Usage{InputTokens: 12, OutputTokens: 7}); got != want {
			t.Errorf("usage = %+v, want %+v", got, want)
		}
		if got, want := resp.StopReason, "stop"; got != want {
			t.Errorf("stop reason = %q, want %q", got, want)
		}
	})

	var call llm.ToolCall
	t.Run("tool_call", func(t *testing.T) {
		resp, err := p.Chat(ctx, &llm.Request{
			Model:    "gpt-4o-mini",
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
			Model: "gpt-4o-mini",
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
		j := m.JournalText(t)
		for _, want := range []string{`"tool_call_id":"` + call.ID + `"`, `"include_usage":true`, `"role":"system"`} {
			if !strings.Contains(j, want) {
				t.Errorf("aimock journal lacks %s:\n%s", want, j)
			}
		}
	})
}

// errorServer answers every request with status, headers and body.
func errorServer(t *testing.T, status int, header map[string]string, body string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// openaiError is OpenAI's documented error body.
func openaiError(msg, typ, code string) string {
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": code}})
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
		{"rate_limit_retry_after", 429, map[string]string{"Retry-After": "7"},
			openaiError("Rate limit reached for gpt-4o", "requests", "rate_limit_exceeded"), llm.KindRateLimit, 7 * time.Second},
		{"rate_limit_retry_after_ms", 429, map[string]string{"Retry-After-Ms": "1500"},
			openaiError("Rate limit reached", "tokens", "rate_limit_exceeded"), llm.KindRateLimit, 1500 * time.Millisecond},
		{"insufficient_quota", 429, nil,
			openaiError("You exceeded your current quota, please check your plan and billing details.", "insufficient_quota", "insufficient_quota"), llm.KindBilling, 0},
		{"server_error", 500, nil,
			openaiError("The server had an error while processing your request.", "server_error", ""), llm.KindServer, 0},
		{"unavailable", 503, nil, openaiError("Service unavailable", "server_error", ""), llm.KindServer, 0},
		{"overloaded_529", 529, nil, `{"error":{"message":"overloaded"}}`, llm.KindOverloaded, 0},
		{"auth_401", 401, nil,
			openaiError("Incorrect API key provided: "+testKey[:7]+"***CRET. You can find your API key at https://platform.openai.com/account/api-keys.", "invalid_request_error", "invalid_api_key"), llm.KindAuth, 0},
		{"permission_403", 403, nil, openaiError("Project does not have access to model", "invalid_request_error", ""), llm.KindAuth, 0},
		{"payment_402", 402, nil, `{"error":{"message":"Insufficient credits"}}`, llm.KindBilling, 0},
		{"context_length", 400, nil,
			openaiError("This model's maximum context length is 128000 tokens.", "invalid_request_error", "context_length_exceeded"), llm.KindContext, 0},
		{"model_not_found", 404, nil,
			openaiError("The model `gpt-9` does not exist or you do not have access to it.", "invalid_request_error", "model_not_found"), llm.KindBadRequest, 0},
		{"unprocessable", 422, nil, `{"detail":"bad"}`, llm.KindBadRequest, 0},
		{"ollama_plain_error", 404, nil, `{"error":"model \"llama9\" not found, try pulling it first"}`, llm.KindBadRequest, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := errorServer(t, tt.status, tt.header, tt.body)
			p := newProvider(t, srv.URL+"/v1")
			_, err := p.Chat(t.Context(), &llm.Request{Model: "gpt-4o", Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}}}, nil)
			var le *llm.Error
			if !errors.As(err, &le) {
				t.Fatalf("err = %T %v, want *llm.Error", err, err)
			}
			if le.Kind != tt.kind || le.RetryAfter != tt.retryAfter || le.Status != tt.status {
				t.Errorf("got kind %s retryAfter %v status %d, want %s %v %d (%v)", le.Kind, le.RetryAfter, le.Status, tt.kind, tt.retryAfter, tt.status, err)
			}
			if s := err.Error(); strings.Contains(s, testKey) || strings.Contains(s, testKey[:7]) || strings.Contains(s, "Bearer") {
				t.Errorf("error leaks the key: %s", s)
			}
			if le.Provider != "openai" || le.Model != "gpt-4o" {
				t.Errorf("error names %s/%s, want openai/gpt-4o", le.Provider, le.Model)
			}
		})
	}
}

func TestStreamErrors(t *testing.T) {
	clearEnv(t)
	t.Run("error_event_mid_stream", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"},"finish_reason":null}]}`+"\n\n")
			fmt.Fprint(w, `data: {"error":{"message":"The server had an error","type":"server_error","code":null}}`+"\n\n")
		}))
		defer srv.Close()
		var streamed string
		_, err := newProvider(t, srv.URL+"/v1").Chat(t.Context(), &llm.Request{Model: "gpt-4o"}, func(s string) { streamed += s })
		var le *llm.Error
		if !errors.As(err, &le) || le.Kind != llm.KindServer {
			t.Fatalf("err = %v, want a server error", err)
		}
		if streamed != "Hel" {
			t.Errorf("streamed %q before the error, want %q", streamed, "Hel")
		}
	})
	t.Run("connection_refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		_, err = newProvider(t, "http://"+addr+"/v1").Chat(t.Context(), &llm.Request{Model: "gpt-4o"}, nil)
		var le *llm.Error
		if !errors.As(err, &le) || le.Kind != llm.KindNetwork || !le.Retryable() {
			t.Fatalf("err = %v, want a retryable network error", err)
		}
	})
	t.Run("canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// Read the body first: only then does the server notice the
			// client hanging up.
			io.Copy(io.Discard, r.Body)
			cancel()
			<-r.Context().Done()
		}))
		defer srv.Close()
		_, err := newProvider(t, srv.URL+"/v1").Chat(ctx, &llm.Request{Model: "gpt-4o"}, nil)
		var le *llm.Error
		if !errors.As(err, &le) || le.Kind != llm.KindCanceled || !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want canceled", err)
		}
	})
}

func TestToolCallDeltas(t *testing.T) {
	clearEnv(t)
	// Two parallel calls, the arguments in fragments, as OpenAI streams them.
	chunks := []string{
		`{"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}`,
		`{"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"ci"}}]},"finish_reason":null}]}`,
		`{"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"get_time","arguments":"{}"}}]},"finish_reason":null}]}`,
		`{"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"ty\":\"Paris\"}"}}]},"finish_reason":null}]}`,
		`{"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}`,
		`{"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[],"usage":{"prompt_tokens":100,"completion_tokens":20,"total_tokens":120,"prompt_tokens_details":{"cached_tokens":64}}}`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, c := range chunks {
			fmt.Fprintf(w, "data: %s\n\n", c)
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
	}))
	defer srv.Close()
	resp, err := newProvider(t, srv.URL+"/v1").Chat(t.Context(), &llm.Request{Model: "gpt-4o"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(resp.Message.ToolCalls)
	want := `[{"id":"call_a","name":"get_weather","arguments":{"city":"Paris"}},{"id":"call_b","name":"get_time","arguments":{}}]`
	if string(got) != want {
		t.Errorf("tool calls = %s, want %s", got, want)
	}
	if got, want := resp.Usage, (llm.Usage{InputTokens: 36, OutputTokens: 20, CacheReadTokens: 64}); got != want {
		t.Errorf("usage = %+v, want %+v", got, want)
	}
	if got, want := resp.Model, "gpt-4o-2024-08-06"; got != want {
		t.Errorf("model = %q, want %q", got, want)
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{"loopback_http_with_key", Options{APIKey: "k", BaseURL: "http://127.0.0.1:1/v1"}, ""},
		{"lan_http_without_key", Options{BaseURL: "http://192.168.1.5:11434/v1"}, ""},
		{"lan_http_with_key", Options{APIKey: "k", BaseURL: "http://192.168.1.5:8000/v1"}, "unencrypted"},
		{"not_a_url", Options{BaseURL: "ftp://x"}, "not an http"},
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

// TestIgnoresEnvironment: the SDK's environment variables change nothing.
func TestIgnoresEnvironment(t *testing.T) {
	clearEnv(t)
	t.Setenv("OPENAI_API_KEY", "sk-from-env")
	t.Setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
	t.Setenv("OPENAI_ORG_ID", "org-env")
	t.Setenv("OPENAI_CUSTOM_HEADERS", "X-Leak: 1")
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: [DONE]\n\n")
	}))
	defer srv.Close()
	if _, err := newProvider(t, srv.URL+"/v1").Chat(t.Context(), &llm.Request{Model: "gpt-4o"}, nil); err != nil {
		t.Fatal(err)
	}
	if got.Get("Authorization") != "Bearer "+testKey || got.Get("OpenAI-Organization") != "" || got.Get("X-Leak") != "" {
		t.Errorf("request headers took values from the environment: %v", got)
	}
}
