package gemini

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/llm"
	"gatehouse/internal/testkit"
)

const testKey = "AIzaSy-test-key-SECRET-0123456789"

// clearEnv empties every GOOGLE_* and GEMINI_* variable, so that nothing the
// SDK reads from the environment (keys, base URLs, Vertex AI switches,
// credentials files) can steer a test away from its loopback server.
func clearEnv(t *testing.T) {
	t.Helper()
	for _, k := range []string{
		"GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_GENAI_USE_ENTERPRISE",
		"GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION", "GOOGLE_CLOUD_REGION",
		"GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_GEMINI_BASE_URL", "GOOGLE_VERTEX_BASE_URL",
	} {
		t.Setenv(k, "")
	}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "GOOGLE_") || strings.HasPrefix(k, "GEMINI_") {
			t.Setenv(k, "")
		}
	}
}

// recorded is one request the fake received.
type recorded struct {
	Method   string
	Path     string
	RawQuery string
	Header   http.Header
	Body     []byte
}

// fakeGemini is an httptest server on 127.0.0.1 that speaks the Gemini
// API's REST JSON: it records each request and answers with respond.
type fakeGemini struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []recorded
}

func newFake(t *testing.T, respond http.HandlerFunc) *fakeGemini {
	t.Helper()
	f := &fakeGemini{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("fake: read body: %v", err)
		}
		h := r.Header.Clone()
		if h.Get("X-Goog-Api-Key") == testKey {
			h.Set("X-Goog-Api-Key", "<the key>")
		}
		t.Logf("fake: %s %s?%s\n\theaders %v\n\tbody %s", r.Method, r.URL.Path, r.URL.RawQuery, h, body)
		f.mu.Lock()
		f.reqs = append(f.reqs, recorded{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), body})
		f.mu.Unlock()
		respond(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

// only returns the one request the fake received.
func (f *fakeGemini) only(t *testing.T) recorded {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reqs) != 1 {
		t.Fatalf("fake received %d requests, want 1", len(f.reqs))
	}
	return f.reqs[0]
}

// serveFile answers with a recorded SSE stream from testdata.
func serveFile(t *testing.T, name string) http.HandlerFunc {
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Write(b)
	}
}

// serveError answers with Gemini's error JSON.
func serveError(code int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		w.WriteHeader(code)
		io.WriteString(w, body)
	}
}

func newProvider(t *testing.T, baseURL string) *Provider {
	t.Helper()
	p, err := New(Options{Name: "gem", APIKey: testKey, BaseURL: baseURL})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// jsonPath walks decoded JSON by object keys and array indexes.
func jsonPath(t *testing.T, v any, path ...any) any {
	t.Helper()
	for _, k := range path {
		switch k := k.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("at %q: %T is not an object", k, v)
			}
			v = m[k]
		case int:
			a, ok := v.([]any)
			if !ok || k >= len(a) {
				t.Fatalf("at [%d]: %v is not an array that long", k, v)
			}
			v = a[k]
		}
	}
	return v
}

func decode(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return v
}

var weatherTool = llm.ToolSpec{
	Name:        "get_weather",
	Description: "Current weather for a city.",
	Parameters:  json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer","minimum":1}},"required":["city"],"additionalProperties":false}`),
}

