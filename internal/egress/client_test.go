package egress

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"
)

// wantRefused checks that err is a *RefusedError, of the given class when
// class is not empty, and returns it.
func wantRefused(t *testing.T, err error, class Class) *RefusedError {
	t.Helper()
	var re *RefusedError
	if !errors.As(err, &re) {
		t.Fatalf("error = %v (%T), want a *RefusedError", err, err)
	}
	if class != "" {
		var ae *AddrError
		if !errors.As(err, &ae) {
			t.Fatalf("error = %v, want an *AddrError of class %q inside", err, class)
		}
		if ae.Class != class {
			t.Errorf("class = %q (%v), want %q", ae.Class, err, class)
		}
	}
	return re
}

func TestFetch_refuses(t *testing.T) {
	target := newServer(t, text("secret internal page"))
	port := target.port()
	tests := []struct {
		name  string
		url   string
		opts  func(o *Options)
		class Class // "" when the refusal is not about an address
		want  string
	}{
		{"metadata", "http://169.254.169.254/latest/meta-data/", nil, ClassMetadata, "cloud metadata"},
		{"metadata_mapped", "http://[::ffff:169.254.169.254]/", nil, ClassMetadata, "IPv4-mapped"},
		{"loopback_server_running", target.at("127.0.0.1", "/"), nil, ClassLoopback, "loopback"},
		{"loopback_v6", fmt.Sprintf("http://[::1]:%d/", port), nil, ClassLoopback, "loopback"},
		{"unspecified", fmt.Sprintf("http://0.0.0.0:%d/", port), nil, ClassUnspecified, "unspecified"},
		{"private", "http://10.0.0.1/", nil, ClassPrivate, "10.0.0.1 is a private address"},
		{"mapped_private", "http://[::ffff:10.0.0.1]/", nil, ClassPrivate, "IPv4-mapped 10.0.0.1"},
		{"nat64_loopback", "http://[64:ff9b::7f00:1]/", nil, ClassLoopback, "NAT64 127.0.0.1"},
		{"name_private", "http://private.test/", nil, ClassPrivate, "private.test resolves to 10.0.0.1"},
		{"name_loopback", target.at("loopback.test", "/"), nil, ClassLoopback, "loopback.test resolves to 127.0.0.1"},
		{"name_public_and_private", "http://mixed.test/", nil, ClassPrivate, "mixed.test resolves to 10.0.0.1"},
		{"name_metadata", "http://metadata.test/", nil, ClassMetadata, "metadata.test resolves to 169.254.169.254"},
		{"metadata_despite_allow_all", "http://169.254.169.254/", func(o *Options) {
			o.AllowPrivate = prefixes("0.0.0.0/0", "::/0")
		}, ClassMetadata, "cloud metadata"},
		{"link_local_despite_allow_all", "http://linklocal.test/", func(o *Options) {
			o.AllowPrivate = prefixes("0.0.0.0/0", "::/0")
			o.AllowHosts = []string{"linklocal.test"}
		}, ClassLinkLocal, "link-local"},
		{"decimal", fmt.Sprintf("http://2130706433:%d/", port), nil, ClassInvalid, "ends in a number"},
		{"hex", fmt.Sprintf("http://0x7f.1:%d/", port), nil, ClassInvalid, "ends in a number"},
		{"octal", fmt.Sprintf("http://017700000001:%d/", port), nil, ClassInvalid, "ends in a number"},
		{"octal_dotted", fmt.Sprintf("http://0177.0.0.1:%d/", port), nil, ClassInvalid, "ends in a number"},
		{"short", fmt.Sprintf("http://127.1:%d/", port), nil, ClassInvalid, "ends in a number"},
		{"userinfo", fmt.Sprintf("http://user:hunter2@allowed.test:%d/", port), nil, "", "user name or password"},
		{"file", "file:///etc/passwd", nil, "", `scheme "file"`},
		{"gopher", fmt.Sprintf("gopher://127.0.0.1:%d/_GET", port), nil, "", `scheme "gopher"`},
		{"no_host", "http:///etc/passwd", nil, "", "no host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newTestNet(t, map[string]string{
				"private.test":   "10.0.0.1",
				"loopback.test":  "127.0.0.1",
				"mixed.test":     "93.184.215.14,10.0.0.1",
				"metadata.test":  "169.254.169.254",
				"linklocal.test": "169.254.7.7",
				"allowed.test":   "127.0.0.1",
			})
			o := n.options()
			if tt.opts != nil {
				tt.opts(&o)
			}
			before := target.hitCount()
			resp, err := New(o).Fetch(context.Background(), tt.url)
			if err == nil {
				t.Fatalf("Fetch(%s) = %d %q, want a refusal", tt.url, resp.Status, resp.Body)
			}
			re := wantRefused(t, err, tt.class)
			if re.Redirect {
				t.Errorf("Redirect = true for a direct fetch")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q carries the URL's password", err)
			}
			if d := n.dialed(); len(d) != 0 {
				t.Errorf("dialed %v, want no dial", d)
			}
			if target.hitCount() != before {
				t.Error("the loopback server was reached")
			}
		})
	}
}

