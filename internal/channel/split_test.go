package channel

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSplit(t *testing.T) {
	tests := []struct {
		name string
		text string
		max  int
		want []string
	}{
		{"fits_unchanged", "  hello\n", 10, []string{"  hello\n"}},
		{"empty_is_nil", "", 10, nil},
		{"blank_is_nil", " \n\t ", 10, nil},
		{"no_limit", "abcdef", 0, []string{"abcdef"}},
		{"paragraph_first", "aaa bbb\nccc\n\nddd eee", 15, []string{"aaa bbb\nccc", "ddd eee"}},
		{"line_before_word", "aaa bbb\nccc ddd", 12, []string{"aaa bbb", "ccc ddd"}},
		{"word", "aaa bbb ccc", 8, []string{"aaa bbb", "ccc"}},
		{"separator_right_after_limit", "aaaa bbbb", 4, []string{"aaaa", "bbbb"}},
		{"hard_cut", "abcdefghij", 4, []string{"abcd", "efgh", "ij"}},
		{"hard_cut_runes", "ééééé", 2, []string{"éé", "éé", "é"}},
		{"emoji_not_cut", "😀😀😀", 2, []string{"😀😀", "😀"}},
		{"leading_blank_skipped", "     abcdefgh", 4, []string{"abcd", "efgh"}},
		{"blank_between_parts_dropped", "aa\n\n\n\n\n\nbb", 3, []string{"aa", "bb"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Split(tt.text, tt.max); !slices.Equal(got, tt.want) {
				t.Errorf("Split(%q, %d) = %q, want %q", tt.text, tt.max, got, tt.want)
			}
		})
	}
}

func FuzzSplit(f *testing.F) {
	f.Add("hello world\n\nsecond paragraph\nline", 7)
	f.Add("😀 é a\n\n\nb", 1)
	f.Add("\xff\xfe abc", 2)
	f.Fuzz(func(t *testing.T, text string, max int) {
		if max < 1 || max > 1000 {
			return
		}
		parts := Split(text, max)
		for _, p := range parts {
			if strings.TrimSpace(p) == "" {
				t.Fatalf("Split(%q, %d): blank part in %q", text, max, parts)
			}
			if n := utf8.RuneCountInString(p); n > max {
				t.Fatalf("Split(%q, %d): part %q has %d characters", text, max, p, n)
			}
			if utf8.ValidString(text) && !utf8.ValidString(p) {
				t.Fatalf("Split(%q, %d): part %q cuts a UTF-8 sequence", text, max, p)
			}
		}
		// Only whitespace is lost.
		strip := func(s string) string { return strings.Join(strings.Fields(s), "") }
		if got, want := strip(strings.Join(parts, "")), strip(text); got != want {
			t.Fatalf("Split(%q, %d) = %q: lost text", text, max, parts)
		}
	})
}
