package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// This file reads the schema out of the Config type's struct tags. The
// validator, dotted paths, secret discovery and the JSON Schema export all
// walk the same model, so they cannot disagree.

// kind is the JSON shape a Go type takes in gatehouse.json.
type kind int

const (
	kindString kind = iota
	kindBool
	kindInt
	kindNumber // a float
	kindSecret
	kindObject // a struct: fixed keys
	kindMap    // map[string]T: any key
	kindArray  // []T
)

// node is one place in the schema: a type and the constraints its field's
// tags put on it. Map values and array elements have no tags.
type node struct {
	t    reflect.Type // pointers already removed
	enum []string
	min  *int64
	max  *int64
	doc  string
	// indirect is set for a type reached through a pointer, a map or a
	// slice; the JSON Schema shares such struct types in $defs.
	indirect bool
}

// field is one key of a struct.
type field struct {
	name  string
	index int
	node  node
}

func rootNode() node { return node{t: reflect.TypeFor[Config]()} }

func (n node) kind() kind {
	switch {
	case n.t == reflect.TypeFor[Secret]():
		return kindSecret
	case n.t.Kind() == reflect.Struct:
		return kindObject
	case n.t.Kind() == reflect.Map:
		return kindMap
	case n.t.Kind() == reflect.Slice:
		return kindArray
	case n.t.Kind() == reflect.Bool:
		return kindBool
	case n.t.Kind() == reflect.Int, n.t.Kind() == reflect.Int64:
		return kindInt
	case n.t.Kind() == reflect.Float64:
		return kindNumber
	case n.t.Kind() == reflect.String:
		return kindString
	}
	// Only reachable when types.go gains a type this file does not know;
	// TestPaths walks every field, so it fails first.
	panic(fmt.Sprintf("config: unsupported field type %s", n.t))
}

// elem is the node of a map's values or an array's elements.
func (n node) elem() node { return node{t: deref(n.t.Elem()), indirect: true} }

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// fields lists a struct node's keys in declaration order.
func (n node) fields() []field {
	var out []field
	for i := range n.t.NumField() {
		sf := n.t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		fn := node{t: deref(sf.Type), doc: sf.Tag.Get("doc"), indirect: sf.Type.Kind() == reflect.Pointer}
		if e := sf.Tag.Get("enum"); e != "" {
			fn.enum = strings.Split(e, ",")
		}
		fn.min = intTag(sf, "min")
		fn.max = intTag(sf, "max")
		out = append(out, field{name: name, index: i, node: fn})
	}
	return out
}

// field finds a struct node's key by its exact name.
func (n node) field(name string) (field, bool) {
	for _, f := range n.fields() {
		if f.name == name {
			return f, true
		}
	}
	return field{}, false
}

// keys lists a struct node's key names.
func (n node) keys() []string {
	var out []string
	for _, f := range n.fields() {
		out = append(out, f.name)
	}
	return out
}

func intTag(sf reflect.StructField, tag string) *int64 {
	s, ok := sf.Tag.Lookup(tag)
	if !ok {
		return nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		panic(fmt.Sprintf("config: field %s: bad %s tag %q", sf.Name, tag, s))
	}
	return &v
}

// joinPath appends a key to a dotted path.
func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// splitPath splits a dotted path; the empty path has no segments.
func splitPath(path string) []string {
	if path == "" {
		return nil
	}
	return strings.Split(path, ".")
}

// resolve finds the schema node of a dotted path. Map levels accept any
// non-empty key; a map key that itself contains a dot cannot be named in a
// path (edit the file for it). An unknown path is a *FieldError with a
// suggestion.
func resolve(path string) (node, error) {
	n := rootNode()
	segs := splitPath(path)
	for _, s := range segs {
		if s == "" {
			return node{}, &FieldError{Path: path, Problem: "a path is keys separated by single dots, e.g. gateway.auth.mode"}
		}
		switch n.kind() {
		case kindObject:
			f, ok := n.field(s)
			if !ok {
				return node{}, &FieldError{Path: path, Problem: ProblemUnknownKey, DidYouMean: suggestPath(segs)}
			}
			n = f.node
		case kindMap:
			n = n.elem()
		default: // a path below a leaf, e.g. gateway.port.x
			return node{}, &FieldError{Path: path, Problem: ProblemUnknownKey, DidYouMean: suggestPath(segs)}
		}
	}
	return n, nil
}

// suggestPath proposes a valid path for a misspelt one: first by repairing
// each unknown segment with its closest sibling, then by the closest leaf
// path overall.
func suggestPath(segs []string) string {
	n := rootNode()
	out := make([]string, 0, len(segs))
	ok := true
	for _, s := range segs {
		switch n.kind() {
		case kindObject:
			f, found := n.field(s)
			if !found {
				f, found = n.field(closest(s, n.keys()))
			}
			if !found {
				ok = false
				break
			}
			out = append(out, f.name)
			n = f.node
		case kindMap:
			out = append(out, s)
			n = n.elem()
		default:
			ok = false
		}
		if !ok {
			break
		}
	}
	if ok {
		return strings.Join(out, ".")
	}
	var fixed []string
	for _, p := range Paths() {
		if !strings.Contains(p, "<") {
			fixed = append(fixed, p)
		}
	}
	return closest(strings.Join(segs, "."), fixed)
}

// suggestKey proposes a valid full path for an unknown key found under
// parent (a struct node at path parentPath): a sibling that is close, or else
// the one path anywhere in the schema that ends in the same key.
func suggestKey(parent node, parentPath, key string) string {
	if c := closest(key, parent.keys()); c != "" {
		return joinPath(parentPath, c)
	}
	var found string
	for _, p := range Paths() {
		if strings.Contains(p, "<") {
			continue
		}
		last := p[strings.LastIndexByte(p, '.')+1:]
		if strings.EqualFold(last, key) {
			if found != "" {
				return "" // ambiguous
			}
			found = p
		}
	}
	return found
}

// Paths returns every leaf dotted path of the schema in declaration order,
// for documentation and suggestions. Map levels appear as <name>, e.g.
// models.providers.<name>.apiKey. A struct type nested in itself (a guild's
// channels) is listed once, its repetition as a single path.
func Paths() []string {
	var out []string
	var walk func(n node, path string, seen []reflect.Type)
	walk = func(n node, path string, seen []reflect.Type) {
		switch n.kind() {
		case kindObject:
			for _, t := range seen {
				if t == n.t {
					out = append(out, path)
					return
				}
			}
			seen = append(seen, n.t)
			for _, f := range n.fields() {
				walk(f.node, joinPath(path, f.name), seen)
			}
		case kindMap:
			walk(n.elem(), joinPath(path, "<name>"), seen)
		default:
			out = append(out, path)
		}
	}
	walk(rootNode(), "", nil)
	return out
}