func TestFetch_numeric_hosts_never_resolved(t *testing.T) {
	n := newTestNet(t, nil)
	c := New(n.options())
	for _, u := range []string{"http://2130706433/", "http://0x7f.1/", "http://017700000001/", "http://127.0.0.1./"} {
		if _, err := c.Fetch(context.Background(), u); err == nil {
			t.Errorf("Fetch(%s) = nil error, want a refusal", u)
		}
	}
	if l := n.lookedUp(); len(l) != 0 {
		t.Errorf("looked up %v, want no lookups for numeric hosts", l)
	}
}

func TestFetch_fullwidth_digits_refused_at_dial(t *testing.T) {
	// url.Parse keeps the host as written; net/http maps it to ASCII
	// (IDNA) before dialing, giving 127.0.0.1, which the dialer refuses.
	target := newServer(t, text("internal"))
	n := newTestNet(t, nil)
	_, err := New(n.options()).Fetch(context.Background(), fmt.Sprintf("http://１２７.０.０.１:%d/", target.port()))
	if err == nil {
		t.Fatal("Fetch(fullwidth 127.0.0.1) = nil error, want a refusal")
	}
	if d := n.dialed(); len(d) != 0 || target.hitCount() != 0 {
		t.Errorf("dialed %v (%d hits), want nothing", d, target.hitCount())
	}
}

func TestFetch_allowPrivate(t *testing.T) {
	target := newServer(t, text("lan wiki"))
	n := newTestNet(t, map[string]string{"wiki.test": "127.0.0.1"})
	o := n.options()
	o.AllowPrivate = prefixes("127.0.0.0/8")
	c := New(o)
	for _, u := range []string{target.at("127.0.0.1", "/"), target.at("wiki.test", "/")} {
		resp, err := c.Fetch(context.Background(), u)
		if err != nil {
			t.Fatalf("Fetch(%s): %v", u, err)
		}
		if resp.Status != 200 || string(resp.Body) != "lan wiki" || resp.Truncated {
			t.Errorf("Fetch(%s) = %d %q truncated=%v, want 200 \"lan wiki\"", u, resp.Status, resp.Body, resp.Truncated)
		}
		if resp.URL != u {
			t.Errorf("URL = %q, want %q", resp.URL, u)
		}
	}
}

func TestFetch_allowHosts(t *testing.T) {
	target := newServer(t, text("searx"))
	n := newTestNet(t, map[string]string{"searx.test": "127.0.0.1", "other.test": "127.0.0.1"})
	o := n.options()
	o.AllowHosts = []string{"SEARX.test."}
	c := New(o)
	if _, err := c.Fetch(context.Background(), target.at("searx.test", "/")); err != nil {
		t.Fatalf("Fetch(allowed host): %v", err)
	}
	for _, u := range []string{target.at("other.test", "/"), target.at("127.0.0.1", "/")} {
		_, err := c.Fetch(context.Background(), u)
		wantRefused(t, err, ClassLoopback)
	}
}

