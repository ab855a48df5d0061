package secret

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
)

// Credential-shaped test data is assembled at run time, so that secret
// scanners do not flag this file.
func fake(parts ...string) string { return strings.Join(parts, "") }

func TestRedact_patterns(t *testing.T) {
	a40 := strings.Repeat("a1B2", 10)
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "authorization_bearer", in: "Authorization: Bearer abc.DEF-ghi_123~+/==", want: "Authorization: Bearer [redacted]"},
		{name: "bare_bearer_lowercase", in: "sent bearer tok3n-value now", want: "sent bearer [redacted] now"},
		{name: "basic_auth", in: "Authorization: Basic dXNlcjpwYXNz", want: "Authorization: Basic [redacted]"},
		{name: "openai", in: "key=" + fake("sk-", a40), want: "key=[redacted]"},
		{name: "openai_in_text", in: "using " + fake("sk-", a40) + " for chat", want: "using [redacted] for chat"},
		{name: "openai_project", in: "k " + fake("sk-proj-", a40), want: "k [redacted]"},
		{name: "anthropic", in: "k " + fake("sk-ant-api03-", a40, "-x_y"), want: "k [redacted]"},
		{name: "slack_bot", in: "t " + fake("xox", "b-1234567890-1234567890-", a40), want: "t [redacted]"},
		{name: "slack_user", in: "t " + fake("xox", "p-1234567890-abc"), want: "t [redacted]"},
		{name: "slack_app", in: "t " + fake("xapp", "-1-A012345-", a40), want: "t [redacted]"},
		{name: "telegram_in_url", in: "GET https://api.telegram.org/bot" + fake("123456789:", "AAH", a40[:32]) + "/getMe", want: "GET https://api.telegram.org/bot[redacted]/getMe"},
		{name: "discord", in: "token " + fake("MTIzNDU2Nzg5MDEyMzQ1Njc4", ".GaBcDe.", a40), want: "token [redacted]"},
		{name: "google", in: "key " + fake("AIza", a40[:35]), want: "key [redacted]"},
		{name: "github_classic", in: "push with " + fake("ghp_", a40[:36]), want: "push with [redacted]"},
		{name: "github_app", in: fake("ghs_", a40[:36]), want: "[redacted]"},
		{name: "github_fine_grained", in: fake("github_pat_", "11ABCDEFG0", a40, "_", a40), want: "[redacted]"},
		{name: "aws", in: "id " + fake("AKIA", "IOSFODNN7EXAMPLE") + " ok", want: "id [redacted] ok"},
		{name: "age_key", in: "key: " + fake("AGE-SECRET-KEY-1", "QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ"), want: "key: [redacted]"},
		{name: "pem_block", in: "before\n" + fake("-----BEGIN ", "PRIVATE KEY-----\nMIIEvQIBADANBg\nkqhkiG9w0BAQE\n-----END PRIVATE KEY-----") + "\nafter", want: "before\n[redacted]\nafter"},
		{name: "pem_rsa_block", in: fake("-----BEGIN RSA ", "PRIVATE KEY-----\nabc\n-----END RSA PRIVATE KEY-----"), want: "[redacted]"},
		{name: "pem_cut_short", in: "x " + fake("-----BEGIN OPENSSH ", "PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA"), want: "x [redacted]"},
		{name: "query_token", in: "GET /cb?code=1&token=abc123&x=1", want: "GET /cb?code=1&token=[redacted]&x=1"},
		{name: "query_access_token", in: "/x?access_token=abc.def", want: "/x?access_token=[redacted]"},
		{name: "form_password", in: "user=bob&password=hunter2&remember=1", want: "user=bob&password=[redacted]&remember=1"},
		{name: "form_api_key", in: "api_key=k1&apikey=k2&API-KEY=k3", want: "api_key=[redacted]&apikey=[redacted]&API-KEY=[redacted]"},
		{name: "form_secret", in: "client_secret=s3 rest", want: "client_secret=[redacted] rest"},
		{name: "json_token", in: `{"token":"abc","user":"x"}`, want: `{"token":"[redacted]","user":"x"}`},
		{name: "json_password_with_escape", in: `{"password": "a\"b c", "n": 1}`, want: `{"password": "[redacted]", "n": 1}`},
		{name: "json_api_key", in: `{"apiKey":"k1","api_key":"k2","x":"y"}`, want: `{"apiKey":"[redacted]","api_key":"[redacted]","x":"y"}`},
		{name: "json_client_secret", in: `{"clientSecret":"v"}`, want: `{"clientSecret":"[redacted]"}`},
		{name: "url_password", in: "dial postgres://app:pa55w0rd@db:5432/x", want: "dial postgres://app:[redacted]@db:5432/x"},
	}
	r := NewRedactor()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := r.Redact(tt.in); got != tt.want {
				t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestRedact_leaves_ordinary_text(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{name: "sentence", in: "channel connected: telegram, 3 chats"},
		{name: "usage_fields", in: `max_tokens=1024 {"input_tokens": 12, "output_tokens": 5}`},
		{name: "secret_reference", in: `{"secret":"OPENAI_API_KEY"}`},
		{name: "secret_word", in: "secret store opened"},
		{name: "time", in: "at 12:30:05 on 2026-01-02"},
		{name: "task_id", in: "task-0123456789abcdefghijklmnop done"},
		{name: "path", in: "/home/owner/.gatehouse/logs/gatehouse.log"},
		{name: "url_without_password", in: "https://user@example.com/path?q=1"},
		{name: "empty", in: ""},
	}
	r := NewRedactor()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := r.Redact(tt.in); got != tt.in {
				t.Errorf("Redact(%q) = %q, want it unchanged", tt.in, got)
			}
		})
	}
}

