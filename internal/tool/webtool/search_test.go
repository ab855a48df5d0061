package webtool

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"gatehouse/internal/config"
	"gatehouse/internal/egress"
	"gatehouse/internal/tool"
)

const testKey = "BSAk3yTh4tMustN3verLeak0123456789"

// fakeAPI records what a fake provider was asked, and answers with a
// testdata file or a status.
type fakeAPI struct {
	*server
	mu     sync.Mutex
	method string
	path   string
	query  url.Values
	header http.Header
	body   []byte
	rawURL string
}

func fakeProvider(t *testing.T, answerFile string, status int) *fakeAPI {
	t.Helper()
	var answer []byte
	if answerFile != "" {
		var err error
		if answer, err = os.ReadFile("testdata/" + answerFile); err != nil {
			t.Fatal(err)
		}
	}
	p := &fakeAPI{}
	p.server = newServer(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		p.mu.Lock()
		p.method, p.path, p.query, p.header, p.body = r.Method, r.URL.Path, r.URL.Query(), r.Header.Clone(), body
		p.rawURL = r.URL.String()
		p.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(answer)
	})
	return p
}

func searchTool(t *testing.T, n *testNet, cfg config.WebSearch, key string, logger *slog.Logger) tool.Tool {
	t.Helper()
	web := config.Default().Tools.Web
	web.Search = cfg
	base := n.options()
	base.Logger = logger
	_, s, err := FromConfig(web, key, base)
	if err != nil {
		t.Fatalf("FromConfig: %v", err)
	}
	if s == nil {
		t.Fatal("FromConfig gave no search tool")
	}
	return s
}

const wantList = `
1. Preventing SSRF in Go
   https://blog.example.com/go-ssrf
   Check the address at dial time with net.Dialer.Control & friends.

2. net package - net - Go Packages
   https://pkg.go.dev/net
   Package net provides a portable interface for network I/O.
`

func TestSearch_brave(t *testing.T) {
	p := fakeProvider(t, "brave.json", 200)
	n := newTestNet(t, nil)
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := searchTool(t, n, config.WebSearch{Provider: "brave", BaseURL: p.at("127.0.0.1", ""), MaxResults: 5}, testKey, logger)
	res := run(t, s, map[string]any{"query": "golang  egress ssrf", "count": 2})
	if res.IsError {
		t.Fatalf("IsError: %s", res.Text)
	}
	if p.method != "GET" || p.path != "/res/v1/web/search" {
		t.Errorf("request = %s %s, want GET /res/v1/web/search", p.method, p.path)
	}
	if q := p.query; len(q) != 2 || q.Get("q") != "golang egress ssrf" || q.Get("count") != "2" {
		t.Errorf("query = %v, want q and count=2 only", q)
	}
	if got := p.header.Get("X-Subscription-Token"); got != testKey {
		t.Errorf("X-Subscription-Token = %q, want the key", got)
	}
	if got := p.header.Get("Accept"); got != "application/json" {
		t.Errorf("Accept = %q, want application/json", got)
	}
	if strings.Contains(p.rawURL, testKey) || p.header.Get("Authorization") != "" {
		t.Errorf("the key went somewhere else: URL %q, Authorization %q", p.rawURL, p.header.Get("Authorization"))
	}
	want := `Results for "golang egress ssrf" (brave):` + "\n" + wantList
	if res.Text != want {
		t.Errorf("result:\n%s\nwant:\n%s", res.Text, want)
	}
	if strings.Contains(logs.String(), testKey) {
		t.Errorf("logs carry the key: %s", logs.String())
	}
}

func TestSearch_tavily(t *testing.T) {
	p := fakeProvider(t, "tavily.json", 200)
	n := newTestNet(t, nil)
	s := searchTool(t, n, config.WebSearch{Provider: "tavily", BaseURL: p.at("127.0.0.1", "/"), MaxResults: 4}, testKey, nil)
	res := run(t, s, map[string]any{"query": "golang egress ssrf"})
	if res.IsError {
		t.Fatalf("IsError: %s", res.Text)
	}
	if p.method != "POST" || p.path != "/search" || len(p.query) != 0 {
		t.Errorf("request = %s %s?%v, want POST /search", p.method, p.path, p.query)
	}
	if got := p.header.Get("Authorization"); got != "Bearer "+testKey {
		t.Errorf("Authorization = %q, want Bearer and the key", got)
	}
	if got := p.header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q", got)
	}
	var body map[string]any
	if err := json.Unmarshal(p.body, &body); err != nil {
		t.Fatalf("body %q: %v", p.body, err)
	}
	if len(body) != 2 || body["query"] != "golang egress ssrf" || body["max_results"] != float64(4) {
		t.Errorf("body = %s, want {query, max_results: 4}", p.body)
	}
	if bytes.Contains(p.body, []byte(testKey)) || strings.Contains(p.rawURL, testKey) {
		t.Error("the key is in the body or URL")
	}
	want := `Results for "golang egress ssrf" (tavily):` + "\n" +
		strings.Replace(wantList, "Control & friends", "Control and friends", 1)
	if res.Text != want {
		t.Errorf("result:\n%s\nwant:\n%s", res.Text, want)
	}
}

