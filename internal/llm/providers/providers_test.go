//go:build !gatehouse_omit_openai && !gatehouse_omit_anthropic

package providers

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"gatehouse/internal/config"
	"gatehouse/internal/llm"
)

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func secretsOf(m map[string]string) config.SecretLookup {
	return func(name string) (string, error) {
		v, ok := m[name]
		if !ok {
			return "", errors.New("not in the secret store")
		}
		return v, nil
	}
}

// cfgFrom decodes a config fragment the way gatehouse.json holds it.
func cfgFrom(t *testing.T, providers, primary string, fallbacks ...string) *config.Config {
	t.Helper()
	cfg := config.Default()
	if providers != "" {
		if err := json.Unmarshal([]byte(providers), &cfg.Models.Providers); err != nil {
			t.Fatal(err)
		}
	}
	cfg.Agents.Defaults.Model = config.ModelSelection{Primary: primary, Fallbacks: fallbacks}
	return cfg
}

func TestDescribe(t *testing.T) {
	tests := []struct {
		name      string
		providers string
		primary   string
		env       map[string]string
		want      Status
	}{
		{"openai_default", ``, "openai/gpt-4o", map[string]string{"OPENAI_API_KEY": "sk-env"},
			Status{Provider: "openai", API: "openai", BaseURL: "https://api.openai.com/v1", KeySource: "env OPENAI_API_KEY", Configured: true}},
		{"anthropic_secret", `{"anthropic":{"apiKey":{"secret":"anthropic.apiKey"}}}`, "anthropic/claude-sonnet-4-5", map[string]string{"ANTHROPIC_API_KEY": "env-loses"},
			Status{Provider: "anthropic", API: "anthropic", BaseURL: "https://api.anthropic.com", KeySource: "secret store", Configured: true}},
		{"anthropic_env_base_url", ``, "anthropic/claude-sonnet-4-5", map[string]string{"ANTHROPIC_API_KEY": "k", "ANTHROPIC_BASE_URL": "http://127.0.0.1:9/"},
			Status{Provider: "anthropic", API: "anthropic", BaseURL: "http://127.0.0.1:9/", KeySource: "env ANTHROPIC_API_KEY", Configured: true}},
		{"config_base_url_wins", `{"openai":{"baseUrl":"http://127.0.0.1:7/v1","apiKey":"sk-plain"}}`, "openai/gpt-4o", map[string]string{"OPENAI_BASE_URL": "http://127.0.0.1:8/v1"},
			Status{Provider: "openai", API: "openai", BaseURL: "http://127.0.0.1:7/v1", KeySource: "config (plaintext)", Configured: true}},
		{"env_ref_key", `{"openai":{"apiKey":"${MY_KEY}"}}`, "openai/gpt-4o", map[string]string{"MY_KEY": "sk-mine"},
			Status{Provider: "openai", API: "openai", BaseURL: "https://api.openai.com/v1", KeySource: "env MY_KEY", Configured: true}},
		{"gemini_google_key", ``, "gemini/gemini-2.5-flash", map[string]string{"GOOGLE_API_KEY": "g"},
			geminiStatus(Status{Provider: "gemini", API: "gemini", BaseURL: "https://generativelanguage.googleapis.com/", KeySource: "env GOOGLE_API_KEY", Configured: true})},
		{"google_name_is_gemini", ``, "google/gemini-2.5-pro", map[string]string{"GEMINI_API_KEY": "g"},
			geminiStatus(Status{Provider: "google", API: "gemini", BaseURL: "https://generativelanguage.googleapis.com/", KeySource: "env GEMINI_API_KEY", Configured: true})},
		{"ollama_no_key", ``, "ollama/llama3.1", nil,
			Status{Provider: "ollama", API: "openai-compatible", BaseURL: "http://127.0.0.1:11434/v1", KeySource: "none", Configured: true}},
		{"ollama_ignores_openai_env", ``, "ollama/llama3.1", map[string]string{"OPENAI_API_KEY": "sk", "OPENAI_BASE_URL": "https://evil.example/v1"},
			Status{Provider: "ollama", API: "openai-compatible", BaseURL: "http://127.0.0.1:11434/v1", KeySource: "none", Configured: true}},
		{"lmstudio", ``, "lmstudio/qwen", nil,
			Status{Provider: "lmstudio", API: "openai-compatible", BaseURL: "http://127.0.0.1:1234/v1", KeySource: "none", Configured: true}},
		{"vllm", ``, "vllm/qwen", nil,
			Status{Provider: "vllm", API: "openai-compatible", BaseURL: "http://127.0.0.1:8000/v1", KeySource: "none", Configured: true}},
		{"llamacpp", ``, "llamacpp/qwen", nil,
			Status{Provider: "llamacpp", API: "openai-compatible", BaseURL: "http://127.0.0.1:8080/v1", KeySource: "none", Configured: true}},
		{"openrouter_env", ``, "openrouter/anthropic/claude-sonnet-4.5", map[string]string{"OPENROUTER_API_KEY": "or"},
			Status{Provider: "openrouter", API: "openai-compatible", BaseURL: "https://openrouter.ai/api/v1", KeySource: "env OPENROUTER_API_KEY", Configured: true}},
		{"custom_with_base_url", `{"mybox":{"baseUrl":"http://127.0.0.1:5000/v1"}}`, "mybox/any", nil,
			Status{Provider: "mybox", API: "openai-compatible", BaseURL: "http://127.0.0.1:5000/v1", KeySource: "none", Configured: true}},
		{"custom_api_anthropic", `{"proxy":{"api":"anthropic","baseUrl":"https://llm-proxy.example","apiKey":{"secret":"proxy.key"}}}`, "proxy/claude-sonnet-4-5", nil,
			Status{Provider: "proxy", API: "anthropic", BaseURL: "https://llm-proxy.example", KeySource: "secret store", Configured: true}},
		{"custom_without_base_url", `{"mybox":{}}`, "mybox/any", nil,
			Status{Provider: "mybox", API: "openai-compatible", KeySource: "none",
				Error: `provider "mybox" has no base URL: run gatehouse config set models.providers.mybox.baseUrl http://HOST:PORT/v1`}},
		{"anthropic_missing_key", ``, "anthropic/claude-sonnet-4-5", nil,
			Status{Provider: "anthropic", API: "anthropic", BaseURL: "https://api.anthropic.com", KeySource: "none",
				Error: `provider "anthropic" has no API key: store one with printf '%s' "$KEY" | gatehouse secrets set anthropic.apiKey && gatehouse config set models.providers.anthropic.apiKey '{"secret":"anthropic.apiKey"}', or run gatehouse models auth add --provider anthropic, or set ANTHROPIC_API_KEY`}},
		{"secret_missing_from_store", `{"openai":{"apiKey":{"secret":"nope"}}}`, "openai/gpt-4o", nil,
			Status{Provider: "openai", API: "openai", BaseURL: "https://api.openai.com/v1", KeySource: "secret store",
				Error: `models.providers.openai.apiKey: secret "nope": not in the secret store`}},
	}
	secrets := secretsOf(map[string]string{"anthropic.apiKey": "sk-ant-store", "proxy.key": "pk"})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Describe(cfgFrom(t, tt.providers, tt.primary), secrets, envOf(tt.env))
			if len(got) != 1 || got[0] != tt.want {
				t.Errorf("Describe =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestDescribeNeverShowsKeys(t *testing.T) {
	cfg := cfgFrom(t, `{"openai":{"apiKey":"sk-plaintext-SECRET"},"anthropic":{"apiKey":{"secret":"a"}}}`, "openai/gpt-4o", "anthropic/claude-haiku-4-5", "openrouter/x/y")
	b, err := json.Marshal(Describe(cfg, secretsOf(map[string]string{"a": "sk-ant-SECRET"}), envOf(map[string]string{"OPENROUTER_API_KEY": "sk-or-SECRET"})))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "SECRET") {
		t.Errorf("Describe shows a key: %s", b)
	}
	if got, want := strings.Count(string(b), `"configured":true`), 3; got != want {
		t.Errorf("%d providers configured, want %d: %s", got, want, b)
	}
}

func TestNames(t *testing.T) {
	cfg := cfgFrom(t, `{"vllm":{},"anthropic":{}}`, "openai/gpt-4o", "anthropic/claude-sonnet-4-5", "ollama/llama3", "not-a-ref")
	if got, want := fmt.Sprint(Names(cfg)), "[anthropic ollama openai vllm]"; got != want {
		t.Errorf("Names = %s, want %s", got, want)
	}
}

func TestFromConfig(t *testing.T) {
	t.Run("builds_every_provider", func(t *testing.T) {
		fallbacks := []string{"anthropic/claude-sonnet-4-5", "ollama/llama3"}
		want := "[anthropic:*anthropic.Provider mybox:*openai.Provider ollama:*openai.Provider openai:*openai.Provider]"
		if hasGemini {
			fallbacks = append(fallbacks, "gemini/gemini-2.5-flash")
			want = "[anthropic:*anthropic.Provider gemini:*gemini.Provider mybox:*openai.Provider ollama:*openai.Provider openai:*openai.Provider]"
		}
		cfg := cfgFrom(t, `{"mybox":{"baseUrl":"http://127.0.0.1:1/v1"}}`, "openai/gpt-4o", fallbacks...)
		env := envOf(map[string]string{"OPENAI_API_KEY": "a", "ANTHROPIC_API_KEY": "b", "GEMINI_API_KEY": "c"})
		ps, err := FromConfig(cfg, nil, env, nil)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, n := range Names(cfg) {
			got = append(got, fmt.Sprintf("%s:%T", n, ps[n]))
		}
		if fmt.Sprint(got) != want {
			t.Errorf("providers = %v, want %v", got, want)
		}
	})
	t.Run("gemini_through_its_openai_compatible_endpoint", func(t *testing.T) {
		cfg := cfgFrom(t, `{"gemini":{"api":"openai-compatible","baseUrl":"https://generativelanguage.googleapis.com/v1beta/openai/"}}`, "gemini/gemini-2.5-flash")
		ps, err := FromConfig(cfg, nil, envOf(map[string]string{"GEMINI_API_KEY": "c"}), nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprintf("%T", ps["gemini"]); got != "*openai.Provider" {
			t.Errorf("gemini provider = %s, want *openai.Provider", got)
		}
	})
	t.Run("native_gemini_is_opt_in", func(t *testing.T) {
		cfg := cfgFrom(t, ``, "gemini/gemini-2.5-flash")
		_, err := FromConfig(cfg, nil, envOf(map[string]string{"GEMINI_API_KEY": "c"}), nil)
		if hasGemini {
			if err != nil {
				t.Errorf("with -tags gatehouse_gemini: %v", err)
			}
			return
		}
		if err == nil || !strings.Contains(err.Error(), "gatehouse_gemini") || !strings.Contains(err.Error(), "openai-compatible") {
			t.Errorf("without the tag: %v; want the tag to build with and the OpenAI-compatible alternative", err)
		}
	})
	t.Run("reports_every_problem", func(t *testing.T) {
		cfg := cfgFrom(t, `{"mybox":{}}`, "openai/gpt-4o", "anthropic/claude-sonnet-4-5", "mybox/m")
		ps, err := FromConfig(cfg, nil, envOf(nil), nil)
		if ps != nil || err == nil {
			t.Fatalf("FromConfig = %v, %v; want an error", ps, err)
		}
		for _, want := range []string{
			`gatehouse models auth add --provider anthropic`,
			`gatehouse secrets set openai.apiKey`,
			`models.providers.mybox.baseUrl`,
		} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error lacks %q:\n%v", want, err)
			}
		}
	})
	t.Run("bad_api", func(t *testing.T) {
		cfg := cfgFrom(t, `{"x":{"api":"cohere","baseUrl":"https://x.example"}}`, "x/m")
		_, err := FromConfig(cfg, nil, envOf(nil), nil)
		if err == nil || !strings.Contains(err.Error(), `models.providers.x.api "cohere"`) {
			t.Errorf("err = %v, want one naming models.providers.x.api", err)
		}
	})
}