func TestChatStreamsText(t *testing.T) {
	clearEnv(t)
	f := newFake(t, serveFile(t, "text.sse"))
	p := newProvider(t, f.URL)

	var deltas []string
	resp, err := p.Chat(t.Context(), &llm.Request{
		Model:     "gemini-2.5-flash",
		System:    "You are terse.",
		Messages:  []llm.Message{{Role: llm.RoleUser, Content: "hello"}},
		Tools:     []llm.ToolSpec{weatherTool},
		MaxTokens: 256,
	}, func(s string) { deltas = append(deltas, s) })
	if err != nil {
		t.Fatal(err)
	}

	if want := []string{"Hel", "lo, ", "world"}; !reflect.DeepEqual(deltas, want) {
		t.Errorf("deltas = %q, want %q", deltas, want)
	}
	if got, want := resp.Message.Content, strings.Join(deltas, ""); got != want {
		t.Errorf("content = %q, want the deltas joined, %q", got, want)
	}
	if resp.Message.Role != llm.RoleAssistant || len(resp.Message.ToolCalls) != 0 {
		t.Errorf("message = %+v, want an assistant message without tool calls", resp.Message)
	}
	if resp.StopReason != "stop" {
		t.Errorf("stop reason = %q, want stop", resp.StopReason)
	}
	if resp.Model != "gemini-2.5-flash" {
		t.Errorf("model = %q, want the modelVersion gemini-2.5-flash", resp.Model)
	}
	// promptTokenCount 12 (4 of them cached), candidates 3 + thoughts 5:
	// the last chunk's running totals.
	if want := (llm.Usage{InputTokens: 12, OutputTokens: 8, CacheReadTokens: 4}); resp.Usage != want {
		t.Errorf("usage = %+v, want %+v", resp.Usage, want)
	}

	r := f.only(t)
	if r.Method != http.MethodPost || r.Path != "/v1beta/models/gemini-2.5-flash:streamGenerateContent" || r.RawQuery != "alt=sse" {
		t.Errorf("request = %s %s?%s, want POST /v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", r.Method, r.Path, r.RawQuery)
	}
	if got := r.Header.Get("X-Goog-Api-Key"); got != testKey {
		t.Errorf("x-goog-api-key = %q, want the key", got)
	}
	if strings.Contains(r.Path+"?"+r.RawQuery, testKey) || r.Header.Get("Authorization") != "" {
		t.Errorf("the key travels outside x-goog-api-key: %s?%s, Authorization %q", r.Path, r.RawQuery, r.Header.Get("Authorization"))
	}
	if got := r.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("content-type = %q, want application/json", got)
	}
	if got := r.Header.Get("User-Agent"); !strings.HasPrefix(got, "google-genai-sdk/1.77.0 ") {
		t.Errorf("user-agent = %q, want the SDK's", got)
	}

	body := decode(t, r.Body)
	if got := jsonPath(t, body, "systemInstruction", "parts", 0, "text"); got != "You are terse." {
		t.Errorf("systemInstruction text = %v, want the system prompt", got)
	}
	if got := jsonPath(t, body, "contents"); !reflect.DeepEqual(got, decode(t, []byte(`[{"role":"user","parts":[{"text":"hello"}]}]`))) {
		t.Errorf("contents = %v, want the one user turn", got)
	}
	decl := jsonPath(t, body, "tools", 0, "functionDeclarations", 0)
	wantDecl := decode(t, []byte(`{"name":"get_weather","description":"Current weather for a city.","parametersJsonSchema":`+string(weatherTool.Parameters)+`}`))
	if !reflect.DeepEqual(decl, wantDecl) {
		t.Errorf("function declaration = %v, want %v", decl, wantDecl)
	}
	if got := jsonPath(t, body, "generationConfig", "maxOutputTokens"); got != 256.0 {
		t.Errorf("maxOutputTokens = %v, want 256", got)
	}
	if strings.Contains(string(r.Body), "ontinuation") {
		t.Errorf("body carries the SDK's client-side continuation setting: %s", r.Body)
	}
}

