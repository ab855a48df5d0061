package agent

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
)

// Untrusted text (tool results, the summaries made from them) reaches the
// model only inside a fence:
//
//	<<<UNTRUSTED id=NONCE source=tool:NAME>>>
//	…
//	<<<END UNTRUSTED id=NONCE>>>
//
// NONCE is 16 random bytes, hex, drawn per turn, and the system prompt
// names it, so a tool cannot guess the id of the closing marker. Before
// wrapping, every "<<<" and ">>>" in the text becomes "‹‹‹" and "›››": no
// text inside a fence can imitate a marker of any id, in any case. The
// fence does not make injected instructions harmless; it lets the system
// prompt say precisely which text is data, and keeps the boundary intact.

// newNonce returns 16 random bytes as hex.
func newNonce() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand since Go 1.24)
	return hex.EncodeToString(b[:])
}

// fence wraps text as untrusted data from source. The text is cleaned as
// inbound text is: chat-template control tokens go and marker brackets are
// neutralised, so nothing inside can close the fence or open a new role.
func fence(nonce, source, text string) string {
	var b strings.Builder
	b.Grow(len(text) + 100)
	b.WriteString("<<<UNTRUSTED id=")
	b.WriteString(nonce)
	b.WriteString(" source=")
	b.WriteString(neutralizeSource(source))
	b.WriteString(">>>\n")
	b.WriteString(cleanInbound(text))
	b.WriteString("\n<<<END UNTRUSTED id=")
	b.WriteString(nonce)
	b.WriteString(">>>")
	return b.String()
}

// markerReplacer turns the brackets of a fence marker into look-alikes
// that are not markers. Replacement is leftmost and non-overlapping, so
// any run of '<' (or '>') keeps at most two of them: the output holds no
// "<<<" or ">>>" at all.
var markerReplacer = strings.NewReplacer("<<<", "‹‹‹", ">>>", "›››")

// neutralize returns s with every fence marker bracket replaced.
func neutralize(s string) string {
	return markerReplacer.Replace(s)
}

// neutralizeSource keeps a fence's source label to a safe alphabet.
func neutralizeSource(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == ':' || r == '_' || r == '-' || r == '.' {
			return r
		}
		return '_'
	}, s)
}

// controlTokens are chat-template control tokens of common model families
// (ChatML, Llama 2 and 3, Gemma, Mistral, Phi). A sender who types one
// hopes that some layer splices it into the prompt as a real role switch.
var controlTokens = []string{
	"<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|eot_id|>",
	"<|start_header_id|>", "<|end_header_id|>", "<|begin_of_text|>",
	"<|system|>", "<|user|>", "<|assistant|>", "<|end|>",
	"[INST]", "[/INST]", "<<SYS>>", "<</SYS>>",
	"<start_of_turn>", "<end_of_turn>", "<s>", "</s>",
}

// cleanInbound strips control tokens from inbound text, ignoring ASCII case,
// and neutralises fence markers. Each token becomes one space rather than
// nothing: removing "<|im_end|>" from "<|im_<|im_end|>start|>" would
// assemble a new token, while a space can never be part of one.
func cleanInbound(s string) string {
	return neutralize(stripControlTokens(s))
}

func stripControlTokens(s string) string {
	if !strings.ContainsAny(s, "<[") {
		return s
	}
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '<' && s[i] != '[' {
			continue
		}
		for _, tok := range controlTokens {
			if len(s)-i >= len(tok) && equalFoldASCII(s[i:i+len(tok)], tok) {
				if b.Len() == 0 {
					b.Grow(len(s))
				}
				b.WriteString(s[last:i])
				b.WriteByte(' ')
				i += len(tok) - 1
				last = i + 1
				break
			}
		}
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// equalFoldASCII reports whether a and b are equal ignoring ASCII case.
// Unicode folding is not wanted: "ſ" is not "s" to a tokenizer.
func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
