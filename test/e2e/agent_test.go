package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"gatehouse/internal/testkit"
)

// The fake provider keys: recognisable, so that a leak is found by grep.
const (
	openAIKey    = "sk-test-gatehouse-openai-key-000000000000000000"
	anthropicKey = "sk-ant-test-gatehouse-anthropic-key-0000000000"
)

// agentFixtures are the aimock answers every agent test uses.
func agentFixtures() []map[string]any {
	return []map[string]any{
		{"match": map[string]any{"userMessage": "hello"}, "response": map[string]any{"content": "Hi from the mock model."}},
		{"match": map[string]any{"userMessage": "what time is it", "hasToolResult": false},
			"response": map[string]any{"toolCalls": []map[string]any{{"name": "time_now", "arguments": map[string]any{}}}}},
		{"match": map[string]any{"userMessage": "what time is it", "hasToolResult": true},
			"response": map[string]any{"content": "The clock tool answered."}},
		{"match": map[string]any{"userMessage": "secret peer one"}, "response": map[string]any{"content": "noted one"}},
		{"match": map[string]any{"userMessage": "peer two asks"}, "response": map[string]any{"content": "answer two"}},
	}
}

// withProvider points the instance at aimock for provider and makes it
// the primary model, storing the key through `models auth add`.
func (in *instance) withProvider(m *testkit.Aimock, provider, model, key string) {
	in.t.Helper()
	base := m.URL
	if provider == "openai" {
		base += "/v1"
	}
	in.must("config", "set", "models.providers."+provider+".baseUrl", base)
	if _, errs, code := in.runIn(key, "models", "auth", "add", "--provider", provider); code != 0 {
		in.t.Fatalf("models auth add: %s", errs)
	}
	in.must("config", "set", "agents.defaults.model.primary", provider+"/"+model)
}

func TestAgentTurns(t *testing.T) {
	m := testkit.StartAimock(t, agentFixtures())
	cases := []struct {
		name, provider, model, key string
	}{
		{"openai_chat_completions", "openai", "gpt-4o", openAIKey},
		{"anthropic_messages", "anthropic", "claude-sonnet-4-5", anthropicKey},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := newInstance(t)
			in.onboard()
			in.withProvider(m, c.provider, c.model, c.key)
			g := in.start()
			in.waitHealthy(g)

			if out := in.must("agent", "--message", "hello"); !strings.Contains(out, "Hi from the mock model.") {
				t.Errorf("agent hello = %q", out)
			}
			var final struct {
				Text      string `json:"text"`
				ToolCalls int    `json:"toolCalls"`
			}
			if err := json.Unmarshal([]byte(in.must("agent", "--json", "--message", "what time is it?")), &final); err != nil {
				t.Fatal(err)
			}
			if final.Text != "The clock tool answered." || final.ToolCalls != 1 {
				t.Errorf("tool turn = %+v, want the final text after one tool call", final)
			}
			if out := in.must("sessions", "list"); !strings.Contains(out, "agent:main:cli:dm:owner") {
				t.Errorf("sessions list = %q", out)
			}
			if out := in.must("usage", "--json"); !strings.Contains(out, c.provider) {
				t.Errorf("usage = %s", out)
			}
			out := in.must("models", "status", "--json")
			if !strings.Contains(out, `"reachable": true`) || strings.Contains(out, c.key) {
				t.Errorf("models status = %s", out)
			}
			if out := in.must("models", "--status-plain"); !strings.Contains(out, c.provider) {
				t.Errorf("models --status-plain = %q", out)
			}
			in.must("gateway", "stop")
			g.waitExit(t)
			assertTokenConfined(t, in.state, c.key)
			assertNotIn(t, g.output(), c.key)
		})
	}
}

func assertNotIn(t *testing.T, s, secret string) {
	t.Helper()
	if strings.Contains(s, secret) {
		t.Errorf("secret found in output")
	}
}

