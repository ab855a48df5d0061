package llm_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/llm"
	"gatehouse/internal/llm/openai"
)

// clock is a manual clock, and a Sleep that advances it and records each
// wait.
type clock struct {
	mu     sync.Mutex
	t      time.Time
	sleeps []time.Duration
}

func newClock() *clock { return &clock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.t = c.t.Add(d)
	return ctx.Err()
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fakeOpenAI is an OpenAI-compatible server: it answers with the errors
// queued in fail (status and body, one per request) and, once those run
// out, streams text. It counts requests.
type fakeOpenAI struct {
	*httptest.Server
	requests atomic.Int32
	text     string
	mu       sync.Mutex
	fail     []failure
	always   *failure
}

type failure struct {
	status int
	header map[string]string
	body   string
}

func newFakeOpenAI(t *testing.T, text string, fail ...failure) *fakeOpenAI {
	f := &fakeOpenAI{text: text, fail: fail}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeOpenAI) serve(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	f.requests.Add(1)
	f.mu.Lock()
	var fl *failure
	if f.always != nil {
		fl = f.always
	} else if len(f.fail) > 0 {
		fl = &f.fail[0]
		f.fail = f.fail[1:]
	}
	f.mu.Unlock()
	if fl != nil {
		for k, v := range fl.header {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(fl.status)
		fmt.Fprint(w, fl.body)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	for _, word := range strings.SplitAfter(f.text, " ") {
		fmt.Fprintf(w, `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":%q},"finish_reason":null}]}`+"\n\n", word)
	}
	fmt.Fprint(w, `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`+"\n\ndata: [DONE]\n\n")
}

func (f *fakeOpenAI) provider(t *testing.T, name string) llm.Provider {
	t.Helper()
	p, err := openai.New(openai.Options{Name: name, APIKey: "sk-test", BaseURL: f.URL + "/v1"})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var (
	rateLimited = failure{429, map[string]string{"Retry-After": "2"}, `{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`}
	serverError = failure{500, nil, `{"error":{"message":"The server had an error","type":"server_error","code":null}}`}
	badKey      = failure{401, nil, `{"error":{"message":"Incorrect API key provided: sk-test","type":"invalid_request_error","code":"invalid_api_key"}}`}
	tooLong     = failure{400, nil, `{"error":{"message":"This model's maximum context length is 8192 tokens.","type":"invalid_request_error","code":"context_length_exceeded"}}`}
)

var hello = &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "hello"}}}

func clearEnv(t *testing.T) {
	for _, k := range []string{"OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"} {
		t.Setenv(k, "")
	}
}

func newRouter(t *testing.T, c *clock, log io.Writer, providers map[string]llm.Provider, chain ...string) *llm.Router {
	t.Helper()
	if log == nil {
		log = io.Discard
	}
	r, err := llm.NewRouter(llm.RouterOptions{
		Providers: providers,
		Primary:   chain[0],
		Fallbacks: chain[1:],
		Logger:    slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:       c.Now,
		Sleep:     c.Sleep,
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRouterFailover(t *testing.T) {
	clearEnv(t)
	tests := []struct {
		name string
		fail failure
		// primaryRequests is how many times the primary is asked.
		primaryRequests int32
		sleeps          []time.Duration
		cooling         bool
	}{
		{"rate_limit_retried_then_fallback", rateLimited, 3, []time.Duration{2 * time.Second, 2 * time.Second}, true},
		{"auth_not_retried", badKey, 1, nil, true},
		{"context_length_next_model", tooLong, 1, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			primary := newFakeOpenAI(t, "from primary")
			primary.always = &tt.fail
			fallback := newFakeOpenAI(t, "from the fallback")
			c := newClock()
			r := newRouter(t, c, nil, map[string]llm.Provider{
				"openai": primary.provider(t, "openai"),
				"backup": fallback.provider(t, "backup"),
			}, "openai/gpt-4o", "backup/llama3")

			var streamed strings.Builder
			resp, ref, err := r.Chat(t.Context(), hello, func(s string) { streamed.WriteString(s) })
			if err != nil {
				t.Fatal(err)
			}
			if got, want := resp.Message.Content, "from the fallback"; got != want {
				t.Errorf("content = %q, want %q", got, want)
			}
			if got, want := streamed.String(), "from the fallback"; got != want {
				t.Errorf("streamed %q, want %q", got, want)
			}
			if got, want := ref.String(), "backup/llama3"; got != want {
				t.Errorf("answered by %s, want %s", got, want)
			}
			if got, want := primary.requests.Load(), tt.primaryRequests; got != want {
				t.Errorf("primary got %d requests, want %d", got, want)
			}
			if got, want := fmt.Sprint(c.sleeps), fmt.Sprint(tt.sleeps); got != want {
				t.Errorf("slept %s, want %s", got, want)
			}
			st := r.Status()
			if got, want := !st[0].CooldownUntil.IsZero(), tt.cooling; got != want {
				t.Errorf("primary cooling = %v, want %v (%+v)", got, want, st)
			}
		})
	}
}

func TestRouterAuthLoggedOnce(t *testing.T) {
	clearEnv(t)
	primary := newFakeOpenAI(t, "")
	primary.always = &badKey
	fallback := newFakeOpenAI(t, "ok")
	c := newClock()
	var log bytes.Buffer
	r := newRouter(t, c, &log, map[string]llm.Provider{
		"openai": primary.provider(t, "openai"),
		"backup": fallback.provider(t, "backup"),
	}, "openai/gpt-4o", "backup/llama3")
	for range 3 {
		if _, _, err := r.Chat(t.Context(), hello, nil); err != nil {
			t.Fatal(err)
		}
		c.Advance(2 * time.Minute) // past the cooldown: the primary is tried again
	}
	if got, want := primary.requests.Load(), int32(3); got != want {
		t.Errorf("primary got %d requests, want %d", got, want)
	}
	if got, want := strings.Count(log.String(), "level=ERROR"), 1; got != want {
		t.Errorf("logged %d errors, want %d:\n%s", got, want, log.String())
	}
	if !strings.Contains(log.String(), "gatehouse models auth add --provider openai") {
		t.Errorf("log does not say how to fix the key:\n%s", log.String())
	}
	if strings.Contains(log.String(), "Incorrect API key") {
		t.Errorf("log carries the provider's message, which may echo the key:\n%s", log.String())
	}
}

func TestRouterCooldown(t *testing.T) {
	clearEnv(t)
	primary := newFakeOpenAI(t, "primary is back", serverError, serverError, serverError)
	fallback := newFakeOpenAI(t, "fallback")
	c := newClock()
	r := newRouter(t, c, nil, map[string]llm.Provider{
		"openai": primary.provider(t, "openai"),
		"backup": fallback.provider(t, "backup"),
	}, "openai/gpt-4o", "backup/llama3")

	steps := []struct {
		name            string
		advance         time.Duration
		want            string
		primaryRequests int32
	}{
		{"fails_over", 0, "fallback", 3},
		{"skips_cooling_primary", 10 * time.Second, "fallback", 3},
		{"primary_after_cooldown", 2 * time.Minute, "primary is back", 4},
	}
	for _, s := range steps {
		c.Advance(s.advance)
		resp, _, err := r.Chat(t.Context(), hello, nil)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := resp.Message.Content; got != s.want {
			t.Errorf("%s: content = %q, want %q", s.name, got, s.want)
		}
		if got := primary.requests.Load(); got != s.primaryRequests {
			t.Errorf("%s: primary got %d requests, want %d", s.name, got, s.primaryRequests)
		}
	}
	for i, d := range c.sleeps {
		if d < 0 || d > time.Duration(500<<i)*time.Millisecond {
			t.Errorf("sleep %d = %v, want within [0, %v]", i, d, time.Duration(500<<i)*time.Millisecond)
		}
	}
}

func TestRouterAllCoolingStillTries(t *testing.T) {
	clearEnv(t)
	only := newFakeOpenAI(t, "finally", serverError, serverError, serverError)
	c := newClock()
	r := newRouter(t, c, nil, map[string]llm.Provider{"openai": only.provider(t, "openai")}, "openai/gpt-4o")
	_, ref, err := r.Chat(t.Context(), hello, nil)
	var le *llm.Error
	if !errors.As(err, &le) || le.Kind != llm.KindServer || ref.String() != "openai/gpt-4o" {
		t.Fatalf("err = %v from %s, want a server error from openai/gpt-4o", err, ref)
	}
	resp, _, err := r.Chat(t.Context(), hello, nil)
	if err != nil {
		t.Fatalf("second call, with every model cooling down: %v", err)
	}
	if got, want := resp.Message.Content, "finally"; got != want {
		t.Errorf("content = %q, want %q", got, want)
	}
}

func TestRouterLongRetryAfterMovesOn(t *testing.T) {
	clearEnv(t)
	primary := newFakeOpenAI(t, "")
	primary.always = &failure{429, map[string]string{"Retry-After": "600"}, `{"error":{"type":"requests","code":"rate_limit_exceeded"}}`}
	fallback := newFakeOpenAI(t, "fallback")
	c := newClock()
	r := newRouter(t, c, nil, map[string]llm.Provider{
		"openai": primary.provider(t, "openai"),
		"backup": fallback.provider(t, "backup"),
	}, "openai/gpt-4o", "backup/llama3")
	if _, _, err := r.Chat(t.Context(), hello, nil); err != nil {
		t.Fatal(err)
	}
	if got, want := primary.requests.Load(), int32(1); got != want {
		t.Errorf("primary got %d requests, want %d", got, want)
	}
	if got, want := r.Status()[0].CooldownUntil, c.Now().Add(600*time.Second); !got.Equal(want) {
		t.Errorf("primary cools down until %v, want %v", got, want)
	}
}

// streamThenFail streams some text and then fails mid-stream.
type streamThenFail struct{ calls atomic.Int32 }

func (p *streamThenFail) Chat(ctx context.Context, req *llm.Request, onDelta func(string)) (*llm.Response, error) {
	p.calls.Add(1)
	onDelta("partial ")
	return nil, &llm.Error{Kind: llm.KindNetwork, Provider: "p", Model: req.Model, Message: "the connection closed early"}
}

type answer struct {
	text  string
	calls atomic.Int32
}

func (p *answer) Chat(ctx context.Context, req *llm.Request, onDelta func(string)) (*llm.Response, error) {
	p.calls.Add(1)
	onDelta(p.text)
	return &llm.Response{Message: llm.Message{Role: llm.RoleAssistant, Content: p.text}, Model: req.Model}, nil
}

func TestRouterNoRetryAfterStreaming(t *testing.T) {
	p := &streamThenFail{}
	fb := &answer{text: "fallback"}
	c := newClock()
	r := newRouter(t, c, nil, map[string]llm.Provider{"p": p, "fb": fb}, "p/m", "fb/m")
	var got strings.Builder
	_, ref, err := r.Chat(t.Context(), hello, func(s string) { got.WriteString(s) })
	var le *llm.Error
	if !errors.As(err, &le) || le.Kind != llm.KindNetwork {
		t.Fatalf("err = %v, want the network error", err)
	}
	if ref.String() != "p/m" || p.calls.Load() != 1 || fb.calls.Load() != 0 {
		t.Errorf("ref %s, primary calls %d, fallback calls %d; want p/m, 1, 0", ref, p.calls.Load(), fb.calls.Load())
	}
	if got.String() != "partial " {
		t.Errorf("streamed %q, want %q (nothing replayed)", got.String(), "partial ")
	}
}

// canceler cancels the caller's context and fails as a canceled call.
type canceler struct{ cancel context.CancelFunc }

func (p *canceler) Chat(ctx context.Context, req *llm.Request, _ func(string)) (*llm.Response, error) {
	p.cancel()
	return nil, llm.TransportError(ctx, "p", req.Model, ctx.Err())
}

func TestRouterCanceledStops(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	fb := &answer{text: "fallback"}
	r := newRouter(t, newClock(), nil, map[string]llm.Provider{"p": &canceler{cancel}, "fb": fb}, "p/m", "fb/m")
	_, _, err := r.Chat(ctx, hello, nil)
	if !errors.Is(err, context.Canceled) || fb.calls.Load() != 0 {
		t.Errorf("err = %v, fallback calls %d; want context.Canceled and no fallback", err, fb.calls.Load())
	}
}

func TestRouterSetsModelPerAttempt(t *testing.T) {
	var mu sync.Mutex
	var models []string
	rec := providerFunc(func(ctx context.Context, req *llm.Request, onDelta func(string)) (*llm.Response, error) {
		mu.Lock()
		models = append(models, req.Model)
		mu.Unlock()
		if req.Model == "first" {
			return nil, &llm.Error{Kind: llm.KindBadRequest}
		}
		return &llm.Response{}, nil
	})
	r := newRouter(t, newClock(), nil, map[string]llm.Provider{"p": rec}, "p/first", "p/second")
	req := &llm.Request{Model: "caller's"}
	if _, _, err := r.Chat(t.Context(), req, nil); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(models, ","), "first,second"; got != want {
		t.Errorf("models asked = %s, want %s", got, want)
	}
	if req.Model != "caller's" {
		t.Errorf("the caller's request was modified: Model = %q", req.Model)
	}
}

func TestRouterConcurrent(t *testing.T) {
	flaky := providerFunc(func(ctx context.Context, req *llm.Request, onDelta func(string)) (*llm.Response, error) {
		return nil, &llm.Error{Kind: llm.KindServer}
	})
	fb := &answer{text: "ok"}
	r := newRouter(t, newClock(), nil, map[string]llm.Provider{"p": flaky, "fb": fb}, "p/m", "fb/m")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, _, err := r.Chat(t.Context(), hello, func(string) {}); err != nil {
				t.Error(err)
			}
			r.Status()
		})
	}
	wg.Wait()
}