// TestKeyAndBaseURLReachTheWire checks, with a real request, that the key
// and base URL FromConfig chose are the ones used, and that hc sends it.
func TestKeyAndBaseURLReachTheWire(t *testing.T) {
	for _, k := range []string{"OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"} {
		t.Setenv(k, "")
	}
	var auth atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth.Store(r.Header.Get("Authorization") + "|" + r.URL.Path)
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":"stop"}]}`+"\n\ndata: [DONE]\n\n")
	}))
	defer srv.Close()
	cfg := cfgFrom(t, `{"openai":{"apiKey":{"secret":"openai.apiKey"}}}`, "openai/gpt-4o")
	env := envOf(map[string]string{"OPENAI_BASE_URL": srv.URL + "/v1", "OPENAI_API_KEY": "sk-env-loses"})
	ps, err := FromConfig(cfg, secretsOf(map[string]string{"openai.apiKey": "sk-store"}), env, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	resp, err := ps["openai"].Chat(t.Context(), &llm.Request{Model: "gpt-4o", Messages: []llm.Message{{Role: llm.RoleUser, Content: "x"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := auth.Load(), "Bearer sk-store|/v1/chat/completions"; got != want || resp.Message.Content != "hi" {
		t.Errorf("server saw %v (answer %q), want %v", got, resp.Message.Content, want)
	}
}

func TestKey(t *testing.T) {
	cfg := cfgFrom(t, `{"openai":{"apiKey":{"secret":"o"}}}`, "openai/gpt-4o", "ollama/llama3", "anthropic/claude-haiku-4-5")
	lookup := secretsOf(map[string]string{"o": "sk-store"})
	env := envOf(map[string]string{"OPENAI_API_KEY": "sk-env"})
	tests := []struct {
		name    string
		want    string
		wantErr string
	}{
		{"openai", "sk-store", ""},
		{"ollama", "", ""},
		{"anthropic", "", "gatehouse models auth add --provider anthropic"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Key(cfg, tt.name, lookup, env)
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if got != tt.want || !strings.Contains(gotErr, tt.wantErr) || (tt.wantErr == "") != (gotErr == "") {
				t.Errorf("Key(%s) = %q, %q; want %q, error containing %q", tt.name, got, gotErr, tt.want, tt.wantErr)
			}
		})
	}
}

// geminiStatus is what Describe reports for a native Gemini provider in
// this build: usable with -tags gatehouse_gemini, else explained.
func geminiStatus(s Status) Status {
	if !hasGemini {
		s.Configured = false
		s.Error = geminiOptInError(s.Provider).Error()
	}
	return s
}