// TestOpenAICompatibleAPI drives /v1/chat/completions with the official
// openai-go client, streaming and not, and checks that it is off by
// default and behind the token.
func TestOpenAICompatibleAPI(t *testing.T) {
	m := testkit.StartAimock(t, agentFixtures())
	in := newInstance(t)
	in.onboard()
	in.withProvider(m, "openai", "gpt-4o", openAIKey)
	g := in.start()
	in.waitHealthy(g)
	tok := in.token()

	if got := in.get("/v1/models", tok).StatusCode; got != http.StatusNotFound {
		t.Errorf("/v1/models while disabled = %d, want 404", got)
	}
	in.must("config", "set", "gateway.http.openai.enabled", "true")
	g.cmd.Process.Signal(sighup)
	waitFor(t, func() bool { return in.get("/v1/models", tok).StatusCode == http.StatusOK })
	if got := in.get("/v1/models", "").StatusCode; got != http.StatusUnauthorized {
		t.Errorf("/v1/models without token = %d, want 401", got)
	}

	client := openai.NewClient(option.WithBaseURL(in.url("/v1")), option.WithAPIKey(tok), option.WithMaxRetries(0))
	ctx := context.Background()
	res, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model:    "gatehouse",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Choices[0].Message.Content; got != "Hi from the mock model." {
		t.Errorf("completion = %q", got)
	}
	stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
		Model:    "gatehouse",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("what time is it?")},
	})
	var acc openai.ChatCompletionAccumulator
	chunks := 0
	for stream.Next() {
		acc.AddChunk(stream.Current())
		chunks++
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if got := acc.Choices[0].Message.Content; got != "The clock tool answered." || chunks < 2 {
		t.Errorf("streamed completion = %q in %d chunks", got, chunks)
	}

	// Two users get separate sessions: the second one's request to the
	// model carries nothing of the first one's.
	for _, u := range []struct{ user, text string }{{"alice", "secret peer one"}, {"bob", "peer two asks"}} {
		if _, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model:    "gatehouse",
			User:     openai.String(u.user),
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(u.text)},
		}); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range m.Journal(t) {
		s := string(e)
		if strings.Contains(s, "peer two asks") && strings.Contains(s, "secret peer one") {
			t.Errorf("bob's request carried alice's message: %s", s)
		}
	}
}

// fakeProvider is an httptest server that answers every request with the
// given status and body, counting requests.
func fakeProvider(t *testing.T, status int, body string) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// TestFailover: a primary answering 429 fails over to the fallback within
// the same turn; an auth error is reported, not retried in a loop.
func TestFailover(t *testing.T) {
	m := testkit.StartAimock(t, agentFixtures())
	t.Run("rate_limited_primary_falls_back", func(t *testing.T) {
		srv, hits := fakeProvider(t, http.StatusTooManyRequests, `{"error":{"message":"rate limited","type":"rate_limit_error","code":"rate_limit_exceeded"}}`)
		in := newInstance(t)
		in.onboard()
		in.withProvider(m, "anthropic", "claude-sonnet-4-5", anthropicKey)
		in.must("config", "set", "models.providers.openai.baseUrl", srv.URL+"/v1")
		in.runIn(openAIKey, "models", "auth", "add", "--provider", "openai")
		in.must("config", "set", "agents.defaults.model.primary", "openai/gpt-4o")
		in.must("config", "set", "agents.defaults.model.fallbacks", `["anthropic/claude-sonnet-4-5"]`)
		g := in.start()
		in.waitHealthy(g)
		if out := in.must("agent", "-m", "hello"); !strings.Contains(out, "Hi from the mock model.") {
			t.Errorf("agent = %q, want the fallback's answer", out)
		}
		if hits.Load() == 0 {
			t.Errorf("the primary was never tried")
		}
	})
	t.Run("auth_error_reported_not_retried", func(t *testing.T) {
		srv, hits := fakeProvider(t, http.StatusUnauthorized, `{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}`)
		in := newInstance(t)
		in.onboard()
		in.must("config", "set", "models.providers.openai.baseUrl", srv.URL+"/v1")
		in.runIn(openAIKey, "models", "auth", "add", "--provider", "openai")
		in.must("config", "set", "agents.defaults.model.primary", "openai/gpt-4o")
		g := in.start()
		in.waitHealthy(g)
		_, errs, code := in.run("agent", "-m", "hello")
		if code == 0 || !strings.Contains(errs, "auth") {
			t.Errorf("agent with a refused key: exit %d, stderr %q", code, errs)
		}
		if got := hits.Load(); got != 1 {
			t.Errorf("provider saw %d requests, want exactly 1 (no retry on auth errors)", got)
		}
		assertNotIn(t, errs, openAIKey)
	})
}

// TestBudget: with a $0.01 daily budget and prices that make one turn cost
// more, the second turn is refused with a message saying why and how to
// raise it.
func TestBudget(t *testing.T) {
	m := testkit.StartAimock(t, agentFixtures())
	in := newInstance(t)
	in.onboard()
	in.withProvider(m, "openai", "gpt-4o", openAIKey)
	in.must("config", "set", "models.pricing", `{"openai/gpt-4o": {"input": 100000, "output": 100000}}`)
	in.must("config", "set", "agents.defaults.budget.dailyUsd", "0.01")
	g := in.start()
	in.waitHealthy(g)
	in.must("agent", "-m", "hello")
	_, errs, code := in.run("agent", "-m", "hello")
	if code == 0 || !strings.Contains(errs, "agents.defaults.budget.dailyUsd") {
		t.Errorf("second turn: exit %d, stderr %q; want a refusal naming the setting", code, errs)
	}
	out := in.must("usage", "--json")
	if !strings.Contains(out, "dailyUsd") && !strings.Contains(out, "limit") {
		t.Errorf("usage = %s", out)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if cond() {
			return
		}
		sleepShort()
	}
	t.Fatal("condition not met")
}
