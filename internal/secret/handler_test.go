package secret

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"testing/slogtest"
)

func TestHandler_slogtest(t *testing.T) {
	var buf bytes.Buffer
	newHandler := func(t *testing.T) slog.Handler {
		buf.Reset()
		return NewHandler(slog.NewJSONHandler(&buf, nil), NewRedactor())
	}
	result := func(t *testing.T) map[string]any {
		var m map[string]any
		if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
			t.Fatalf("output %q is not one JSON object: %v", buf.String(), err)
		}
		return m
	}
	slogtest.Run(t, newHandler, result)
}

const leaked = "s3cr3t-VALUE-xyzzy-0042"

type stringer struct{}

func (stringer) String() string { return "stringer holds " + leaked }

type valuer struct{}

func (valuer) LogValue() slog.Value {
	return slog.GroupValue(slog.String("inner", leaked), slog.Int("n", 1))
}

type nested struct {
	Name  string
	Token string
}

func TestHandler_redacts_everywhere(t *testing.T) {
	tests := []struct {
		name string
		log  func(l *slog.Logger)
	}{
		{name: "message", log: func(l *slog.Logger) { l.Info("key is " + leaked) }},
		{name: "string_attr", log: func(l *slog.Logger) { l.Info("m", "k", leaked) }},
		{name: "key", log: func(l *slog.Logger) { l.Info("m", leaked, 1) }},
		{name: "error_attr", log: func(l *slog.Logger) { l.Info("m", "err", fmt.Errorf("dial: %s: %w", leaked, errors.ErrUnsupported)) }},
		{name: "stringer_attr", log: func(l *slog.Logger) { l.Info("m", "s", stringer{}) }},
		{name: "log_valuer", log: func(l *slog.Logger) { l.Info("m", "v", valuer{}) }},
		{name: "nested_group", log: func(l *slog.Logger) {
			l.Info("m", slog.Group("a", slog.Group("b", slog.String("c", leaked))))
		}},
		{name: "with_attrs", log: func(l *slog.Logger) { l.With("k", leaked).Info("m") }},
		{name: "with_group_and_attrs", log: func(l *slog.Logger) { l.WithGroup("g").With("k", leaked).Info("m", "k2", leaked) }},
		{name: "struct_any", log: func(l *slog.Logger) { l.Info("m", "req", nested{Name: "x", Token: leaked}) }},
		{name: "map_any", log: func(l *slog.Logger) { l.Info("m", "h", map[string]string{"x-api-key": leaked}) }},
		{name: "bytes", log: func(l *slog.Logger) { l.Info("m", "body", []byte("body "+leaked)) }},
		{name: "pattern_without_add", log: func(l *slog.Logger) { l.Info("m", "url", "https://x/?token=abcdef1234") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			r := NewRedactor()
			r.Add(leaked)
			tt.log(slog.New(NewHandler(slog.NewJSONHandler(&buf, nil), r)))
			out := buf.String()
			if strings.Contains(out, leaked) || strings.Contains(out, "abcdef1234") {
				t.Errorf("output holds the secret: %s", out)
			}
			if !strings.Contains(out, Redacted) {
				t.Errorf("output has no %s marker: %s", Redacted, out)
			}
			if !json.Valid(buf.Bytes()) {
				t.Errorf("output is not JSON: %s", out)
			}
		})
	}
}

func TestHandler_keeps_harmless_values(t *testing.T) {
	var buf bytes.Buffer
	r := NewRedactor()
	r.Add(leaked)
	l := slog.New(NewHandler(slog.NewJSONHandler(&buf, nil), r))
	l.Info("channel connected", "channel", "telegram", "chats", 3, "req", nested{Name: "x"}, "err", errors.New("no route"))
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"msg": "channel connected", "channel": "telegram", "chats": 3.0, "req": map[string]any{"Name": "x", "Token": ""}, "err": "no route"}
	for k, v := range want {
		if fmt.Sprint(got[k]) != fmt.Sprint(v) {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

func TestHandler_text(t *testing.T) {
	var buf bytes.Buffer
	r := NewRedactor()
	r.Add(leaked)
	slog.New(NewHandler(slog.NewTextHandler(&buf, nil), r)).Info("m", "k", leaked, "v", Value(leaked))
	if out := buf.String(); strings.Contains(out, leaked) {
		t.Errorf("text output holds the secret: %s", out)
	}
}
