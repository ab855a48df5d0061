package webtool

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/egress"
)

// site serves testdata/page.html at /page and small bodies elsewhere.
func site(t *testing.T) *server {
	t.Helper()
	page, err := os.ReadFile("testdata/page.html")
	if err != nil {
		t.Fatal(err)
	}
	return newServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/page":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write(page)
		case "/to":
			w.Header().Set("Location", r.URL.Query().Get("u"))
			w.WriteHeader(http.StatusFound)
		case "/missing":
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, "<html><body><h1>Not here</h1><p>Try the <a href='/'>home page</a>.</p></body></html>")
		case "/raw":
			w.Header().Set("Content-Type", r.URL.Query().Get("type"))
			fmt.Fprint(w, r.URL.Query().Get("body"))
		case "/stall":
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		default:
			w.Header().Set("Content-Type", "text/plain")
			fmt.Fprint(w, "home")
		}
	})
}

// fetchTool returns web_fetch on a client that may reach only site.test
// (127.0.0.1) among private addresses.
func fetchTool(t *testing.T, n *testNet, change func(o *egress.Options), opts ...FetchOption) *Fetch {
	o := n.options()
	o.AllowHosts = []string{"site.test"}
	o.MaxRedirects = 5
	if change != nil {
		change(&o)
	}
	return NewFetch(egress.New(o), opts...)
}

func TestFetch_markdown(t *testing.T) {
	srv := site(t)
	n := newTestNet(t, map[string]string{"site.test": "127.0.0.1"})
	u := srv.at("site.test", "/page")
	res := run(t, fetchTool(t, n, nil), map[string]any{"url": u})
	if res.IsError {
		t.Fatalf("IsError: %s", res.Text)
	}
	base := srv.at("site.test", "")
	for _, want := range []string{
		"URL: " + u + "\n",
		"Status: 200 OK\n",
		"Content-Type: text/html\n",
		"Title: Gophers & Goroutines — The Field Guide\n",
		"# Gophers in the wild",
		"## Habits",
		"The **gopher** is a burrowing rodent, and also the *Go mascot*.",
		"[concurrency guide](" + base + "/guides/concurrency?lang=en)",
		"[About](https://elsewhere.example/about)",
		"![A gopher](" + base + "/img/gopher.png)",
		"- Digs tunnels",
		"| Species", "| Go gopher", "∞",
		"```\ngo func() {\n    fmt.Println(\"hello\")\n}()\n```",
		"© 2026 Field Guides.",
	} {
		if !strings.Contains(res.Text, want) {
			t.Errorf("output lacks %q:\n%s", want, res.Text)
		}
	}
	for _, noise := range []string{"alert(", "dataLayer", "font-family", "data:image", "iVBOR", "svg-noise",
		"noscript-noise", "input-noise", "button-noise", "site.css", "<"} {
		if strings.Contains(res.Text, noise) {
			t.Errorf("output holds %q:\n%s", noise, res.Text)
		}
	}
}

func TestFetch_text(t *testing.T) {
	srv := site(t)
	n := newTestNet(t, map[string]string{"site.test": "127.0.0.1"})
	res := run(t, fetchTool(t, n, nil), map[string]any{"url": srv.at("site.test", "/page"), "extractMode": "text"})
	if res.IsError {
		t.Fatalf("IsError: %s", res.Text)
	}
	for _, want := range []string{
		"Title: Gophers & Goroutines — The Field Guide",
		"\nGophers in the wild\n",
		"The gopher is a burrowing rodent, and also the Go mascot. Read the concurrency guide next.",
		"- Digs tunnels\n- Runs many goroutines at once",
		"Pocket gopher\t15",
		"go func() {\n    fmt.Println(\"hello\")\n}()",
	} {
		if !strings.Contains(res.Text, want) {
			t.Errorf("output lacks %q:\n%s", want, res.Text)
		}
	}
	for _, noise := range []string{"alert(", "font-family", "svg-noise", "noscript-noise", "input-noise", "button-noise",
		"**", "](", "# ", "\n\n\n"} {
		if strings.Contains(res.Text, noise) {
			t.Errorf("output holds %q:\n%s", noise, res.Text)
		}
	}
}

