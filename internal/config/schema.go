package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
)

// SchemaID is the JSON Schema dialect Schema produces.
const SchemaID = "https://json-schema.org/draft/2020-12/schema"

// Schema returns the JSON Schema (draft 2020-12) of gatehouse.json, made
// from the struct tags: types, enums, descriptions (doc tags), bounds and
// the defaults of Default(). Structs allow no other keys; maps allow any
// non-empty key. Struct types reached through a map, a list or a pointer,
// and Secret, are shared in $defs. The output is deterministic and ends in
// a newline.
func Schema() ([]byte, error) {
	b, err := json.Marshal(Default())
	if err != nil {
		return nil, fmt.Errorf("encode defaults: %w", err)
	}
	var defaults any
	if err := json.Unmarshal(b, &defaults); err != nil {
		return nil, fmt.Errorf("encode defaults: %w", err)
	}
	g := schemaGen{defs: map[string]jsonObject{}}
	body := g.object(rootNode(), defaults)
	root := jsonObject{
		{"$schema", SchemaID},
		{"title", "gatehouse.json"},
		{"description", "Configuration of the Gatehouse AI agent gateway. JSON with comments and trailing commas (JWCC)."},
	}
	root = append(root, body...)
	names := make([]string, 0, len(g.defs))
	for name := range g.defs {
		names = append(names, name)
	}
	slices.Sort(names)
	var defs jsonObject
	for _, name := range names {
		defs = append(defs, jsonMember{name, g.defs[name]})
	}
	root = append(root, jsonMember{"$defs", defs})
	out, err := json.MarshalIndent(root, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode schema: %w", err)
	}
	return append(out, '\n'), nil
}

// schemaGen collects $defs while the schema is generated.
type schemaGen struct {
	defs map[string]jsonObject // nil value: being generated
}

// node returns the schema of n. def is n's default from Default(), or nil.
func (g *schemaGen) node(n node, def any) jsonObject {
	var s jsonObject
	if n.doc != "" {
		s = append(s, jsonMember{"description", n.doc})
	}
	switch n.kind() {
	case kindString:
		s = append(s, jsonMember{"type", "string"})
		if len(n.enum) > 0 {
			s = append(s, jsonMember{"enum", n.enum})
		}
	case kindBool:
		s = append(s, jsonMember{"type", "boolean"})
	case kindInt, kindNumber:
		typ := "integer"
		if n.kind() == kindNumber {
			typ = "number"
		}
		s = append(s, jsonMember{"type", typ})
		if n.min != nil {
			s = append(s, jsonMember{"minimum", *n.min})
		}
		if n.max != nil {
			s = append(s, jsonMember{"maximum", *n.max})
		}
	case kindSecret:
		s = append(s, jsonMember{"$ref", g.ref(n)})
	case kindObject:
		if n.indirect {
			return append(s, jsonMember{"$ref", g.ref(n)})
		}
		return append(s, g.object(n, def)...)
	case kindMap:
		return append(s,
			jsonMember{"type", "object"},
			jsonMember{"propertyNames", jsonObject{{"minLength", 1}}},
			jsonMember{"additionalProperties", g.node(n.elem(), nil)},
		)
	case kindArray:
		s = append(s, jsonMember{"type", "array"}, jsonMember{"items", g.node(n.elem(), nil)})
	}
	if def != nil {
		s = append(s, jsonMember{"default", def})
	}
	return s
}

// object is the schema of a struct's keys, without its description.
func (g *schemaGen) object(n node, def any) jsonObject {
	defs, _ := def.(map[string]any)
	var props jsonObject
	for _, f := range n.fields() {
		props = append(props, jsonMember{f.name, g.node(f.node, defs[f.name])})
	}
	return jsonObject{
		{"type", "object"},
		{"properties", props},
		{"additionalProperties", false},
	}
}

// ref returns the $ref of a shared type, generating its $defs entry once.
func (g *schemaGen) ref(n node) string {
	name := n.t.Name()
	if _, ok := g.defs[name]; !ok {
		g.defs[name] = nil // guards recursion (a guild's channels)
		if n.kind() == kindSecret {
			g.defs[name] = secretSchema()
		} else {
			g.defs[name] = g.object(n, nil)
		}
	}
	return "#/$defs/" + name
}

func secretSchema() jsonObject {
	return jsonObject{
		{"description", `A credential: {"secret": "NAME"} (a name in the encrypted secret store, preferred), "${ENV_VAR}" (an environment variable), or the value itself in plaintext (discouraged).`},
		{"oneOf", []jsonObject{
			{{"type", "string"}},
			{
				{"type", "object"},
				{"properties", jsonObject{{"secret", jsonObject{{"type", "string"}, {"minLength", 1}}}}},
				{"required", []string{"secret"}},
				{"additionalProperties", false},
			},
		}},
	}
}

// jsonObject is a JSON object that keeps its members in order.
type jsonObject []jsonMember

type jsonMember struct {
	key   string
	value any
}

// MarshalJSON writes the members in order.
func (o jsonObject) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(m.key)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(m.value)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