func TestRedact_known_values(t *testing.T) {
	tests := []struct {
		name   string
		values []string
		in     string
		want   string
	}{
		{name: "value", values: []string{"hunter2hunter2"}, in: "pw is hunter2hunter2!", want: "pw is [redacted]!"},
		{name: "every_occurrence", values: []string{"hunter2hunter2"}, in: "hunter2hunter2 hunter2hunter2", want: "[redacted] [redacted]"},
		{name: "short_value_ignored", values: []string{"abc12"}, in: "abc12 stays", want: "abc12 stays"},
		{name: "six_bytes_redacted", values: []string{"abc123"}, in: "abc123 goes", want: "[redacted] goes"},
		{name: "overlapping_values", values: []string{"abcdef123", "123xyz789"}, in: "<abcdef123xyz789>", want: "<[redacted]>"},
		{name: "prefix_of_another", values: []string{"longsecret", "longsecret-extended"}, in: "longsecret-extended", want: "[redacted]"},
		{name: "self_overlapping", values: []string{"aaaaaa"}, in: "aaaaaaaa", want: "[redacted]"},
		{name: "url_escaped_form", values: []string{"p@ss w0rd&x"}, in: "/login?pw=p%40ss+w0rd%26x", want: "/login?pw=[redacted]"},
		{name: "json_escaped_form", values: []string{`quote"back\slash`}, in: `{"v":"quote\"back\\slash"}`, want: `{"v":"[redacted]"}`},
		{name: "marker_part_ignored", values: []string{"redacted", "[redacted]"}, in: "redacted", want: "redacted"},
		{name: "duplicates", values: []string{"hunter2hunter2", "hunter2hunter2"}, in: "hunter2hunter2", want: "[redacted]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRedactor()
			r.Add(tt.values...)
			if got := r.Redact(tt.in); got != tt.want {
				t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestRedact_value_reformed_by_marker(t *testing.T) {
	// Redacting the first occurrence leaves "[redacted]abcdef", which
	// holds the value again.
	r := NewRedactor()
	r.Add("d]abcdef")
	got := r.Redact("d]abcdefabcdef")
	if strings.Contains(got, "d]abcdef") {
		t.Errorf("Redact = %q, still holds the value", got)
	}
}

func TestRedact_concurrent_add(t *testing.T) {
	r := NewRedactor()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 100 {
			r.Add(strings.Repeat("v", 6+i))
		}
	}()
	for range 100 {
		r.Redact("vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv")
	}
	<-done
	if got := r.Redact("vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"); got != "[redacted]" {
		t.Errorf("Redact after Add = %q, want [redacted]", got)
	}
}

func TestRedactor_Error(t *testing.T) {
	r := NewRedactor()
	r.Add("hunter2hunter2")
	inner := &fs.PathError{Op: "open", Path: "/x/hunter2hunter2", Err: fs.ErrNotExist}
	err := r.Error(inner)
	if got, want := err.Error(), "open /x/[redacted]: file does not exist"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Error("errors.Is(err, fs.ErrNotExist) = false, want true")
	}
	if pe, ok := errors.AsType[*fs.PathError](err); !ok || pe != inner {
		t.Errorf("errors.As = %v, %v, want the inner error", pe, ok)
	}
	if r.Error(nil) != nil {
		t.Error("Error(nil) != nil")
	}
}

func BenchmarkRedact(b *testing.B) {
	r := NewRedactor()
	for i := range 20 {
		r.Add(strings.Repeat(string(rune('a'+i)), 24) + "-secret")
	}
	lines := []struct {
		name string
		line string
	}{
		{name: "plain", line: "agent turn finished for session telegram:dm:123456 after 3 tool calls in 2.4s"},
		{name: "with_credential", line: "request failed: POST https://api.example.com/v1?api_key=abcdef status 401 Authorization: Bearer xyz"},
	}
	for _, l := range lines {
		b.Run(l.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r.Redact(l.line)
			}
		})
	}
}
