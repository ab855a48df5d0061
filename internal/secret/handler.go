package secret

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
)

// handler is a slog.Handler that redacts records before its inner handler
// sees them.
type handler struct {
	inner slog.Handler
	r     *Redactor
}

// NewHandler wraps inner so that everything logged through it is redacted
// by r first: the message, and every attribute's key and value, whether
// passed to a log call or to With, inside groups at any depth. Values are
// resolved first (so LogValuers are seen as what they log); strings are
// redacted in place, errors and fmt.Stringers become their redacted text,
// and any other value whose JSON or %+v form would carry a secret becomes
// that form's redacted text. A nil r redacts credential patterns only.
func NewHandler(inner slog.Handler, r *Redactor) slog.Handler {
	if r == nil {
		r = NewRedactor()
	}
	return &handler{inner: inner, r: r}
}

func (h *handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.inner.Enabled(ctx, level)
}

func (h *handler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.r.Redact(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.inner.Handle(ctx, out)
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &handler{inner: h.inner.WithAttrs(h.attrs(attrs)), r: h.r}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{inner: h.inner.WithGroup(h.r.Redact(name)), r: h.r}
}

func (h *handler) attrs(as []slog.Attr) []slog.Attr {
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		out[i] = h.attr(a)
	}
	return out
}

func (h *handler) attr(a slog.Attr) slog.Attr {
	if a.Equal(slog.Attr{}) {
		return a // the empty Attr, which handlers drop
	}
	return slog.Attr{Key: h.r.Redact(a.Key), Value: h.value(a.Value.Resolve())}
}

func (h *handler) value(v slog.Value) slog.Value {
	switch v.Kind() {
	case slog.KindString:
		return slog.StringValue(h.r.Redact(v.String()))
	case slog.KindGroup:
		return slog.GroupValue(h.attrs(v.Group())...)
	case slog.KindAny:
		return h.any(v)
	}
	return v // numbers, bools, times and durations carry no secrets
}

func (h *handler) any(v slog.Value) slog.Value {
	switch x := v.Any().(type) {
	case nil:
		return v
	case error:
		return slog.StringValue(h.r.Redact(x.Error()))
	case fmt.Stringer:
		return slog.StringValue(h.r.Redact(x.String()))
	case []byte:
		s := string(x)
		if red := h.r.Redact(s); red != s {
			return slog.StringValue(red)
		}
		return v
	default:
		// Structs, maps and slices are printed by the inner handler as
		// JSON or with %+v; check both forms and, if either carries a
		// secret, log its redacted text instead of the value.
		if b, err := json.Marshal(x); err == nil {
			s := string(b)
			if red := h.r.Redact(s); red != s {
				return slog.StringValue(red)
			}
		}
		s := fmt.Sprintf("%+v", x)
		if red := h.r.Redact(s); red != s {
			return slog.StringValue(red)
		}
		return v
	}
}
