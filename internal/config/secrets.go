package config

import (
	"fmt"
	"reflect"
	"slices"
)

// SecretField is one secret-typed key of a Config that holds a value.
type SecretField struct {
	// Path is the dotted path, e.g. "channels.telegram.token".
	Path string
	// Secret is the value as written: a reference or plaintext.
	Secret Secret
}

// Secrets returns every non-zero secret in the configuration, in schema
// order (map keys sorted), so they can be resolved and given to the log
// redactor.
func (c *Config) Secrets() []SecretField {
	var out []SecretField
	walkSecrets(reflect.ValueOf(c).Elem(), rootNode(), "", func(path string, s Secret) {
		out = append(out, SecretField{Path: path, Secret: s})
	})
	return out
}

// PlaintextSecrets returns the dotted paths of the secrets written in
// plaintext, for doctor and `secrets migrate`.
func (c *Config) PlaintextSecrets() []string {
	var out []string
	for _, sf := range c.Secrets() {
		if sf.Secret.IsPlaintext() {
			out = append(out, sf.Path)
		}
	}
	return out
}

func walkSecrets(v reflect.Value, n node, path string, fn func(string, Secret)) {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	switch n.kind() {
	case kindSecret:
		if s := v.Interface().(Secret); !s.IsZero() {
			fn(path, s)
		}
	case kindObject:
		for _, f := range n.fields() {
			walkSecrets(v.Field(f.index), f.node, joinPath(path, f.name), fn)
		}
	case kindMap:
		keys := make([]string, 0, v.Len())
		for _, k := range v.MapKeys() {
			keys = append(keys, k.String())
		}
		slices.Sort(keys)
		for _, k := range keys {
			walkSecrets(v.MapIndex(reflect.ValueOf(k)), n.elem(), joinPath(path, k), fn)
		}
	case kindArray:
		for i := range v.Len() {
			walkSecrets(v.Index(i), n.elem(), fmt.Sprintf("%s[%d]", path, i), fn)
		}
	}
}

// IsSecretPath reports whether the dotted path names a secret-typed key,
// such as gateway.auth.token, channels.telegram.token or
// models.providers.openai.apiKey. A segment "*" matches any key, so
// channels.*.token is a secret path too.
func IsSecretPath(path string) bool {
	var match func(n node, segs []string) bool
	match = func(n node, segs []string) bool {
		if len(segs) == 0 {
			return n.kind() == kindSecret
		}
		switch n.kind() {
		case kindObject:
			if segs[0] == "*" {
				for _, f := range n.fields() {
					if match(f.node, segs[1:]) {
						return true
					}
				}
				return false
			}
			f, ok := n.field(segs[0])
			return ok && match(f.node, segs[1:])
		case kindMap:
			return segs[0] != "" && match(n.elem(), segs[1:])
		}
		return false
	}
	segs := splitPath(path)
	return len(segs) > 0 && match(rootNode(), segs)
}

// Redact returns v, a value Get returned for path, with every plaintext
// secret replaced by Redacted. References print as they are written,
// {"secret": "NAME"} or "${VAR}". v itself is not modified. A path the
// schema does not know returns v unchanged.
func Redact(v any, path string) any {
	n, err := resolve(path)
	if err != nil {
		return v
	}
	return redact(v, n)
}

func redact(v any, n node) any {
	switch n.kind() {
	case kindSecret:
		switch s := v.(type) {
		case nil, map[string]any: // nothing, or {"secret": NAME}
			return v
		case string:
			if s == "" || envRef.MatchString(s) {
				return v
			}
		}
		return Redacted
	case kindObject:
		m, ok := v.(map[string]any)
		if !ok {
			return v
		}
		out := make(map[string]any, len(m))
		for k, e := range m {
			if f, ok := n.field(k); ok {
				out[k] = redact(e, f.node)
			} else {
				out[k] = e
			}
		}
		return out
	case kindMap:
		m, ok := v.(map[string]any)
		if !ok {
			return v
		}
		out := make(map[string]any, len(m))
		for k, e := range m {
			out[k] = redact(e, n.elem())
		}
		return out
	case kindArray:
		a, ok := v.([]any)
		if !ok {
			return v
		}
		out := make([]any, len(a))
		for i, e := range a {
			out[i] = redact(e, n.elem())
		}
		return out
	}
	return v
}