func TestFetch_content_types(t *testing.T) {
	srv := site(t)
	tests := []struct {
		name    string
		ctype   string
		body    string
		isError bool
		want    string
	}{
		{"plain", "text/plain; charset=utf-8", "just text", false, "\n\njust text"},
		{"markdown", "text/markdown", "# Title\n\n*kept as is*", false, "\n\n# Title\n\n*kept as is*"},
		{"json", "application/json", `{"a":[1,2]}`, false, "Content-Type: application/json\n\n{\"a\":[1,2]}"},
		{"xml", "application/xml", "<a><b>x</b></a>", false, "\n\n<a><b>x</b></a>"},
		{"rss", "application/rss+xml", "<rss/>", false, "\n\n<rss/>"},
		{"csv", "text/csv", "a,b\n1,2", false, "\n\na,b\n1,2"},
		{"latin1", "text/plain; charset=iso-8859-1", "caf\xe9", false, "\n\ncafé"},
		{"invalid_utf8", "text/plain", "bad \xff byte", false, "bad \uFFFD byte"},
		{"sniffed_html", "", "<html><body><h1>Sniffed</h1></body></html>", false, "# Sniffed"},
		{"png", "image/png", "\x89PNG\r\n\x1a\n", true, "content type image/png is not text; web_fetch reads text pages only"},
		{"pdf", "application/pdf", "%PDF-1.7", true, "content type application/pdf is not text"},
		{"octet", "application/octet-stream", "abc", true, "content type application/octet-stream is not text"},
		{"binary_as_text", "text/plain", "ab\x00cd", true, "holds binary data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newTestNet(t, map[string]string{"site.test": "127.0.0.1"})
			q := url.Values{"type": {tt.ctype}, "body": {tt.body}}
			res := run(t, fetchTool(t, n, nil), map[string]any{"url": srv.at("site.test", "/raw?"+q.Encode())})
			if res.IsError != tt.isError || !strings.Contains(res.Text, tt.want) {
				t.Errorf("IsError=%v %q\nwant IsError=%v containing %q", res.IsError, res.Text, tt.isError, tt.want)
			}
		})
	}
}

func TestFetch_caps(t *testing.T) {
	long := strings.Repeat("abcdefghij", 1000) // 10,000 characters
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, long)
	})
	u := srv.at("site.test", "/")
	tests := []struct {
		name     string
		args     map[string]any
		maxBytes int64
		opts     []FetchOption
		wantLen  int
		want     []string
	}{
		{"max_chars", map[string]any{"url": u, "maxChars": 100}, 0, nil, 100,
			[]string{"Note: content cut at 100 of 10000 characters; ask with a larger maxChars (up to 200000) for more."}},
		{"max_chars_clamped", map[string]any{"url": u, "maxChars": 10_000_000}, 0, nil, 10_000, nil},
		{"default_option", map[string]any{"url": u}, 0, []FetchOption{WithDefaultMaxChars(500)}, 500,
			[]string{"cut at 500 of 10000"}},
		{"body_cap", map[string]any{"url": u}, 1024, nil, 1024,
			[]string{"Note: the page is larger than the fetch limit (1024 bytes); only its beginning was read."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newTestNet(t, map[string]string{"site.test": "127.0.0.1"})
			f := fetchTool(t, n, func(o *egress.Options) { o.MaxBytes = tt.maxBytes }, tt.opts...)
			res := run(t, f, tt.args)
			if res.IsError {
				t.Fatalf("IsError: %s", res.Text)
			}
			_, content, _ := strings.Cut(res.Text, "\n\n")
			if len(content) != tt.wantLen {
				t.Errorf("content is %d characters, want %d", len(content), tt.wantLen)
			}
			for _, w := range tt.want {
				if !strings.Contains(res.Text, w) {
					t.Errorf("output lacks %q:\n%.300s", w, res.Text)
				}
			}
		})
	}
}

func TestFetch_http_error(t *testing.T) {
	srv := site(t)
	n := newTestNet(t, map[string]string{"site.test": "127.0.0.1"})
	res := run(t, fetchTool(t, n, nil), map[string]any{"url": srv.at("site.test", "/missing")})
	if !res.IsError || !strings.Contains(res.Text, "answered HTTP 404 Not Found") || !strings.Contains(res.Text, "# Not here") {
		t.Errorf("result = %v %q, want an error with the status and the page's text", res.IsError, res.Text)
	}
}

func TestFetch_timeout(t *testing.T) {
	srv := site(t)
	n := newTestNet(t, map[string]string{"site.test": "127.0.0.1"})
	f := fetchTool(t, n, func(o *egress.Options) { o.Timeout = 200 * time.Millisecond })
	res := run(t, f, map[string]any{"url": srv.at("site.test", "/stall")})
	if !res.IsError || !strings.Contains(res.Text, "no complete response within 200ms") ||
		!strings.Contains(res.Text, "tools.web.fetch.timeoutSeconds") {
		t.Errorf("result = %v %q, want a timeout error", res.IsError, res.Text)
	}
}