func TestChatReturnsToolCalls(t *testing.T) {
	clearEnv(t)
	f := newFake(t, serveFile(t, "function_call.sse"))
	p := newProvider(t, f.URL)

	resp, err := p.Chat(t.Context(), &llm.Request{
		Model:    "gemini-2.5-flash",
		Messages: []llm.Message{{Role: llm.RoleUser, Content: "weather and time in Paris?"}},
		Tools:    []llm.ToolSpec{weatherTool, {Name: "get_time", Parameters: json.RawMessage(`{"type":"object"}`)}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []llm.ToolCall{
		{ID: "call_0", Name: "get_weather", Arguments: json.RawMessage(`{"city":"Paris","days":2}`)},
		{ID: "call_1", Name: "get_time", Arguments: json.RawMessage(`{"tz":"Europe/Paris"}`)},
	}
	if !reflect.DeepEqual(resp.Message.ToolCalls, want) {
		t.Errorf("tool calls = %s, want %s", mustJSON(resp.Message.ToolCalls), mustJSON(want))
	}
	if resp.StopReason != "tool_use" {
		t.Errorf("stop reason = %q, want tool_use (Gemini says STOP)", resp.StopReason)
	}
	if resp.Message.Content != "" {
		t.Errorf("content = %q, want none", resp.Message.Content)
	}
	if want := (llm.Usage{InputTokens: 40, OutputTokens: 18}); resp.Usage != want {
		t.Errorf("usage = %+v, want %+v", resp.Usage, want)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// history is a conversation after one round of two parallel tool calls.
var history = []llm.Message{
	{Role: llm.RoleUser, Content: "weather and time in Paris?"},
	{Role: llm.RoleAssistant, Content: "Let me check.", ToolCalls: []llm.ToolCall{
		{ID: "call_0", Name: "get_weather", Arguments: json.RawMessage(`{"city":"Paris"}`)},
		{ID: "call_1", Name: "get_time", Arguments: json.RawMessage(`{}`)},
	}},
	{Role: llm.RoleTool, ToolCallID: "call_0", ToolName: "get_weather", Content: "18C, clear"},
	// No ToolName: found from the call's id.
	{Role: llm.RoleTool, ToolCallID: "call_1", Content: "clock unavailable", IsError: true},
}

func TestChatSendsToolResults(t *testing.T) {
	tests := []struct {
		name  string
		model string
		// signature is the thoughtSignature of the first replayed call.
		signature string
	}{
		{"gemini_2_5_no_signature", "gemini-2.5-flash", ""},
		{"gemini_3_placeholder_signature", "gemini-3-flash-preview", `,"thoughtSignature":"skip_thought_signature_validator"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			f := newFake(t, serveFile(t, "function_call.sse"))
			p := newProvider(t, f.URL)

			resp, err := p.Chat(t.Context(), &llm.Request{Model: tt.model, Messages: history}, nil)
			if err != nil {
				t.Fatal(err)
			}
			want := decode(t, []byte(`[
				{"role":"user","parts":[{"text":"weather and time in Paris?"}]},
				{"role":"model","parts":[
					{"text":"Let me check."},
					{"functionCall":{"name":"get_weather","args":{"city":"Paris"}}`+tt.signature+`},
					{"functionCall":{"name":"get_time"}}]},
				{"role":"user","parts":[
					{"functionResponse":{"name":"get_weather","response":{"output":"18C, clear"}}},
					{"functionResponse":{"name":"get_time","response":{"error":"clock unavailable"}}}]}
			]`))
			r := f.only(t)
			if got := jsonPath(t, decode(t, r.Body), "contents"); !reflect.DeepEqual(got, want) {
				t.Errorf("contents = %s\nwant %s", mustJSON(got), mustJSON(want))
			}
			// The new calls' ids continue the conversation's numbering.
			var ids []string
			for _, c := range resp.Message.ToolCalls {
				ids = append(ids, c.ID)
			}
			if want := []string{"call_2", "call_3"}; !reflect.DeepEqual(ids, want) {
				t.Errorf("ids = %q, want %q", ids, want)
			}
		})
	}
}

func TestChatRefusesUntranslatableRequests(t *testing.T) {
	tests := []struct {
		name string
		req  llm.Request
	}{
		{"no_model", llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}}}},
		{"no_messages", llm.Request{Model: "gemini-2.5-flash"}},
		{"tool_result_without_name", llm.Request{Model: "gemini-2.5-flash", Messages: []llm.Message{
			{Role: llm.RoleUser, Content: "hi"}, {Role: llm.RoleTool, ToolCallID: "x", Content: "out"}}}},
		{"bad_arguments", llm.Request{Model: "gemini-2.5-flash", Messages: []llm.Message{
			{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "a", Name: "f", Arguments: json.RawMessage(`[1]`)}}}}}},
		{"bad_schema", llm.Request{Model: "gemini-2.5-flash", Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}},
			Tools: []llm.ToolSpec{{Name: "f", Parameters: json.RawMessage(`"object"`)}}}},
		{"unknown_role", llm.Request{Model: "gemini-2.5-flash", Messages: []llm.Message{{Role: "system", Content: "hi"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			f := newFake(t, func(w http.ResponseWriter, r *http.Request) { t.Error("request sent") })
			p := newProvider(t, f.URL)
			_, err := p.Chat(t.Context(), &tt.req, nil)
			var e *llm.Error
			if !errors.As(err, &e) || e.Kind != llm.KindBadRequest {
				t.Fatalf("err = %v, want a bad_request *llm.Error", err)
			}
		})
	}
}

func TestChatClassifiesErrors(t *testing.T) {
	tests := []struct {
		name       string
		respond    http.HandlerFunc
		wantKind   llm.ErrorKind
		wantStatus int
		wantRetry  time.Duration
		wantInMsg  string
	}{
		{
			name: "rate_limit_429",
			respond: serveError(429, `{"error":{"code":429,"message":"You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.","status":"RESOURCE_EXHAUSTED","details":[
				{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaMetric":"generativelanguage.googleapis.com/generate_content_free_tier_requests","quotaId":"GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]},
				{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"37s"}]}}`),
			wantKind: llm.KindRateLimit, wantStatus: 429, wantRetry: 37 * time.Second, wantInMsg: "RESOURCE_EXHAUSTED",
		},
		{
			name:     "overloaded_503",
			respond:  serveError(503, `{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}`),
			wantKind: llm.KindOverloaded, wantStatus: 503, wantInMsg: "UNAVAILABLE",
		},
		{
			name:     "server_500",
			respond:  serveError(500, `{"error":{"code":500,"message":"An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting","status":"INTERNAL"}}`),
			wantKind: llm.KindServer, wantStatus: 500, wantInMsg: "INTERNAL",
		},
		{
			name:     "server_502_html",
			respond:  serveError(502, `<html><body>Bad Gateway</body></html>`),
			wantKind: llm.KindServer, wantStatus: 502, wantInMsg: "Bad Gateway",
		},
		{
			name:     "timeout_504",
			respond:  serveError(504, `{"error":{"code":504,"message":"Deadline expired before operation could complete.","status":"DEADLINE_EXCEEDED"}}`),
			wantKind: llm.KindTimeout, wantStatus: 504, wantInMsg: "DEADLINE_EXCEEDED",
		},
		{
			name: "auth_invalid_key_400",
			respond: serveError(400, `{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[
				{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com","metadata":{"service":"generativelanguage.googleapis.com"}}]}}`),
			wantKind: llm.KindAuth, wantStatus: 400, wantInMsg: "INVALID_ARGUMENT API_KEY_INVALID: the provider refused the API key: set a valid one with gatehouse models auth add --provider gem",
		},
		{
			name:     "auth_401",
			respond:  serveError(401, `{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}`),
			wantKind: llm.KindAuth, wantStatus: 401, wantInMsg: "UNAUTHENTICATED",
		},
		{
			name:     "auth_403",
			respond:  serveError(403, `{"error":{"code":403,"message":"Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.","status":"PERMISSION_DENIED"}}`),
			wantKind: llm.KindAuth, wantStatus: 403, wantInMsg: "PERMISSION_DENIED",
		},
		{
			name:     "bad_request_400",
			respond:  serveError(400, `{"error":{"code":400,"message":"* GenerateContentRequest.contents: contents is not specified\n","status":"INVALID_ARGUMENT"}}`),
			wantKind: llm.KindBadRequest, wantStatus: 400, wantInMsg: "INVALID_ARGUMENT: the provider rejected the request",
		},
		{
			name:     "not_found_404",
			respond:  serveError(404, `{"error":{"code":404,"message":"models/gemini-9 is not found for API version v1beta, or is not supported for generateContent.","status":"NOT_FOUND"}}`),
			wantKind: llm.KindBadRequest, wantStatus: 404, wantInMsg: "NOT_FOUND",
		},
		{
			name:     "context_length_400",
			respond:  serveError(400, `{"error":{"code":400,"message":"The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).","status":"INVALID_ARGUMENT"}}`),
			wantKind: llm.KindContext, wantStatus: 400, wantInMsg: "INVALID_ARGUMENT: the conversation is longer than the model's context window",
		},
		{
			name:     "billing_400",
			respond:  serveError(400, `{"error":{"code":400,"message":"Gemini API free tier is not available in your country. Please enable billing on your project in Google AI Studio.","status":"FAILED_PRECONDITION"}}`),
			wantKind: llm.KindBilling, wantStatus: 400, wantInMsg: "FAILED_PRECONDITION: the provider account is out of credit",
		},
		{
			name:     "key_echoed_by_server",
			respond:  serveError(400, `{"error":{"code":400,"message":"API key `+testKey+` not valid.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID"}]}}`),
			wantKind: llm.KindAuth, wantStatus: 400, wantInMsg: "INVALID_ARGUMENT API_KEY_INVALID",
		},
		{
			name: "error_event_mid_stream",
			respond: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				io.WriteString(w, "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hel\"}],\"role\":\"model\"}}]}\r\n\r\n")
				io.WriteString(w, "data: {\"error\":{\"code\":500,\"message\":\"An internal error has occurred.\",\"status\":\"INTERNAL\"}}\r\n\r\n")
			},
			wantKind: llm.KindServer, wantStatus: 500, wantInMsg: "INTERNAL",
		},
		{
			name: "empty_stream",
			respond: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
			},
			wantKind: llm.KindNetwork, wantInMsg: "before its first chunk",
		},
		{
			name: "stream_cut_short",
			respond: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				w.Header().Set("Content-Length", "1000")
				io.WriteString(w, "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hel\"}],\"role\":\"model\"}}]}\r\n\r\n")
			},
			wantKind: llm.KindNetwork, wantInMsg: "closed early",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			f := newFake(t, tt.respond)
			p := newProvider(t, f.URL)
			_, err := p.Chat(t.Context(), &llm.Request{
				Model:    "gemini-2.5-flash",
				Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}},
			}, nil)
			var e *llm.Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v (%T), want *llm.Error", err, err)
			}
			if e.Kind != tt.wantKind || e.Status != tt.wantStatus || e.RetryAfter != tt.wantRetry {
				t.Errorf("kind, status, retry after = %s, %d, %v; want %s, %d, %v", e.Kind, e.Status, e.RetryAfter, tt.wantKind, tt.wantStatus, tt.wantRetry)
			}
			if e.Provider != "gem" || e.Model != "gemini-2.5-flash" {
				t.Errorf("provider/model = %s/%s, want gem/gemini-2.5-flash", e.Provider, e.Model)
			}
			if !strings.Contains(e.Message, tt.wantInMsg) {
				t.Errorf("message = %q, want it to contain %q", e.Message, tt.wantInMsg)
			}
			// Gemini's free text stays out: it can echo the request.
			if strings.Contains(e.Message, "not valid") || strings.Contains(e.Message, "exceeds") || strings.Contains(e.Message, "overloaded.") {
				t.Errorf("message = %q keeps the server's text", e.Message)
			}
			assertNoKey(t, err)
			f.only(t) // the SDK neither retried nor resumed the stream
		})
	}
}

