package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/tailscale/hujson"

	"gatehouse/internal/state"
)

// File is gatehouse.json as it is on disk: its syntax tree, so that comments
// and formatting survive Set and Unset, and the Config parsed from it. It is
// not safe for concurrent use.
type File struct {
	// Exists reports whether the file existed when it was loaded, or has
	// been saved since. Load of a missing file gives a File with the
	// default configuration and Exists false.
	Exists bool

	path  string
	value hujson.Value // always a valid, schema-checked object
	cfg   *Config
}

// Load reads and parses the config file at path. A missing file is not an
// error: the File then holds Default() and Exists is false. Schema and
// validation problems are returned as Parse returns them (*FieldError, or
// several joined), unwrapped, so that callers can list them.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &File{path: path, value: emptyObject(), cfg: Default()}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return &File{Exists: true, path: path, value: emptyObject(), cfg: Default()}, nil
	}
	v, err := parseJWCC(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	cfg, err := decode(v)
	if err != nil {
		return nil, err
	}
	return &File{Exists: true, path: path, value: v, cfg: cfg}, nil
}

// FromConfig makes a File for path from cfg, as onboarding writes it: the
// JSON of cfg (omitempty and omitzero apply), indented. Nothing is written
// until Save. cfg must pass the schema and Validate.
func FromConfig(path string, cfg *Config) (*File, error) {
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	v, err := hujson.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	parsed, err := decode(v)
	if err != nil {
		return nil, err
	}
	return &File{path: path, value: v, cfg: parsed}, nil
}

// emptyObject is the syntax tree of an empty object that Format expands,
// one member per line, once it has members.
func emptyObject() hujson.Value {
	return hujson.Value{Value: &hujson.Object{AfterExtra: hujson.Extra("\n")}}
}

// expandedObject is "{}" with a newline inside, which makes hujson's Format
// put each member on its own line.
const expandedObject = "{\n}"

// Path returns the file's path.
func (f *File) Path() string { return f.path }

// Config returns the effective configuration: the file's values on top of
// the defaults. Callers must not modify it; change the file with Set.
func (f *File) Config() *Config { return f.cfg }

// Bytes returns the file's current text, unformatted: what Save would write
// before formatting.
func (f *File) Bytes() []byte { return f.value.Pack() }

// Get returns the effective value at the dotted path (defaults included) as
// a JSON value: map[string]any, []any, string, float64 or bool. A secret is
// returned in the form it is written, {"secret": NAME}, "${VAR}" or the
// plaintext itself: pass the result through Redact before printing it. The
// empty path is the whole configuration. A valid path that holds nothing
// (an unconfigured channel, an empty optional value) gives nil.
func (f *File) Get(path string) (any, error) {
	if _, err := resolve(path); err != nil {
		return nil, err
	}
	b, err := json.Marshal(f.cfg)
	if err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	for _, s := range splitPath(path) {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, nil
		}
		if v, ok = m[s]; !ok {
			return nil, nil
		}
	}
	return v, nil
}

// Set sets the key at the dotted path to raw, creating enclosing objects as
// needed. raw is read as JSON (with comments allowed) when it parses and as
// a string otherwise; where the key holds a string or a secret, raw is
// always taken as the string it spells (a token of digits stays a string),
// except a quoted JSON string and, for a secret, {"secret": "NAME"}.
//
// The whole file is validated again. On error nothing changes and the
// problem is returned as a *FieldError (several are joined).
func (f *File) Set(path, raw string) error {
	n, err := resolve(path)
	if err != nil {
		return err
	}
	segs := splitPath(path)
	if len(segs) == 0 {
		return &FieldError{Problem: "name the key to set, e.g. gatehouse config set gateway.port 18789"}
	}
	val := setValue(n, raw)

	next := f.value.Clone()
	if next.Value.Kind() != '{' {
		next = emptyObject()
	}
	var ops []string
	for i := 1; i < len(segs); i++ {
		ptr := pointer(segs[:i])
		if next.Find(ptr) == nil {
			ops = append(ops, patchOp("add", ptr, []byte(expandedObject)))
		}
	}
	ops = append(ops, patchOp("add", pointer(segs), val.Pack()))
	if err := next.Patch([]byte("[" + strings.Join(ops, ",") + "]")); err != nil {
		return fmt.Errorf("set %s: %w", path, err)
	}
	return f.replace(next)
}

// setValue turns Set's raw argument into the value to store at node n.
func setValue(n node, raw string) hujson.Value {
	k := n.kind()
	v, err := hujson.Parse([]byte(raw))
	switch {
	case err != nil:
		return hujson.Value{Value: hujson.String(raw)}
	case v.Value.Kind() == '"':
		return v
	case k == kindSecret && v.Value.Kind() == '{':
		return v
	case k == kindString || k == kindSecret:
		return hujson.Value{Value: hujson.String(raw)}
	}
	return v
}

// Unset removes the key at the dotted path, so its default applies again.
// Removing a key that is not in the file does nothing. The file is validated
// again; on error nothing changes.
func (f *File) Unset(path string) error {
	if _, err := resolve(path); err != nil {
		return err
	}
	segs := splitPath(path)
	if len(segs) == 0 {
		return &FieldError{Problem: "name the key to unset, e.g. gatehouse config unset gateway.port"}
	}
	ptr := pointer(segs)
	if f.value.Find(ptr) == nil {
		return nil
	}
	next := f.value.Clone()
	if err := next.Patch([]byte("[" + patchOp("remove", ptr, nil) + "]")); err != nil {
		return fmt.Errorf("unset %s: %w", path, err)
	}
	return f.replace(next)
}

// replace validates next and, when it passes, makes it the file's content.
func (f *File) replace(next hujson.Value) error {
	// Parse from the packed text, not the tree: what is validated is
	// exactly what Save writes.
	v, err := hujson.Parse(next.Pack())
	if err != nil {
		return fmt.Errorf("edit produced invalid JSON (please report this): %w", err)
	}
	cfg, err := decode(v)
	if err != nil {
		return err
	}
	f.value, f.cfg = v, cfg
	return nil
}

// pointer is the RFC 6901 JSON pointer of a list of keys.
func pointer(segs []string) string {
	esc := strings.NewReplacer("~", "~0", "/", "~1")
	var b strings.Builder
	for _, s := range segs {
		b.WriteString("/" + esc.Replace(s))
	}
	return b.String()
}

// patchOp is one RFC 6902 operation; value is JWCC text or nil.
func patchOp(op, ptr string, value []byte) string {
	p, _ := json.Marshal(ptr) // a string always marshals
	s := `{"op":"` + op + `","path":` + string(p)
	if value != nil {
		s += `,"value":` + string(value)
	}
	return s + "}"
}

// Save writes the file atomically, formatted (hujson's Format): a temporary
// file in the same directory, created 0600, is written, synced and renamed
// over the target, then the directory is synced. The previous file, if any,
// is first copied to <path>.bak (0600). The result is 0600 even when the
// old file was not. A missing directory is created 0700.
func (f *File) Save() error {
	v := f.value.Clone()
	v.Format()
	data := v.Pack()
	if !bytes.HasSuffix(data, []byte("\n")) {
		data = append(data, '\n')
	}
	dir := filepath.Dir(f.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	old, err := os.ReadFile(f.path)
	switch {
	case err == nil:
		if err := state.WriteFileAtomic(f.path+".bak", old); err != nil {
			return fmt.Errorf("save config backup: %w", err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("save config: read the previous file for the backup: %w", err)
	}
	if err := state.WriteFileAtomic(f.path, data); err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	f.value = v
	f.Exists = true
	return nil
}
