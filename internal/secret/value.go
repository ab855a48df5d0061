package secret

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"log/slog"
	"math"
	"strings"
	"unicode/utf8"
)

// Value is a secret in transit through code that might print or log it:
// it prints and logs as [Redacted]. Convert it to string only where the
// value is used.
type Value string

// String returns [Redacted], never the value.
func (Value) String() string { return Redacted }

// LogValue returns [Redacted], never the value.
func (Value) LogValue() slog.Value { return slog.StringValue(Redacted) }

// GoString returns [Redacted], so %#v does not print the value either.
func (Value) GoString() string { return Redacted }

// Equal reports whether a and b are equal in time that depends on neither
// their contents nor their lengths: both are hashed with SHA-256 first and
// the digests compared with crypto/subtle.
func Equal(a, b string) bool {
	ha := sha256.Sum256([]byte(a))
	hb := sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

// NewToken returns a fresh 256-bit token from crypto/rand as 64 lowercase
// hex characters.
func NewToken() string {
	var b [32]byte
	rand.Read(b[:]) // never fails: crypto/rand crashes the program instead
	return hex.EncodeToString(b[:])
}

// MinTokenBits is the least estimated strength a token must have for the
// gateway to accept it on a non-loopback address.
const MinTokenBits = 128

// EstimateBits estimates the strength of the secret s in bits, as its
// length times log2 of the smallest character class that covers it:
// digits (10), hex (16, either case), lowercase or uppercase letters and
// digits (36), letters and digits (62), base64 or base64url (64),
// printable ASCII (95). Anything else counts each rune as printable ASCII.
// It assumes the characters were chosen at random, so it overrates
// passwords made of words; it is meant for refusing tokens that are too
// short or drawn from too small an alphabet.
func EstimateBits(s string) int {
	if s == "" {
		return 0
	}
	return int(float64(utf8.RuneCountInString(s)) * math.Log2(alphabetSize(s)))
}

// alphabetSize returns the size of the smallest character class covering s.
func alphabetSize(s string) float64 {
	switch {
	case allRunes(s, isDigit):
		return 10
	case allRunes(s, isHex):
		return 16
	case allRunes(s, isLowerAlnum), allRunes(s, isUpperAlnum):
		return 36
	case allRunes(s, isAlnum):
		return 62
	case allRunes(s, isBase64):
		return 64
	}
	return 95
}

func isDigit(c rune) bool      { return '0' <= c && c <= '9' }
func isHex(c rune) bool        { return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }
func isLowerAlnum(c rune) bool { return isDigit(c) || 'a' <= c && c <= 'z' }
func isUpperAlnum(c rune) bool { return isDigit(c) || 'A' <= c && c <= 'Z' }
func isAlnum(c rune) bool      { return isLowerAlnum(c) || 'A' <= c && c <= 'Z' }
func isBase64(c rune) bool     { return isAlnum(c) || strings.ContainsRune("-_+/=", c) }

func allRunes(s string, in func(rune) bool) bool {
	for _, c := range s {
		if !in(c) {
			return false
		}
	}
	return true
}
