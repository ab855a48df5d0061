package channel

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Split cuts text into parts of at most max characters (Unicode code
// points) each, for platforms that limit a message's length. It cuts at the
// last paragraph break ("\n\n") that fits, else the last line break, else
// the last space, else between two characters; never inside a UTF-8
// sequence. The whitespace at a cut is dropped, and so is a part that would
// be empty or only whitespace: Split of blank text is nil. Text that fits is
// returned unchanged as the only part. A max below 1 means no limit.
func Split(text string, max int) []string {
	if strings.TrimSpace(text) == "" {
		return nil
	}
	if max < 1 || utf8.RuneCountInString(text) <= max {
		return []string{text}
	}
	var parts []string
	for {
		text = strings.TrimLeftFunc(text, unicode.IsSpace)
		if text == "" {
			return parts
		}
		if utf8.RuneCountInString(text) <= max {
			return append(parts, text)
		}
		end := runeOffset(text, max) // text[:end] is the longest prefix that fits
		cut := cutAt(text, end)
		if part := strings.TrimRightFunc(text[:cut], unicode.IsSpace); part != "" {
			parts = append(parts, part)
		}
		text = text[cut:]
	}
}

// cutAt returns where to cut text, at most end bytes in: after the best
// boundary whose prefix holds more than whitespace, else at end.
func cutAt(text string, end int) int {
	prefix := text[:end]
	// Cutting just before a separator that starts right at end loses nothing.
	for _, sep := range []string{"\n\n", "\n", " "} {
		if strings.HasPrefix(text[end:], sep) && strings.TrimSpace(prefix) != "" {
			return end
		}
		if i := strings.LastIndex(prefix, sep); i > 0 && strings.TrimSpace(prefix[:i]) != "" {
			return i
		}
	}
	return end
}

// runeOffset returns the byte offset of the n-th rune of s (len(s) if s is
// shorter).
func runeOffset(s string, n int) int {
	for i := range s {
		if n == 0 {
			return i
		}
		n--
	}
	return len(s)
}