// assertNoKey fails if the key is in the text of err or of any error it wraps.
func assertNoKey(t *testing.T, err error) {
	t.Helper()
	for e := err; e != nil; e = errors.Unwrap(e) {
		if strings.Contains(e.Error(), testKey) {
			t.Errorf("the key is in the error chain: %q", e.Error())
		}
	}
}

func TestChatCanceled(t *testing.T) {
	clearEnv(t)
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hel\"}],\"role\":\"model\"}}]}\r\n\r\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done() // the client hangs up
	})
	p := newProvider(t, f.URL)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	_, err := p.Chat(ctx, &llm.Request{Model: "gemini-2.5-flash", Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}}},
		func(string) { cancel() })
	var e *llm.Error
	if !errors.As(err, &e) || e.Kind != llm.KindCanceled || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want a canceled *llm.Error wrapping context.Canceled", err)
	}
}

func TestChatDeadline(t *testing.T) {
	clearEnv(t)
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) { t.Error("request sent after the deadline") })
	p := newProvider(t, f.URL)
	ctx, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel()

	_, err := p.Chat(ctx, &llm.Request{Model: "gemini-2.5-flash", Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}}}, nil)
	var e *llm.Error
	if !errors.As(err, &e) || e.Kind != llm.KindTimeout || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a timeout *llm.Error wrapping context.DeadlineExceeded", err)
	}
}