func TestSearch_searxng_on_private_host(t *testing.T) {
	p := fakeProvider(t, "searxng.json", 200)
	n := newTestNet(t, map[string]string{"searx.test": "127.0.0.1"})
	web := config.Default().Tools.Web
	web.Search = config.WebSearch{Provider: "searxng", BaseURL: p.at("searx.test", "/"), MaxResults: 5}
	fetch, s, err := FromConfig(web, "", n.options())
	if err != nil {
		t.Fatal(err)
	}
	res := run(t, s, map[string]any{"query": "golang egress ssrf", "count": 2})
	if res.IsError {
		t.Fatalf("IsError: %s", res.Text)
	}
	if p.method != "GET" || p.path != "/search" || p.query.Get("q") != "golang egress ssrf" || p.query.Get("format") != "json" {
		t.Errorf("request = %s %s?%v, want GET /search?q=…&format=json", p.method, p.path, p.query)
	}
	if p.header.Get("Authorization") != "" || p.header.Get("X-Subscription-Token") != "" {
		t.Errorf("searxng got credentials: %v", p.header)
	}
	want := `Results for "golang egress ssrf" (searxng):` + "\n" +
		strings.Replace(wantList, "Control & friends", "Control and friends", 1)
	if res.Text != want {
		t.Errorf("result:\n%s\nwant:\n%s", res.Text, want)
	}
	// The searxng host is allowed for search only, not for web_fetch.
	before := p.hitCount()
	fr := run(t, fetch, map[string]any{"url": p.at("searx.test", "/search?q=x&format=json")})
	if !fr.IsError || !strings.Contains(fr.Text, "searx.test resolves to 127.0.0.1, a loopback address") || p.hitCount() != before {
		t.Errorf("web_fetch of the searxng host = %v %q, want a refusal", fr.IsError, fr.Text)
	}
}

func TestSearch_errors(t *testing.T) {
	tests := []struct {
		name   string
		status int
		answer string
		want   string
	}{
		{"unauthorized", 401, "", "brave answered HTTP 401 Unauthorized: the provider refused the API key; the owner should check tools.web.search.apiKey"},
		{"rate_limited", 429, "", "rate limited"},
		{"server_error", 502, "", "HTTP 502 Bad Gateway: the provider is failing"},
		{"not_json", 200, "", "brave sent an answer that is not its search JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				// Some APIs echo the credential they refused.
				fmt.Fprintf(w, `<html>invalid token %s</html>`, r.Header.Get("X-Subscription-Token"))
			})
			n := newTestNet(t, nil)
			s := searchTool(t, n, config.WebSearch{Provider: "brave", BaseURL: p.at("127.0.0.1", "")}, testKey, nil)
			res := run(t, s, map[string]any{"query": "q"})
			if !res.IsError || !strings.Contains(res.Text, tt.want) {
				t.Errorf("result = %v %q, want an error containing %q", res.IsError, res.Text, tt.want)
			}
			if strings.Contains(res.Text, testKey) {
				t.Errorf("result carries the key: %q", res.Text)
			}
		})
	}
}

