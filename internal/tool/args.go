package tool

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
)

// MaxArgsBytes caps the arguments of one tool call.
const MaxArgsBytes = 64 << 10

// DecodeArgs decodes the arguments a model sent into v, a pointer to a
// struct whose fields carry json tags. It is strict, because the arguments
// are untrusted: they must be one JSON object of at most [MaxArgsBytes]
// (empty or null count as {}), every key must be one of v's json names
// exactly (no case folding, no duplicates), values must have the fields'
// types, and nothing may follow the object.
func DecodeArgs(raw json.RawMessage, v any) error {
	if len(raw) > MaxArgsBytes {
		return fmt.Errorf("arguments are %d bytes, over the limit of %d", len(raw), MaxArgsBytes)
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		raw = []byte("{}")
	}
	allowed := fieldNames(v)
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return errors.New("arguments must be a JSON object")
	}
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("arguments are not valid JSON: %w", err)
		}
		key, _ := tok.(string)
		if !slices.Contains(allowed, key) {
			return fmt.Errorf("unknown argument %q (allowed: %s)", key, strings.Join(allowed, ", "))
		}
		if seen[key] {
			return fmt.Errorf("argument %q given twice", key)
		}
		seen[key] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return fmt.Errorf("argument %q is not valid JSON: %w", key, err)
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return fmt.Errorf("arguments are not valid JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("arguments must be one JSON object, with nothing after it")
	}
	if err := json.Unmarshal(raw, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fmt.Errorf("argument %q must be a %s", te.Field, te.Type)
		}
		return fmt.Errorf("arguments: %w", err)
	}
	return nil
}

// fieldNames returns the json names of the struct v points to.
func fieldNames(v any) []string {
	t := reflect.TypeOf(v)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	var names []string
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		names = append(names, name)
	}
	return names
}
