package secret

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestValue_never_prints(t *testing.T) {
	v := Value("hunter2hunter2")
	for _, got := range []string{v.String(), fmt.Sprint(v), fmt.Sprintf("%v %s %+v %#v", v, v, v, v), v.LogValue().String()} {
		if strings.Contains(got, "hunter2") {
			t.Errorf("printed %q, holds the value", got)
		}
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("m", "v", v)
	if strings.Contains(buf.String(), "hunter2") || !strings.Contains(buf.String(), `"v":"[redacted]"`) {
		t.Errorf("logged %s, want v as [redacted]", buf.String())
	}
}

func TestEqual(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want bool
	}{
		{name: "same", a: "abc", b: "abc", want: true},
		{name: "both_empty", a: "", b: "", want: true},
		{name: "different", a: "abc", b: "abd", want: false},
		{name: "prefix", a: "abc", b: "abcd", want: false},
		{name: "empty_and_not", a: "", b: "a", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Equal(tt.a, tt.b); got != tt.want {
				t.Errorf("Equal(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
			}
		})
	}
}

func TestNewToken(t *testing.T) {
	a, b := NewToken(), NewToken()
	if len(a) != 64 || strings.ToLower(a) != a {
		t.Errorf("NewToken = %q, want 64 lowercase hex characters", a)
	}
	if _, err := hex.DecodeString(a); err != nil {
		t.Errorf("NewToken = %q, not hex: %v", a, err)
	}
	if a == b {
		t.Error("two tokens are equal")
	}
	if got := EstimateBits(a); got < 256 {
		t.Errorf("EstimateBits(NewToken()) = %d, want >= 256", got)
	}
}

func TestEstimateBits(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want int
	}{
		{name: "empty", in: "", want: 0},
		{name: "digits", in: "0123456789", want: 33},
		{name: "hex_lower", in: strings.Repeat("ab01", 8), want: 128},
		{name: "hex_upper", in: "DEADBEEF", want: 32},
		{name: "lower_alnum", in: "abcxyz", want: 31},
		{name: "upper_alnum", in: "ABCXYZ", want: 31},
		{name: "mixed_alnum", in: "aZ", want: 11},
		{name: "base64url", in: "a-_b", want: 24},
		{name: "base64_std", in: "ab+/==", want: 36},
		{name: "printable", in: "a b!", want: 26},
		{name: "non_ascii_counts_runes", in: "pässwörd", want: 52},
		{name: "weak_word", in: "password", want: 41},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := EstimateBits(tt.in); got != tt.want {
				t.Errorf("EstimateBits(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}