func TestChatNetworkError(t *testing.T) {
	clearEnv(t)
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more

	p := newProvider(t, url)
	_, err := p.Chat(t.Context(), &llm.Request{Model: "gemini-2.5-flash", Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}}}, nil)
	var e *llm.Error
	if !errors.As(err, &e) || e.Kind != llm.KindNetwork || !e.Retryable() {
		t.Fatalf("err = %v, want a retryable network *llm.Error", err)
	}
	assertNoKey(t, err)
}

func TestNewRefuses(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"no_key", Options{}, `gemini provider "gemini" has no API key: set models.providers.gemini.apiKey`},
		{"plain_http_remote", Options{Name: "g2", APIKey: testKey, BaseURL: "http://example.com/"}, "unencrypted"},
		{"other_scheme", Options{APIKey: testKey, BaseURL: "ftp://127.0.0.1/"}, "not an http or https URL"},
		{"user_info", Options{APIKey: testKey, BaseURL: "https://u:pw@example.com/"}, "no user info"},
		{"no_host", Options{APIKey: testKey, BaseURL: "/v1beta"}, "scheme://host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			t.Setenv("GEMINI_API_KEY", "env-key") // never a fallback
			_, err := New(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), testKey) || strings.Contains(err.Error(), "pw@") {
				t.Errorf("err = %q holds a secret", err)
			}
		})
	}
}