type providerFunc func(ctx context.Context, req *llm.Request, onDelta func(string)) (*llm.Response, error)

func (f providerFunc) Chat(ctx context.Context, req *llm.Request, onDelta func(string)) (*llm.Response, error) {
	return f(ctx, req, onDelta)
}

func TestNewRouterErrors(t *testing.T) {
	ps := map[string]llm.Provider{"openai": &answer{}}
	tests := []struct {
		name      string
		primary   string
		fallbacks []string
		want      string
	}{
		{"no_primary", "", nil, "agents.defaults.model.primary"},
		{"not_a_ref", "gpt-4o", nil, "not provider/model"},
		{"unknown_provider", "openai/gpt-4o", []string{"anthropic/claude-sonnet-4-5"}, `fallbacks[0]: provider "anthropic" is not configured: add models.providers.anthropic`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := llm.NewRouter(llm.RouterOptions{Providers: ps, Primary: tt.primary, Fallbacks: tt.fallbacks})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestCost(t *testing.T) {
	ps := map[string]llm.Provider{"openai": &answer{}}
	r, err := llm.NewRouter(llm.RouterOptions{
		Providers: ps,
		Primary:   "openai/gpt-4o",
		Pricing: map[string]config.Price{
			"openai/gpt-4o":    {Input: 1, Output: 2},
			"custom/my-model":  {Input: 4, Output: 8, CacheRead: 0.5},
			"ollama/expensive": {Input: 1, Output: 1},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	million := llm.Usage{InputTokens: 1_000_000, OutputTokens: 1_000_000}
	tests := []struct {
		name  string
		ref   string
		usage llm.Usage
		cost  float64
		known bool
	}{
		{"override_exact", "openai/gpt-4o", million, 3, true},
		{"override_prefix_dated", "openai/gpt-4o-2024-08-06", million, 3, true},
		{"builtin_mini_not_gpt4o", "openai/gpt-4o-mini", million, 0.75, true},
		{"builtin_dated_claude", "anthropic/claude-sonnet-4-5-20250929", million, 18, true},
		{"builtin_cache_tokens", "anthropic/claude-sonnet-4-5", llm.Usage{InputTokens: 1_000_000, CacheReadTokens: 1_000_000, CacheWriteTokens: 1_000_000}, 3 + 0.30 + 3.75, true},
		{"openrouter_vendor_path_and_dots", "openrouter/anthropic/claude-haiku-4.5", million, 6, true},
		{"gemini_flash_lite", "gemini/gemini-2.5-flash-lite", million, 0.5, true},
		{"gemini_pro", "gemini/gemini-2.5-pro", million, 11.25, true},
		{"gpt_4_1_mini", "openai/gpt-4.1-mini-2025-04-14", million, 2, true},
		{"o3", "openai/o3-2025-04-16", million, 10, true},
		{"override_cache_defaults_to_input", "custom/my-model", llm.Usage{CacheReadTokens: 1_000_000, CacheWriteTokens: 1_000_000}, 4.5, true},
		{"local_free", "ollama/llama3.1:8b", million, 0, true},
		{"local_override", "ollama/expensive", million, 2, true},
		{"unknown", "openai/gpt-9", million, 0, false},
		{"no_boundary", "openai/gpt-4oz", million, 0, false},
		{"claude_opus_4_5_not_4_1", "anthropic/claude-opus-4-5", million, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ref, err := llm.ParseRef(tt.ref)
			if err != nil {
				t.Fatal(err)
			}
			got, known := r.Cost(ref, tt.usage), r.PriceKnown(ref)
			if math.Abs(got-tt.cost) > 1e-9 || known != tt.known {
				t.Errorf("Cost(%s) = %v known %v, want %v known %v", tt.ref, got, known, tt.cost, tt.known)
			}
		})
	}
}