func TestFetch_redirect_refused(t *testing.T) {
	other := newServer(t, text("other internal service"))
	tests := []struct {
		name  string
		to    string
		class Class
		want  string
	}{
		{"metadata", "http://169.254.169.254/latest/meta-data/iam/", ClassMetadata, "redirect to http://169.254.169.254/latest/meta-data/iam/ refused: 169.254.169.254 is a cloud metadata address"},
		{"private_literal", "http://10.0.0.1/", ClassPrivate, "redirect to http://10.0.0.1/ refused: 10.0.0.1 is a private address"},
		{"mapped", "http://[::ffff:10.0.0.1]/", ClassPrivate, "IPv4-mapped 10.0.0.1"},
		{"name_private", "http://private.test/admin", ClassPrivate, "redirect to http://private.test/admin refused: private.test resolves to 10.0.0.1"},
		{"loopback_other_port", other.at("127.0.0.1", "/"), ClassLoopback, "127.0.0.1 is a loopback address"},
		{"localhost_name", other.at("localhost.test", "/"), ClassLoopback, "localhost.test resolves to 127.0.0.1"},
		{"decimal", "http://2130706433/", ClassInvalid, "ends in a number"},
		{"file", "file:///etc/passwd", "", `redirect to file:///etc/passwd refused: scheme "file"`},
		{"gopher", "gopher://127.0.0.1:6379/_FLUSHALL", "", `scheme "gopher"`},
		{"userinfo", fmt.Sprintf("http://u:p@start.test:%d/", other.port()), "", "user name or password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := newServer(t, redirector())
			n := newTestNet(t, map[string]string{
				"start.test":     "127.0.0.1",
				"private.test":   "10.0.0.1",
				"localhost.test": "127.0.0.1",
			})
			o := n.options()
			o.AllowHosts = []string{"start.test"}
			o.MaxRedirects = 5
			from := start.at("start.test", "/to?u="+url.QueryEscape(tt.to))
			resp, err := New(o).Fetch(context.Background(), from)
			if err == nil {
				t.Fatalf("Fetch = %d %q, want a refusal", resp.Status, resp.Body)
			}
			re := wantRefused(t, err, tt.class)
			if !re.Redirect {
				t.Errorf("Redirect = false, want true (%v)", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want it to contain %q", err, tt.want)
			}
			if d := n.dialed(); len(d) != 1 {
				t.Errorf("dialed %v, want only the first server", d)
			}
			if other.hitCount() != 0 {
				t.Error("the other loopback server was reached")
			}
		})
	}
}

func TestFetch_redirect_to_allowed(t *testing.T) {
	other := newServer(t, text("other"))
	start := newServer(t, redirector())
	n := newTestNet(t, nil)
	o := n.options()
	o.AllowPrivate = prefixes("127.0.0.0/8")
	o.MaxRedirects = 1
	to := other.at("127.0.0.1", "/page")
	resp, err := New(o).Fetch(context.Background(), start.at("127.0.0.1", "/to?u="+url.QueryEscape(to)))
	if err != nil {
		t.Fatal(err)
	}
	if string(resp.Body) != "other" || resp.URL != to {
		t.Errorf("Fetch = %q at %s, want \"other\" at %s", resp.Body, resp.URL, to)
	}
	// The same redirect is refused when only the first host is allowed.
	n2 := newTestNet(t, map[string]string{"start.test": "127.0.0.1"})
	o2 := n2.options()
	o2.AllowHosts = []string{"start.test"}
	o2.MaxRedirects = 1
	_, err = New(o2).Fetch(context.Background(), start.at("start.test", "/to?u="+url.QueryEscape(to)))
	wantRefused(t, err, ClassLoopback)
}

func TestFetch_redirect_limits(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/loop":
			http.Redirect(w, r, "/loop2", http.StatusFound)
		case "/loop2":
			http.Redirect(w, r, "/loop", http.StatusMovedPermanently)
		case "/chain":
			var i int
			fmt.Sscan(r.URL.Query().Get("i"), &i)
			if i < 3 {
				http.Redirect(w, r, fmt.Sprintf("/chain?i=%d", i+1), http.StatusFound)
				return
			}
			fmt.Fprint(w, "end of chain")
		}
	})
	tests := []struct {
		name    string
		path    string
		max     int
		wantErr error
		want    string
	}{
		{"loop", "/loop", 10, ErrRedirectLoop, "already visited"},
		{"too_many", "/chain", 2, ErrRedirectLimit, "over the limit of 2"},
		{"off", "/chain", 0, ErrRedirectLimit, "redirects are off"},
		{"within_limit", "/chain", 3, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newTestNet(t, nil)
			o := n.options()
			o.AllowPrivate = prefixes("127.0.0.1/32")
			o.MaxRedirects = tt.max
			resp, err := New(o).Fetch(context.Background(), srv.at("127.0.0.1", tt.path))
			if tt.wantErr == nil {
				if err != nil || string(resp.Body) != "end of chain" {
					t.Fatalf("Fetch = %v, %v; want the end of the chain", resp, err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want %v containing %q", err, tt.wantErr, tt.want)
			}
		})
	}
}