func TestFetch_ssrf(t *testing.T) {
	srv := site(t)
	internal := newServer(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "internal secret") })
	via := func(to string) string { return srv.at("site.test", "/to?u="+url.QueryEscape(to)) }
	tests := []struct {
		name string
		url  string
		want []string
	}{
		{"metadata", "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
			[]string{"refused: 169.254.169.254 is a cloud metadata address", "never reachable"}},
		{"loopback", internal.at("127.0.0.1", "/"),
			[]string{"refused: 127.0.0.1 is a loopback address", "tools.web.fetch.allowPrivate"}},
		{"private", "http://10.0.0.1/", []string{"refused: 10.0.0.1 is a private address", "tools.web.fetch.allowPrivate"}},
		{"name_private", "http://intranet.test/", []string{"intranet.test resolves to 10.0.0.1, a private address"}},
		{"name_loopback", internal.at("localhost.test", "/"), []string{"localhost.test resolves to 127.0.0.1"}},
		{"mapped", "http://[::ffff:169.254.169.254]/", []string{"cloud metadata", "IPv4-mapped"}},
		{"decimal", "http://2130706433/", []string{"ends in a number"}},
		{"file", "file:///etc/passwd", []string{`scheme "file" is not allowed`}},
		{"redirect_metadata", via("http://169.254.169.254/latest/meta-data/"),
			[]string{"redirect to http://169.254.169.254/latest/meta-data/ refused: 169.254.169.254 is a cloud metadata address"}},
		{"redirect_loopback", via(internal.at("127.0.0.1", "/")),
			[]string{"redirect to " + internal.at("127.0.0.1", "/") + " refused: 127.0.0.1 is a loopback address"}},
		{"redirect_private", via("http://10.0.0.1/"), []string{"redirect to http://10.0.0.1/ refused: 10.0.0.1 is a private address"}},
		{"redirect_name_private", via("http://intranet.test/"), []string{"redirect to http://intranet.test/ refused: intranet.test resolves to 10.0.0.1"}},
		{"redirect_file", via("file:///etc/passwd"), []string{`redirect to file:///etc/passwd refused: scheme "file"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newTestNet(t, map[string]string{
				"site.test":      "127.0.0.1",
				"intranet.test":  "10.0.0.1",
				"localhost.test": "127.0.0.1",
			})
			res := run(t, fetchTool(t, n, nil), map[string]any{"url": tt.url})
			if !res.IsError {
				t.Fatalf("fetched %s: %q", tt.url, res.Text)
			}
			for _, w := range tt.want {
				if !strings.Contains(res.Text, w) {
					t.Errorf("result %q lacks %q", res.Text, w)
				}
			}
			if internal.hitCount() != 0 || strings.Contains(res.Text, "internal secret") {
				t.Error("the internal server was reached")
			}
			for _, d := range n.dialed() {
				if d != "127.0.0.1:"+srv.port() {
					t.Errorf("dialed %s; only site.test may be dialed", d)
				}
			}
		})
	}
}

func TestFetch_args(t *testing.T) {
	n := newTestNet(t, nil)
	f := fetchTool(t, n, nil)
	tests := []struct {
		name string
		args string
		want string
	}{
		{"empty", `{}`, `argument "url" is required`},
		{"blank_url", `{"url":"  "}`, `argument "url" is required`},
		{"long_url", `{"url":"http://x.test/` + strings.Repeat("a", maxURLLen) + `"}`, "over the limit"},
		{"mode", `{"url":"http://x.test/","extractMode":"pdf"}`, `use "markdown" or "text"`},
		{"max_chars_small", `{"url":"http://x.test/","maxChars":5}`, `argument "maxChars" is 5: use 100 to 200000`},
		{"max_chars_type", `{"url":"http://x.test/","maxChars":"lots"}`, `argument "maxChars" must be a int`},
		{"unknown", `{"url":"http://x.test/","headers":{}}`, `unknown argument "headers"`},
		{"relative", `{"url":"example.com/page"}`, "not an absolute URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := run(t, f, json.RawMessage(tt.args))
			if !res.IsError || !strings.Contains(res.Text, tt.want) {
				t.Errorf("result = %v %q, want an error containing %q", res.IsError, res.Text, tt.want)
			}
		})
	}
	if d := n.dialed(); len(d) != 0 {
		t.Errorf("dialed %v for bad arguments", d)
	}
}

func TestFetch_spec(t *testing.T) {
	spec := NewFetch(egress.New(egress.Options{})).Spec()
	var schema struct {
		Type       string                     `json:"type"`
		Properties map[string]json.RawMessage `json:"properties"`
		Required   []string                   `json:"required"`
	}
	if err := json.Unmarshal(spec.Parameters, &schema); err != nil {
		t.Fatalf("parameters are not JSON: %v", err)
	}
	if spec.Name != "web_fetch" || schema.Type != "object" || len(schema.Properties) != 3 ||
		len(schema.Required) != 1 || schema.Required[0] != "url" {
		t.Errorf("spec = %s %s", spec.Name, spec.Parameters)
	}
}