func TestSearch_no_redirects(t *testing.T) {
	other := newServer(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"web":{"results":[]}}`) })
	p := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.at("127.0.0.1", "/steal"), http.StatusTemporaryRedirect)
	})
	n := newTestNet(t, nil)
	s := searchTool(t, n, config.WebSearch{Provider: "brave", BaseURL: p.at("127.0.0.1", "")}, testKey, nil)
	res := run(t, s, map[string]any{"query": "q"})
	if !res.IsError || !strings.Contains(res.Text, "redirects are off") || other.hitCount() != 0 {
		t.Errorf("result = %v %q (other hit %d times), want the redirect refused", res.IsError, res.Text, other.hitCount())
	}
	if strings.Contains(res.Text, testKey) {
		t.Errorf("result carries the key: %q", res.Text)
	}
}

func TestSearch_refuses_private_without_baseURL_host(t *testing.T) {
	// A search client built for Brave's public API cannot be pointed at a
	// private address by DNS.
	n := newTestNet(t, map[string]string{"api.search.brave.com": "10.0.0.1"})
	s := searchTool(t, n, config.WebSearch{Provider: "brave"}, testKey, nil)
	res := run(t, s, map[string]any{"query": "q"})
	if !res.IsError || !strings.Contains(res.Text, "api.search.brave.com resolves to 10.0.0.1, a private address") {
		t.Errorf("result = %v %q, want a refusal", res.IsError, res.Text)
	}
	if strings.Contains(res.Text, testKey) {
		t.Errorf("result carries the key: %q", res.Text)
	}
}

func TestSearch_args(t *testing.T) {
	p := fakeProvider(t, "searxng.json", 200)
	n := newTestNet(t, map[string]string{"searx.test": "127.0.0.1"})
	s := searchTool(t, n, config.WebSearch{Provider: "searxng", BaseURL: p.at("searx.test", ""), MaxResults: 2}, "", nil)
	tests := []struct {
		name    string
		args    string
		isError bool
		want    string
	}{
		{"no_query", `{}`, true, `argument "query" is required`},
		{"blank_query", `{"query":"   "}`, true, `argument "query" is required`},
		{"long_query", `{"query":"` + strings.Repeat("x", 401) + `"}`, true, "over the limit of 400"},
		{"count_zero", `{"query":"q","count":0}`, true, `argument "count" is 0: use 1 to 2`},
		{"count_type", `{"query":"q","count":"3"}`, true, `must be a int`},
		{"unknown", `{"query":"q","site":"x"}`, true, `unknown argument "site"`},
		{"count_clamped", `{"query":"q","count":50}`, false, "\n2. "},
		{"count_one", `{"query":"q","count":1}`, false, "\n1. "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := run(t, s, json.RawMessage(tt.args))
			if res.IsError != tt.isError || !strings.Contains(res.Text, tt.want) {
				t.Errorf("result = %v %q, want IsError=%v containing %q", res.IsError, res.Text, tt.isError, tt.want)
			}
			if strings.Contains(res.Text, "\n3. ") {
				t.Errorf("more results than the maximum: %q", res.Text)
			}
		})
	}
}

func TestSearch_empty(t *testing.T) {
	p := newServer(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"query":"q","results":[]}`) })
	n := newTestNet(t, nil)
	s := searchTool(t, n, config.WebSearch{Provider: "tavily", BaseURL: p.at("127.0.0.1", "")}, testKey, nil)
	if res := run(t, s, map[string]any{"query": "nothing"}); res.IsError || res.Text != `No results for "nothing".` {
		t.Errorf("result = %v %q", res.IsError, res.Text)
	}
}

func TestNewSearch_config_errors(t *testing.T) {
	c := egress.New(egress.Options{})
	tests := []struct {
		name string
		cfg  config.WebSearch
		key  string
		want string
	}{
		{"brave_no_key", config.WebSearch{Provider: "brave"}, "", `"brave" needs an API key`},
		{"tavily_no_key", config.WebSearch{Provider: "tavily"}, "", `"tavily" needs an API key`},
		{"searxng_no_base", config.WebSearch{Provider: "searxng"}, "", "needs tools.web.search.baseUrl"},
		{"unknown", config.WebSearch{Provider: "bing"}, "k", `"bing" is unknown`},
		{"empty", config.WebSearch{}, "", "provider is empty"},
		{"plain_http_key", config.WebSearch{Provider: "brave", BaseURL: "http://proxy.example.com"}, testKey, "is plain http"},
		{"userinfo", config.WebSearch{Provider: "searxng", BaseURL: "https://u:p@searx.example.com"}, "", "must not hold a user name"},
		{"bad_scheme", config.WebSearch{Provider: "searxng", BaseURL: "ftp://searx.example.com"}, "", "must start with https://"},
		{"query", config.WebSearch{Provider: "searxng", BaseURL: "https://searx.example.com/?x=1"}, "", "query or fragment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewSearch(tt.cfg, tt.key, c)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewSearch = %v, want an error containing %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), testKey) {
				t.Errorf("error carries the key: %v", err)
			}
		})
	}
	if _, err := NewSearch(config.WebSearch{Provider: "searxng", BaseURL: "http://searx.lan:8080"}, "", nil); err == nil {
		t.Error("NewSearch with a nil client = nil error")
	}
	for _, ok := range []config.WebSearch{
		{Provider: "brave"}, {Provider: "tavily", BaseURL: "http://127.0.0.1:9"},
		{Provider: "searxng", BaseURL: "http://searx.lan:8080/"},
	} {
		if _, err := NewSearch(ok, testKey, c); err != nil {
			t.Errorf("NewSearch(%+v) = %v", ok, err)
		}
	}
}
