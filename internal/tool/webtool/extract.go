package webtool

import (
	"bytes"
	"context"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/JohannesKaufmann/html-to-markdown/v2/converter"
	"github.com/JohannesKaufmann/html-to-markdown/v2/plugin/base"
	"github.com/JohannesKaufmann/html-to-markdown/v2/plugin/commonmark"
	"github.com/JohannesKaufmann/html-to-markdown/v2/plugin/table"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
	"golang.org/x/net/html/charset"
)

// kind is how web_fetch reads a body.
type kind int

const (
	kindHTML kind = iota + 1
	kindText
)

// contentKind decides from the Content-Type (or, when there is none,
// from the body) whether a body is HTML, other text, or not text at all.
func contentKind(contentType string, body []byte) (kind, string, error) {
	if strings.TrimSpace(contentType) == "" {
		contentType = http.DetectContentType(body)
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt, _, _ = strings.Cut(contentType, ";")
		mt = strings.ToLower(strings.TrimSpace(mt))
	}
	switch {
	case mt == "text/html" || mt == "application/xhtml+xml":
		return kindHTML, mt, nil
	case strings.HasPrefix(mt, "text/"),
		mt == "application/json", mt == "application/xml",
		strings.HasSuffix(mt, "+json"), strings.HasSuffix(mt, "+xml"),
		mt == "application/javascript", mt == "application/ecmascript",
		mt == "application/yaml", mt == "application/x-yaml", mt == "application/toml":
		return kindText, mt, nil
	}
	return 0, mt, fmt.Errorf("content type %s is not text; web_fetch reads text pages only", mt)
}

// decode returns body as UTF-8: in the charset the Content-Type or a byte
// order mark names, or for HTML a <meta charset>; otherwise as UTF-8,
// with invalid bytes replaced by U+FFFD.
func decode(k kind, contentType string, body []byte) string {
	enc, name, certain := charset.DetermineEncoding(body, contentType)
	if !certain && (k != kindHTML || utf8.Valid(body)) {
		// Only HTML's <meta> prescan may override UTF-8, and only when the
		// body is not valid UTF-8 (the prescan reads the first 1 KiB).
		name = "utf-8"
	}
	if name != "utf-8" {
		if out, err := enc.NewDecoder().Bytes(body); err == nil {
			return string(out)
		}
	}
	return strings.ToValidUTF8(string(body), "\uFFFD")
}

// dropTags are elements whose content is never text for a reader, on top
// of those the base plugin removes (script, style, head, iframe, noscript,
// input, textarea, link, meta, comments).
var dropTags = []string{"svg", "template", "canvas", "object", "embed", "button", "select", "dialog"}

// newConverter returns an HTML-to-markdown converter for fetched pages.
func newConverter() *converter.Converter {
	conv := converter.NewConverter(converter.WithPlugins(
		base.NewBasePlugin(),
		commonmark.NewCommonmarkPlugin(),
		table.NewTablePlugin(),
	))
	for _, tag := range dropTags {
		conv.Register.TagType(tag, converter.TagTypeRemove, converter.PriorityStandard)
	}
	conv.Register.PreRenderer(func(_ converter.Context, doc *html.Node) { dropDataImages(doc) }, converter.PriorityEarly)
	return conv
}

// dropDataImages removes <img> elements with inline data: sources, which
// are noise to a model and can be megabytes long.
func dropDataImages(n *html.Node) {
	for c := n.FirstChild; c != nil; {
		next := c.NextSibling
		if c.Type == html.ElementNode && c.DataAtom == atom.Img &&
			strings.HasPrefix(strings.TrimSpace(strings.ToLower(attr(c, "src"))), "data:") {
			n.RemoveChild(c)
		} else {
			dropDataImages(c)
		}
		c = next
	}
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// page is an HTML page's readable content.
type page struct {
	title   string
	content string
}

// readHTML converts an HTML document to markdown, or to plain text when
// text is set. pageURL makes relative links absolute. A converter panic
// (on input nobody anticipated) is an error, not a crash.
func readHTML(ctx context.Context, conv *converter.Converter, src, pageURL string, text bool) (p page, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the page's HTML could not be converted (%v)", r)
		}
	}()
	doc, err := html.Parse(strings.NewReader(src))
	if err != nil {
		return page{}, fmt.Errorf("the page's HTML could not be parsed: %w", err)
	}
	p.title = collapseSpace(textOf(find(doc, atom.Title)))
	if text {
		p.content = plainText(doc)
		return p, nil
	}
	md, err := conv.ConvertNode(doc, converter.WithDomain(pageURL), converter.WithContext(ctx))
	if err != nil {
		return page{}, fmt.Errorf("the page's HTML could not be converted: %w", err)
	}
	p.content = string(bytes.TrimSpace(md))
	return p, nil
}

