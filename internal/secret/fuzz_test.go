package secret

import (
	"strings"
	"testing"
)

// FuzzRedact checks that a value given to Add never survives Redact,
// whatever text surrounds it, and that each credential pattern's hint
// holds whenever its regexp matches.
func FuzzRedact(f *testing.F) {
	f.Add("hunter2hunter2", "password: ", "!")
	f.Add("d]abcdef", "", "abcdef")
	f.Add("aaaaaa", "aaa", "aaa")
	f.Add(fake("sk-", "ant-api03-abcdefghijklmnopqrstuvwxyz"), "Authorization: Bearer ", "\n")
	f.Add("p@ss w0rd&x", "https://u:", "@host/?token=p%40ss+w0rd%26x")
	f.Fuzz(func(t *testing.T, value, prefix, suffix string) {
		r := NewRedactor()
		r.Add(value)
		text := prefix + value + suffix
		got := r.Redact(text)
		if redactable(value) && strings.Contains(got, value) {
			t.Errorf("Redact(%q) = %q, still holds %q", text, got, value)
		}
		for i, p := range credentialPatterns() {
			if p.re.MatchString(text) && !p.hint(text) {
				t.Errorf("pattern %d (%s) matches %q but its hint says no", i, p.re, text)
			}
		}
	})
}