func TestNewIgnoresEnvironment(t *testing.T) {
	clearEnv(t)
	decoy := newFake(t, func(w http.ResponseWriter, r *http.Request) { t.Error("the environment's base URL was used") })
	for k, v := range map[string]string{
		"GOOGLE_GEMINI_BASE_URL":         decoy.URL,
		"GOOGLE_VERTEX_BASE_URL":         decoy.URL,
		"GEMINI_API_KEY":                 "env-key",
		"GOOGLE_API_KEY":                 "env-key",
		"GOOGLE_GENAI_USE_VERTEXAI":      "true",
		"GOOGLE_APPLICATION_CREDENTIALS": "/nonexistent/credentials.json",
	} {
		t.Setenv(k, v)
	}

	p, err := New(Options{APIKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	cc := p.client.ClientConfig()
	if cc.HTTPOptions.BaseURL != DefaultBaseURL || cc.APIKey != testKey || cc.Credentials != nil {
		t.Errorf("client config: base URL %q, key from options %t, credentials %v; want %q, true, nil",
			cc.HTTPOptions.BaseURL, cc.APIKey == testKey, cc.Credentials, DefaultBaseURL)
	}

	f := newFake(t, serveFile(t, "text.sse"))
	p = newProvider(t, f.URL)
	if _, err := p.Chat(t.Context(), &llm.Request{Model: "gemini-2.5-flash", Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}}}, nil); err != nil {
		t.Fatal(err)
	}
	r := f.only(t)
	if r.Path != "/v1beta/models/gemini-2.5-flash:streamGenerateContent" || r.Header.Get("X-Goog-Api-Key") != testKey {
		t.Errorf("request = %s with key from options %t, want the Gemini API path and the options' key", r.Path, r.Header.Get("X-Goog-Api-Key") == testKey)
	}
}