// find returns the first element a in n's tree, or nil.
func find(n *html.Node, a atom.Atom) *html.Node {
	if n.Type == html.ElementNode && n.DataAtom == a {
		return n
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if f := find(c, a); f != nil {
			return f
		}
	}
	return nil
}

// textOf is the concatenated text under n.
func textOf(n *html.Node) string {
	if n == nil {
		return ""
	}
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}

func collapseSpace(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// skipText are elements whose text a reader never sees.
var skipText = map[atom.Atom]bool{
	atom.Head: true, atom.Script: true, atom.Style: true, atom.Noscript: true, atom.Template: true,
	atom.Svg: true, atom.Iframe: true, atom.Object: true, atom.Embed: true, atom.Canvas: true,
	atom.Button: true, atom.Select: true, atom.Textarea: true, atom.Input: true, atom.Dialog: true,
}

// blockText are elements that start and end a line of text.
var blockText = map[atom.Atom]bool{
	atom.Address: true, atom.Article: true, atom.Aside: true, atom.Blockquote: true, atom.Dd: true,
	atom.Details: true, atom.Div: true, atom.Dl: true, atom.Dt: true, atom.Figcaption: true,
	atom.Figure: true, atom.Footer: true, atom.Form: true, atom.H1: true, atom.H2: true, atom.H3: true,
	atom.H4: true, atom.H5: true, atom.H6: true, atom.Header: true, atom.Hr: true, atom.Li: true,
	atom.Main: true, atom.Nav: true, atom.Ol: true, atom.P: true, atom.Pre: true, atom.Section: true,
	atom.Summary: true, atom.Table: true, atom.Tr: true, atom.Ul: true, atom.Caption: true,
}

// paragraphText are the blocks set apart by a blank line.
var paragraphText = map[atom.Atom]bool{
	atom.Blockquote: true, atom.H1: true, atom.H2: true, atom.H3: true, atom.H4: true, atom.H5: true,
	atom.H6: true, atom.Ol: true, atom.P: true, atom.Pre: true, atom.Table: true, atom.Ul: true,
}

// plainText renders a document as plain text: text of visible elements,
// whitespace collapsed except inside <pre>, one line per block, a blank
// line around paragraphs, headings, lists, tables and preformatted text,
// table cells separated by tabs.
func plainText(doc *html.Node) string {
	var b strings.Builder
	newline := func() {
		if s := b.String(); s != "" && !strings.HasSuffix(s, "\n") {
			b.WriteByte('\n')
		}
	}
	blankLine := func() {
		newline()
		if s := b.String(); s != "" && !strings.HasSuffix(s, "\n\n") {
			b.WriteByte('\n')
		}
	}
	var walk func(n *html.Node, pre bool)
	walk = func(n *html.Node, pre bool) {
		switch n.Type {
		case html.TextNode:
			if pre {
				b.WriteString(n.Data)
				return
			}
			// Collapse whitespace as a browser does: a run of it is one
			// space, and none at the start of a line.
			s := b.String()
			atBreak := s == "" || strings.HasSuffix(s, " ") || strings.HasSuffix(s, "\n") || strings.HasSuffix(s, "\t")
			t := strings.Join(strings.Fields(n.Data), " ")
			if t == "" {
				if n.Data != "" && !atBreak {
					b.WriteByte(' ')
				}
				return
			}
			if isSpace(n.Data[0]) && !atBreak {
				b.WriteByte(' ')
			}
			b.WriteString(t)
			if isSpace(n.Data[len(n.Data)-1]) {
				b.WriteByte(' ')
			}
			return
		case html.ElementNode:
			if skipText[n.DataAtom] {
				return
			}
			switch n.DataAtom {
			case atom.Br:
				b.WriteByte('\n')
				return
			case atom.Td, atom.Th:
				if n.PrevSibling != nil {
					b.WriteByte('\t')
				}
			case atom.Pre:
				pre = true
			}
			if paragraphText[n.DataAtom] {
				blankLine()
			}
			if blockText[n.DataAtom] {
				newline()
				if n.DataAtom == atom.Li {
					b.WriteString("- ")
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, pre)
		}
		if n.Type == html.ElementNode && blockText[n.DataAtom] {
			newline()
		}
		if n.Type == html.ElementNode && paragraphText[n.DataAtom] {
			blankLine()
		}
	}
	walk(doc, false)
	return tidyLines(b.String())
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'
}

// tidyLines trims trailing space from each line and keeps at most one
// blank line in a row.
func tidyLines(s string) string {
	lines := strings.Split(s, "\n")
	out := lines[:0]
	blank := 0
	for _, l := range lines {
		l = strings.TrimRight(l, " \t\r")
		if l == "" {
			blank++
			if blank > 1 || len(out) == 0 {
				continue
			}
		} else {
			blank = 0
		}
		out = append(out, l)
	}
	return strings.TrimSpace(strings.Join(out, "\n"))
}