func TestFetch_body_cap(t *testing.T) {
	big := strings.Repeat("0123456789", 1000)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/gzip" {
			w.Header().Set("Content-Encoding", "gzip")
			gz := gzip.NewWriter(w)
			gz.Write(bytes.Repeat([]byte{'a'}, 1<<20)) // 1 MiB, about 1 KiB compressed
			gz.Close()
			return
		}
		fmt.Fprint(w, big)
	})
	tests := []struct {
		name      string
		path      string
		max       int64
		wantLen   int
		truncated bool
	}{
		{"over", "/", 1024, 1024, true},
		{"exact", "/", int64(len(big)), len(big), false},
		{"under", "/", 1 << 20, len(big), false},
		{"gzip_counts_decompressed", "/gzip", 4096, 4096, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newTestNet(t, nil)
			o := n.options()
			o.AllowPrivate = prefixes("127.0.0.1/32")
			o.MaxBytes = tt.max
			resp, err := New(o).Fetch(context.Background(), srv.at("127.0.0.1", tt.path))
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Body) != tt.wantLen || resp.Truncated != tt.truncated {
				t.Errorf("body %d bytes, truncated=%v; want %d, %v", len(resp.Body), resp.Truncated, tt.wantLen, tt.truncated)
			}
		})
	}
}

func TestFetch_timeout(t *testing.T) {
	release := make(chan struct{})
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/body" {
			w.WriteHeader(200)
			fmt.Fprint(w, "start")
			w.(http.Flusher).Flush()
		}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release) // before the server's Close, which waits for handlers
	for _, path := range []string{"/headers", "/body"} {
		t.Run(strings.TrimPrefix(path, "/"), func(t *testing.T) {
			n := newTestNet(t, nil)
			o := n.options()
			o.AllowPrivate = prefixes("127.0.0.1/32")
			o.Timeout = 200 * time.Millisecond
			begin := time.Now()
			_, err := New(o).Fetch(context.Background(), srv.at("127.0.0.1", path))
			if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "within 200ms") {
				t.Errorf("error = %v, want ErrTimeout saying 200ms", err)
			}
			if d := time.Since(begin); d > 5*time.Second {
				t.Errorf("took %v, want about 200ms", d)
			}
		})
	}
}

func TestFetch_caller_cancel_is_not_a_timeout(t *testing.T) {
	n := newTestNet(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := New(n.options()).Fetch(ctx, "http://example.test/")
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
		t.Errorf("error = %v, want context.Canceled", err)
	}
}

func TestFetch_header_cap(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Big", strings.Repeat("x", MaxHeaderBytes+1))
		fmt.Fprint(w, "ok")
	})
	n := newTestNet(t, nil)
	o := n.options()
	o.AllowPrivate = prefixes("127.0.0.1/32")
	if _, err := New(o).Fetch(context.Background(), srv.at("127.0.0.1", "/")); err == nil {
		t.Error("Fetch with a huge header = nil error, want one")
	}
}

func TestFetch_headers_sent(t *testing.T) {
	var got http.Header
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
	})
	n := newTestNet(t, nil)
	o := n.options()
	o.AllowPrivate = prefixes("127.0.0.1/32")
	if _, err := New(o).Fetch(context.Background(), srv.at("127.0.0.1", "/")); err != nil {
		t.Fatal(err)
	}
	if ua := got.Get("User-Agent"); !strings.HasPrefix(ua, "Gatehouse/") {
		t.Errorf("User-Agent = %q, want Gatehouse/…", ua)
	}
	if ae := got.Get("Accept-Encoding"); ae != "gzip" {
		t.Errorf("Accept-Encoding = %q, want gzip (net/http's own)", ae)
	}
	if got.Get("Cookie") != "" || got.Get("Authorization") != "" {
		t.Errorf("sent credentials: %v", got)
	}
}

func TestFetch_ignores_proxy_environment(t *testing.T) {
	proxy := newServer(t, text("proxied"))
	target := newServer(t, text("direct"))
	for _, k := range []string{"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"} {
		t.Setenv(k, proxy.URL)
	}
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")
	n := newTestNet(t, map[string]string{"site.test": "127.0.0.1"})
	o := n.options()
	o.AllowHosts = []string{"site.test"}
	resp, err := New(o).Fetch(context.Background(), target.at("site.test", "/"))
	if err != nil {
		t.Fatal(err)
	}
	if string(resp.Body) != "direct" || proxy.hitCount() != 0 {
		t.Errorf("body %q, proxy hits %d; want the direct answer and no proxy", resp.Body, proxy.hitCount())
	}
}