// TestChatAimock runs one text turn against a real peer, aimock, which
// serves the Gemini REST API.
func TestChatAimock(t *testing.T) {
	clearEnv(t)
	m := testkit.StartAimock(t, []map[string]any{
		{"match": map[string]any{"userMessage": "hello"}, "response": map[string]any{"content": "Hi there, from aimock!"}},
	})
	p := newProvider(t, m.URL)

	var deltas strings.Builder
	resp, err := p.Chat(t.Context(), &llm.Request{
		Model:    "gemini-2.5-flash",
		System:   "You are terse.",
		Messages: []llm.Message{{Role: llm.RoleUser, Content: "hello"}},
	}, func(s string) { deltas.WriteString(s) })
	if err != nil {
		t.Fatal(err)
	}
	if resp.Message.Content != "Hi there, from aimock!" || deltas.String() != resp.Message.Content {
		t.Errorf("content = %q, deltas = %q, want both %q", resp.Message.Content, deltas.String(), "Hi there, from aimock!")
	}
	if resp.StopReason != "stop" {
		t.Errorf("stop reason = %q, want stop", resp.StopReason)
	}
	j := m.JournalText(t)
	if !strings.Contains(j, "gemini-2.5-flash:streamGenerateContent") {
		t.Errorf("aimock's journal lacks the streamGenerateContent request: %s", j)
	}
	if strings.Contains(j, "key="+testKey) {
		t.Errorf("the key went in the URL: %s", j)
	}
}

// TestChatAimockToolLoop runs a tool call and its result through aimock,
// which pairs a functionResponse with the call of the same name, as Gemini
// does.
func TestChatAimockToolLoop(t *testing.T) {
	clearEnv(t)
	m := testkit.StartAimock(t, []map[string]any{
		// aimock names a Gemini call without id call_gemini_<name>_<index>.
		{"match": map[string]any{"toolCallId": "call_gemini_get_weather_0"}, "response": map[string]any{"content": "It is 18C in Paris."}},
		{"match": map[string]any{"userMessage": "weather in Paris?"}, "response": map[string]any{
			"toolCalls": []map[string]any{{"name": "get_weather", "arguments": map[string]any{"city": "Paris"}}},
		}},
	})
	p := newProvider(t, m.URL)
	req := &llm.Request{
		Model:    "gemini-3-flash-preview",
		Messages: []llm.Message{{Role: llm.RoleUser, Content: "weather in Paris?"}},
		Tools:    []llm.ToolSpec{weatherTool},
	}
	resp, err := p.Chat(t.Context(), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	calls := resp.Message.ToolCalls
	if len(calls) != 1 || calls[0].Name != "get_weather" || string(calls[0].Arguments) != `{"city":"Paris"}` || resp.StopReason != "tool_use" {
		t.Fatalf("response = %s, want one get_weather call with {\"city\":\"Paris\"} and tool_use", mustJSON(resp))
	}

	req.Messages = append(req.Messages, resp.Message,
		llm.Message{Role: llm.RoleTool, ToolCallID: calls[0].ID, ToolName: calls[0].Name, Content: "18C"})
	resp, err = p.Chat(t.Context(), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Message.Content != "It is 18C in Paris." || resp.StopReason != "stop" {
		t.Errorf("response = %s, want the answer after the tool result", mustJSON(resp))
	}
}
