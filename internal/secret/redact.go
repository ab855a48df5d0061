package secret

import (
	"encoding/json"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Redacted is what a redacted value is replaced with.
const Redacted = "[redacted]"

// minValueLen is the shortest value Add accepts: redacting shorter ones
// would mangle ordinary words, and a secret that short protects nothing.
const minValueLen = 6

// A pattern is one family of credential shapes. The capturing groups of a
// match are exactly the text to redact, so "Bearer " and "token=" stay
// readable; every other group is non-capturing.
//
// Go's regexp engine takes microseconds per byte on an unanchored
// alternation of many patterns (about 100µs for an 80-byte log line with
// all of these combined), so each family sits behind hint, a cheap literal
// pre-check that must hold for every string re matches (FuzzRedact checks
// that). Most log lines pass no hint and never reach a regexp.
type pattern struct {
	hint func(s string) bool
	re   *regexp.Regexp
}

// credentialPatterns are the credential shapes Redact knows without being
// told. The slice is never modified; it is compiled on first use, so that
// commands which never redact do not pay for it at start.
var credentialPatterns = sync.OnceValue(func() []pattern {
	return []pattern{
		{ // PEM private key blocks, whole; an unterminated one to the end.
			hint: func(s string) bool { return strings.Contains(s, "PRIVATE KEY-----") },
			re:   regexp.MustCompile(`(-----BEGIN[A-Z0-9 ]*PRIVATE KEY-----(?:[\s\S]*?-----END[A-Z0-9 ]*PRIVATE KEY-----|[\s\S]*))`),
		},
		{ // age identities.
			hint: func(s string) bool { return strings.Contains(s, "AGE-SECRET-KEY-1") },
			re:   regexp.MustCompile(`(AGE-SECRET-KEY-1[0-9A-Za-z]+)`),
		},
		{ // Bearer tokens, keeping the scheme word.
			hint: func(s string) bool { return containsFold(s, "bearer") },
			re:   regexp.MustCompile(`(?i:\bbearer)\s+([A-Za-z0-9\-._~+/]+=*)`),
		},
		{ // Basic credentials in an Authorization header.
			hint: func(s string) bool { return containsFold(s, "authorization") },
			re:   regexp.MustCompile(`(?i:\b(?:proxy-)?authorization\s*:\s*basic)\s+([A-Za-z0-9+/]+=*)`),
		},
		{ // OpenAI (sk-, sk-proj-, sk-svcacct-) and Anthropic (sk-ant-) keys.
			hint: func(s string) bool { return strings.Contains(s, "sk-") },
			re:   regexp.MustCompile(`\b(sk-[A-Za-z0-9_-]{20,})`),
		},
		{ // Slack bot, user, app and configuration tokens.
			hint: func(s string) bool { return strings.Contains(s, "xox") || strings.Contains(s, "xapp-") },
			re:   regexp.MustCompile(`\b(xox[abposr]-[A-Za-z0-9-]{10,}|xapp-[A-Za-z0-9-]{10,})`),
		},
		{ // Telegram bot tokens; no \b, so bot123:ABC… in API URLs matches.
			hint: func(s string) bool { return runAfter(s, ':', 30) },
			re:   regexp.MustCompile(`(\d{6,12}:[A-Za-z0-9_-]{30,})`),
		},
		{ // Discord bot tokens: base64url user id (starts M, N or O), timestamp, HMAC.
			hint: func(s string) bool { return runAfter(s, '.', 25) },
			re:   regexp.MustCompile(`\b([MNO][A-Za-z0-9_-]{20,30}\.[A-Za-z0-9_-]{5,8}\.[A-Za-z0-9_-]{25,})`),
		},
		{ // Google API keys.
			hint: func(s string) bool { return strings.Contains(s, "AIza") },
			re:   regexp.MustCompile(`(AIza[0-9A-Za-z_-]{35})`),
		},
		{ // GitHub tokens, classic and fine-grained.
			hint: func(s string) bool { return hasGitHubPrefix(s) },
			re:   regexp.MustCompile(`\b(gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})`),
		},
		{ // AWS access key ids, long-term and temporary.
			hint: func(s string) bool { return strings.Contains(s, "AKIA") || strings.Contains(s, "ASIA") },
			re:   regexp.MustCompile(`\b((?:AKIA|ASIA)[0-9A-Z]{16})\b`),
		},
		{ // Passwords in URLs: scheme://user:PASSWORD@host.
			hint: func(s string) bool {
				i := strings.Index(s, "://")
				return i >= 0 && strings.IndexByte(s[i:], '@') >= 0
			},
			re: regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:([^/\s@]+)@`),
		},
		{ // Query and form values: token=, access_token=, password=, secret=,
			// api_key=, apikey=. "max_tokens=" does not match: the name must end there.
			hint: func(s string) bool { return strings.IndexByte(s, '=') >= 0 && hasCredentialWord(s) },
			re:   regexp.MustCompile(`(?i:(?:token|password|passwd|secret|api[_-]?key)\s*=\s*)([^\s&"'<>]+)`),
		},
		{ // JSON string values under "token", "password", "apiKey" and their
			// variants ("access_token", "api_key", "clientSecret"). A bare
			// "secret" key is left alone: in config it names a store entry.
			hint: func(s string) bool { return strings.IndexByte(s, '"') >= 0 && hasCredentialWord(s) },
			re:   regexp.MustCompile(`(?i:"[A-Za-z0-9_-]*(?:token|password|passwd|api[_-]?key)"|"[A-Za-z0-9_-]+secret")\s*:\s*"((?:[^"\\]|\\.)*)"`),
		},
	}
})

// hasCredentialWord reports whether s holds, in any case, a word that the
// key=value and JSON patterns look for.
func hasCredentialWord(s string) bool {
	return containsFold(s, "token") || containsFold(s, "passw") || containsFold(s, "secret") ||
		containsFold(s, "apikey") || containsFold(s, "api_key") || containsFold(s, "api-key")
}

func hasGitHubPrefix(s string) bool {
	for i := strings.Index(s, "gh"); i >= 0; {
		if i+3 < len(s) && strings.IndexByte("pousr", s[i+2]) >= 0 && s[i+3] == '_' {
			return true
		}
		j := strings.Index(s[i+1:], "gh")
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return strings.Contains(s, "github_pat_")
}

// runAfter reports whether some sep in s is followed by at least n
// characters from [A-Za-z0-9_-].
func runAfter(s string, sep byte, n int) bool {
	for i := strings.IndexByte(s, sep); i >= 0; {
		run := 0
		for j := i + 1; j < len(s) && isTokenByte(s[j]); j++ {
			run++
		}
		if run >= n {
			return true
		}
		k := strings.IndexByte(s[i+1:], sep)
		if k < 0 {
			break
		}
		i += 1 + k
	}
	return false
}

func isTokenByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-'
}

// containsFold reports whether s contains word, ignoring ASCII case; word
// must be lowercase ASCII.
func containsFold(s, word string) bool {
	first := word[0]
	for i := 0; i+len(word) <= len(s); i++ {
		if s[i]|0x20 == first && strings.EqualFold(s[i:i+len(word)], word) {
			return true
		}
	}
	return false
}

// A Redactor replaces known secret values and credential-shaped text with
// [Redacted]. Create one with [NewRedactor]; it is safe for concurrent use,
// and Redact never waits for Add.
type Redactor struct {
	mu     sync.Mutex // serializes Add
	values atomic.Pointer[valueSet]
}

// valueSet is an immutable snapshot of the known values; Add replaces it.
type valueSet struct {
	all []string // every value, including encoded forms
	// bracketed are the values that contain '[' or ']'. Only they can be
	// re-formed across a [Redacted] marker and its neighbours, so only
	// they need a second look after replacing.
	bracketed []string
}

// NewRedactor returns a Redactor that knows no values yet; it still
// redacts credential patterns.
func NewRedactor() *Redactor {
	r := &Redactor{}
	r.values.Store(&valueSet{})
	return r
}

// Add teaches r values to redact, along with their URL-escaped and
// JSON-escaped forms. Values shorter than 6 bytes are ignored, so that
// short words are never mangled; so are values that occur inside the
// marker "[redacted]" itself. Duplicates are ignored.
func (r *Redactor) Add(values ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.values.Load()
	if old == nil {
		old = &valueSet{}
	}
	seen := make(map[string]bool, len(old.all)+len(values))
	for _, v := range old.all {
		seen[v] = true
	}
	next := &valueSet{all: slices.Clone(old.all), bracketed: slices.Clone(old.bracketed)}
	added := false
	for _, v := range values {
		for _, form := range encodings(v) {
			if !redactable(form) || seen[form] {
				continue
			}
			seen[form] = true
			added = true
			next.all = append(next.all, form)
			if strings.ContainsAny(form, "[]") {
				next.bracketed = append(next.bracketed, form)
			}
		}
	}
	if added {
		r.values.Store(next)
	}
}

// redactable reports whether Add keeps v.
func redactable(v string) bool {
	return len(v) >= minValueLen && !strings.Contains(Redacted, v)
}

// encodings returns v and the forms it takes in URLs and JSON strings.
func encodings(v string) []string {
	forms := []string{v, url.QueryEscape(v), url.PathEscape(v)}
	if b, err := json.Marshal(v); err == nil {
		forms = append(forms, string(b[1:len(b)-1]))
	}
	return forms
}

type span struct{ start, end int }

// Redact returns s with every known value and every credential pattern
// replaced by [Redacted]. When nothing matches it returns s itself.
func (r *Redactor) Redact(s string) string {
	if s == "" {
		return s
	}
	vs := r.values.Load()
	if vs == nil {
		vs = &valueSet{}
	}
	spans := findValues(nil, s, vs.all)
	spans = findCredentials(spans, s)
	if len(spans) == 0 {
		return s
	}
	out := replaceSpans(s, spans)
	// A value containing a bracket may be re-formed from a marker and the
	// text around it; replace again until none is left, and if that does
	// not settle, give up the whole string rather than leak.
	for range 4 {
		again := findValues(nil, out, vs.bracketed)
		if len(again) == 0 {
			return out
		}
		out = replaceSpans(out, again)
	}
	return Redacted
}

// findValues appends the span of every occurrence of every value in s,
// overlapping ones included.
func findValues(spans []span, s string, values []string) []span {
	for _, v := range values {
		for i := 0; i+len(v) <= len(s); {
			j := strings.Index(s[i:], v)
			if j < 0 {
				break
			}
			spans = append(spans, span{i + j, i + j + len(v)})
			i += j + 1
		}
	}
	return spans
}

// findCredentials appends the spans of the capturing groups of every
// credential pattern match in s.
func findCredentials(spans []span, s string) []span {
	for _, p := range credentialPatterns() {
		if !p.hint(s) {
			continue
		}
		for _, m := range p.re.FindAllStringSubmatchIndex(s, -1) {
			for g := 2; g+1 < len(m); g += 2 {
				if m[g] >= 0 && m[g+1] > m[g] {
					spans = append(spans, span{m[g], m[g+1]})
				}
			}
		}
	}
	return spans
}

// replaceSpans replaces the union of spans in s with one marker per
// contiguous run.
func replaceSpans(s string, spans []span) string {
	slices.SortFunc(spans, func(a, b span) int { return a.start - b.start })
	var b strings.Builder
	b.Grow(len(s))
	pos := 0
	for i := 0; i < len(spans); {
		start, end := spans[i].start, spans[i].end
		for i++; i < len(spans) && spans[i].start <= end; i++ {
			end = max(end, spans[i].end)
		}
		b.WriteString(s[pos:start])
		b.WriteString(Redacted)
		pos = end
	}
	b.WriteString(s[pos:])
	return b.String()
}

// Error returns err with its message redacted, or nil for nil. The result
// unwraps to err, so errors.Is and errors.As still work, but err's own
// Error() is not redacted: print or log the result's Error(), never that
// of an error unwrapped from it.
func (r *Redactor) Error(err error) error {
	if err == nil {
		return nil
	}
	return &redactedError{msg: r.Redact(err.Error()), err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