func TestDial_checks_every_connection(t *testing.T) {
	// DNS rebinding: the name is loopback (allowed) on the first lookup
	// and private on the next. Each connection resolves once and dials
	// the address it checked.
	srv := newServer(t, text("ok"))
	n := newTestNet(t, nil)
	calls := 0
	o := n.options()
	o.AllowPrivate = prefixes("127.0.0.0/8")
	o.Resolver = func(ctx context.Context, host string) ([]netip.Addr, error) {
		calls++
		if calls == 1 {
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
		}
		return []netip.Addr{netip.MustParseAddr("10.0.0.1")}, nil
	}
	c := New(o)
	if _, err := c.Fetch(context.Background(), srv.at("rebind.test", "/")); err != nil {
		t.Fatalf("first fetch: %v", err)
	}
	if d := n.dialed(); len(d) != 1 || !strings.HasPrefix(d[0], "127.0.0.1:") {
		t.Errorf("dialed %v, want the checked 127.0.0.1", d)
	}
	_, err := c.Fetch(context.Background(), srv.at("rebind.test", "/"))
	wantRefused(t, err, ClassPrivate)
	if calls != 2 {
		t.Errorf("resolver called %d times, want once per connection (2)", calls)
	}
	if d := n.dialed(); len(d) != 1 {
		t.Errorf("dialed %v, want no second dial", d)
	}
}

func TestDo_cross_origin_redirect(t *testing.T) {
	var seen http.Header
	b := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		seen = r.Header.Clone()
		fmt.Fprint(w, "b")
	})
	a := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/same":
			http.Redirect(w, r, "/end", http.StatusFound)
		case "/end":
			seen = r.Header.Clone()
		case "/cross":
			http.Redirect(w, r, b.at("b.test", "/"), http.StatusFound)
		case "/cross307":
			http.Redirect(w, r, b.at("b.test", "/"), http.StatusTemporaryRedirect)
		}
	})
	n := newTestNet(t, map[string]string{"a.test": "127.0.0.1", "b.test": "127.0.0.1"})
	o := n.options()
	o.AllowHosts = []string{"a.test", "b.test"}
	o.MaxRedirects = 3
	c := New(o)
	do := func(method, path string) (*Response, error) {
		req, err := http.NewRequest(method, a.at("a.test", path), strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Subscription-Token", "tok-123456")
		req.Header.Set("Accept", "application/json")
		return c.Do(req)
	}

	if _, err := do("GET", "/same"); err != nil {
		t.Fatal(err)
	}
	if seen.Get("X-Subscription-Token") != "tok-123456" {
		t.Errorf("same-origin redirect lost the caller's header: %v", seen)
	}
	seen = nil
	if _, err := do("GET", "/cross"); err != nil {
		t.Fatal(err)
	}
	if seen.Get("X-Subscription-Token") != "" || seen.Get("Accept") != "application/json" {
		t.Errorf("cross-origin redirect headers = %v, want the token dropped and Accept kept", seen)
	}
	seen = nil
	_, err := do("POST", "/cross307")
	re := wantRefused(t, err, "")
	if !re.Redirect || !strings.Contains(err.Error(), "body") || seen != nil {
		t.Errorf("POST redirected across origins: err %v, b saw %v", err, seen)
	}
}

func TestRefusal_logged(t *testing.T) {
	var buf bytes.Buffer
	n := newTestNet(t, nil)
	o := n.options()
	o.Logger = slog.New(slog.NewJSONHandler(&buf, nil))
	_, err := New(o).Fetch(context.Background(), "http://169.254.169.254/")
	wantRefused(t, err, ClassMetadata)
	if out := buf.String(); !strings.Contains(out, `"msg":"egress refused"`) || !strings.Contains(out, `"class":"cloud metadata"`) {
		t.Errorf("log = %s, want an egress refused line with the class", out)
	}
}

func TestNew_zero_options(t *testing.T) {
	c := New(Options{})
	if c.maxBytes != DefaultMaxBytes || c.timeout != DefaultTimeout || c.maxRedirects != 0 || len(c.allow) != 0 {
		t.Errorf("zero Options gave maxBytes %d, timeout %v, redirects %d, allow %v",
			c.maxBytes, c.timeout, c.maxRedirects, c.allow)
	}
	// A zero-Options client still refuses before any network use.
	_, err := c.Fetch(context.Background(), "http://127.0.0.1:1/")
	wantRefused(t, err, ClassLoopback)
}
