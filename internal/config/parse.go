package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/tailscale/hujson"
)

// Parse reads a gatehouse.json document: JWCC, that is JSON with comments
// and trailing commas. The document is checked against the schema before it
// is decoded: unknown keys, values of the wrong type, values outside an enum
// and numbers out of bounds are each a *FieldError, and all of them are
// returned together (errors.Join). Keys the document leaves out keep their
// values from Default(). Last, Parse runs Config.Validate.
//
// An empty document (only whitespace) is the default configuration.
func Parse(data []byte) (*Config, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return Default(), nil
	}
	v, err := parseJWCC(data)
	if err != nil {
		return nil, err
	}
	return decode(v)
}

// parseJWCC parses JWCC text into its syntax tree. hujson's errors carry the
// line and column.
func parseJWCC(data []byte) (hujson.Value, error) {
	v, err := hujson.Parse(data)
	if err != nil {
		return hujson.Value{}, fmt.Errorf("config is not valid JSON (comments and trailing commas are allowed; fix the file at the position shown): %w", err)
	}
	return v, nil
}

// decode validates a syntax tree against the schema, then decodes it on top
// of Default() and runs the semantic checks.
func decode(v hujson.Value) (*Config, error) {
	var vd validator
	vd.value(&v, rootNode(), "")
	if err := joinErrors(vd.errs); err != nil {
		return nil, err
	}
	std := v.Clone()
	std.Standardize()
	cfg := Default()
	dec := json.NewDecoder(bytes.NewReader(std.Pack()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(cfg); err != nil {
		// The validator accepts only what decodes; this is a bug here.
		return nil, fmt.Errorf("config passed the schema check but does not decode (please report this): %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// validator collects every schema violation in a syntax tree.
type validator struct {
	errs []error
}

// maxErrors bounds what one document reports: past it, the file is more
// likely not a gatehouse.json at all.
const maxErrors = 50

func (vd *validator) add(e *FieldError) {
	switch {
	case len(vd.errs) < maxErrors:
		vd.errs = append(vd.errs, e)
	case len(vd.errs) == maxErrors:
		vd.errs = append(vd.errs, &FieldError{Problem: fmt.Sprintf("more than %d problems; fix these first", maxErrors)})
	}
}

// value checks v against n; path is v's dotted path.
func (vd *validator) value(v *hujson.Value, n node, path string) {
	k := n.kind()
	got := v.Value.Kind()
	if got == 'n' {
		problem := "null is not allowed: remove the key to use the default"
		if path != "" {
			problem += " (gatehouse config unset " + path + ")"
		}
		vd.add(&FieldError{Path: path, Problem: problem, Got: "null"})
		return
	}
	if !kindAccepts(k, got) {
		if path == "" {
			vd.add(&FieldError{Problem: "the config must be a JSON object, {…}", Got: kindName(got)})
			return
		}
		vd.add(&FieldError{Path: path, Problem: fmt.Sprintf("got %s, want %s", kindName(got), wantName(n)), Got: kindName(got)})
		return
	}
	switch k {
	case kindString:
		s := v.Value.(hujson.Literal).String()
		if len(n.enum) > 0 && !slices.Contains(n.enum, s) {
			e := &FieldError{
				Path:    path,
				Problem: fmt.Sprintf("%q is not one of %s", s, strings.Join(n.enum, ", ")),
				Got:     s,
				Allowed: n.enum,
			}
			if c := closest(s, n.enum); c != "" {
				e.DidYouMean = c
			}
			vd.add(e)
		}
	case kindInt:
		vd.integer(v.Value.(hujson.Literal), n, path)
	case kindNumber:
		vd.number(v.Value.(hujson.Literal), n, path)
	case kindSecret:
		if got == '{' {
			vd.secretRef(v.Value.(*hujson.Object), path)
		}
	case kindObject:
		vd.object(v.Value.(*hujson.Object), n, path)
	case kindMap:
		obj := v.Value.(*hujson.Object)
		seen := map[string]bool{}
		for i := range obj.Members {
			m := &obj.Members[i]
			key := m.Name.Value.(hujson.Literal).String()
			p := joinPath(path, key)
			switch {
			case key == "":
				vd.add(&FieldError{Path: p, Problem: "a key must not be empty"})
				continue
			case seen[key]:
				vd.add(&FieldError{Path: p, Problem: "duplicate key: keep one of them"})
				continue
			}
			seen[key] = true
			vd.value(&m.Value, n.elem(), p)
		}
	case kindArray:
		arr := v.Value.(*hujson.Array)
		for i := range arr.Elements {
			vd.value(&arr.Elements[i], n.elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	}
}

// object checks the members of a struct-typed object.
func (vd *validator) object(obj *hujson.Object, n node, path string) {
	seen := map[string]bool{}
	for i := range obj.Members {
		m := &obj.Members[i]
		key := m.Name.Value.(hujson.Literal).String()
		p := joinPath(path, key)
		f, ok := n.field(key)
		switch {
		case !ok:
			vd.add(&FieldError{Path: p, Problem: ProblemUnknownKey, DidYouMean: suggestKey(n, path, key)})
			continue
		case seen[key]:
			vd.add(&FieldError{Path: p, Problem: "duplicate key: keep one of them"})
			continue
		}
		seen[key] = true
		vd.value(&m.Value, f.node, p)
	}
}

// secretRef checks {"secret": "NAME"}. It never reports the value.
func (vd *validator) secretRef(obj *hujson.Object, path string) {
	const want = `a secret reference is {"secret": "NAME"} with a non-empty NAME`
	if len(obj.Members) != 1 {
		vd.add(&FieldError{Path: path, Problem: want})
		return
	}
	m := obj.Members[0]
	if m.Name.Value.(hujson.Literal).String() != "secret" || m.Value.Value.Kind() != '"' ||
		m.Value.Value.(hujson.Literal).String() == "" {
		vd.add(&FieldError{Path: path, Problem: want})
	}
}

// integer checks a number literal against an int field and its bounds.
func (vd *validator) integer(lit hujson.Literal, n node, path string) {
	text := string(lit)
	i, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			vd.add(&FieldError{Path: path, Problem: fmt.Sprintf("%s is out of range%s", text, boundsText(n)), Got: text})
			return
		}
		vd.add(&FieldError{Path: path, Problem: fmt.Sprintf("%s is not a whole number", text), Got: text})
		return
	}
	if (n.min != nil && i < *n.min) || (n.max != nil && i > *n.max) {
		vd.add(&FieldError{Path: path, Problem: fmt.Sprintf("%d is out of range%s", i, boundsText(n)), Got: text})
	}
}

// number checks a number literal against a float field and its bounds.
func (vd *validator) number(lit hujson.Literal, n node, path string) {
	text := string(lit)
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		vd.add(&FieldError{Path: path, Problem: fmt.Sprintf("%s is not a finite number", text), Got: text})
		return
	}
	if (n.min != nil && f < float64(*n.min)) || (n.max != nil && f > float64(*n.max)) {
		vd.add(&FieldError{Path: path, Problem: fmt.Sprintf("%s is out of range%s", text, boundsText(n)), Got: text})
	}
}

// boundsText describes a node's bounds, e.g. " (allowed: 1 to 65535)".
func boundsText(n node) string {
	switch {
	case n.min != nil && n.max != nil:
		return fmt.Sprintf(" (allowed: %d to %d)", *n.min, *n.max)
	case n.min != nil:
		return fmt.Sprintf(" (allowed: %d or more)", *n.min)
	case n.max != nil:
		return fmt.Sprintf(" (allowed: %d or less)", *n.max)
	}
	return ""
}

// kindAccepts reports whether a JSON value of kind got fits schema kind k.
func kindAccepts(k kind, got hujson.Kind) bool {
	switch k {
	case kindString:
		return got == '"'
	case kindBool:
		return got == 't' || got == 'f'
	case kindInt, kindNumber:
		return got == '0'
	case kindSecret:
		return got == '"' || got == '{'
	case kindObject, kindMap:
		return got == '{'
	case kindArray:
		return got == '['
	}
	return false
}

func kindName(k hujson.Kind) string {
	switch k {
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case '0':
		return "a number"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 'n':
		return "null"
	}
	return "an invalid value"
}

func wantName(n node) string {
	switch n.kind() {
	case kindString:
		if len(n.enum) > 0 {
			return "one of " + strings.Join(n.enum, ", ")
		}
		return "a string"
	case kindBool:
		return "true or false"
	case kindInt:
		return "a whole number" + boundsText(n)
	case kindNumber:
		return "a number" + boundsText(n)
	case kindSecret:
		return `a string, "${ENV_VAR}" or {"secret": "NAME"}`
	case kindObject, kindMap:
		return "an object, {…}"
	case kindArray:
		e := n.elem()
		if e.kind() == kindString {
			return `an array of strings, e.g. ["a", "b"]`
		}
		return "an array, [...]"
	}
	return "?"
}
