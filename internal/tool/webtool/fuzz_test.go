package webtool

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"gatehouse/internal/tool"
)

// FuzzFetchArgs feeds arbitrary bytes to web_fetch's argument decoder: it
// must never panic, and whatever it accepts has a URL of bounded length
// and a maxChars within the limits.
func FuzzFetchArgs(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `{"url":"https://example.com/"}`, `{"url":"http://169.254.169.254/","extractMode":"text"}`,
		`{"url":"https://example.com/","maxChars":100}`, `{"url":"https://example.com/","maxChars":1e9}`,
		`{"url":"https://example.com/","maxChars":-1}`, `{"url":"x","extractMode":"html"}`,
		`{"url":"x","url":"y"}`, `{"URL":"x"}`, `{"url":1}`, `{"url":"x","maxChars":1.5}`,
		`{"url":"x"} {}`, `[]`, `{"url":"\u0000"}`, `{"url":"x","maxChars":null}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := parseFetchArgs(json.RawMessage(raw), DefaultMaxChars)
		if err != nil {
			return
		}
		if len(raw) > tool.MaxArgsBytes {
			t.Fatalf("accepted %d bytes, over the cap", len(raw))
		}
		if r.url == "" || len(r.url) > maxURLLen || r.url != strings.TrimSpace(r.url) {
			t.Fatalf("accepted url %q", r.url)
		}
		if r.maxChars < MinChars || r.maxChars > MaxChars {
			t.Fatalf("accepted maxChars %d", r.maxChars)
		}
	})
}

// FuzzReadHTML checks that reading any decoded HTML, as markdown or as
// text, neither panics (readHTML would turn a panic into an error, which this
// reports) nor returns invalid UTF-8, and that a closed script's content
// never shows.
func FuzzReadHTML(f *testing.F) {
	for _, s := range []string{
		`<p>hi</p>`, `<pre>  x</pre>`, `<table><tr><td>a<td>b</table>`, `<ul><li>a<li><ol><li>b</ol></ul>`,
		`<svg><script>x</script></svg>`, `<template><p>x</template>`, `<a href="javascript:alert(1)">x</a>`,
		`<img src="data:image/png;base64,AAAA">`, `<h1>a<h2>b`, "\xff\xfe<p>\x00",
	} {
		f.Add(s)
	}
	conv := newConverter()
	f.Fuzz(func(t *testing.T, src string) {
		// As web_fetch does, decode first: readHTML gets valid UTF-8.
		doc := decode(kindHTML, "text/html; charset=utf-8", []byte("<body><script>GH_SCRIPT_MARK</script>"+src))
		for _, text := range []bool{true, false} {
			p, err := readHTML(t.Context(), conv, doc, "https://example.com/", text)
			if err != nil {
				if strings.Contains(err.Error(), "could not be converted (") {
					t.Fatalf("readHTML(%q, text=%v) panicked: %v", src, text, err)
				}
				continue
			}
			if !utf8.ValidString(p.content) || !utf8.ValidString(p.title) {
				t.Fatalf("readHTML(%q, text=%v) returned invalid UTF-8", src, text)
			}
			if strings.Contains(p.content, "GH_SCRIPT_MARK") && !strings.Contains(src, "GH_SCRIPT_MARK") {
				t.Fatalf("readHTML(%q, text=%v) shows script content: %q", src, text, p.content)
			}
		}
	})
}
