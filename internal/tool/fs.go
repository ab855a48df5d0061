package tool

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"regexp"
	"strings"

	"gatehouse/internal/llm"
)

// File tool limits.
const (
	maxReadBytes   = 256 << 10 // read returns at most this much
	maxWriteBytes  = 1 << 20   // write and edit accept at most this much
	maxGrepFile    = 2 << 20   // grep skips larger files
	maxListEntries = 1000
	maxGrepMatches = 1000
	maxGrepLine    = 300
)

// FileTools returns the workspace file tools for dir under access, the
// value of agents.defaults.sandbox.workspaceAccess: none gives none, ro
// gives read, ls, find and grep, rw adds write and edit.
//
// The tools run in the gateway, confined to dir by an [os.Root]: a path
// that leaves it, with ../ or through a symbolic link, is refused by the
// kernel's path resolution (openat2 with RESOLVE_BENEATH on Linux), not by
// string checks. Paths are relative to the workspace; /workspace/... (the
// workspace as the sandbox sees it) is accepted too. SOUL.md, the agent's
// identity, is never written by a tool.
func FileTools(dir, access string) []Tool {
	if dir == "" || (access != "ro" && access != "rw") {
		return nil
	}
	w := &wsRoot{dir: dir}
	tools := []Tool{&readTool{w}, &lsTool{w}, &findTool{w}, &grepTool{w}}
	if access == "rw" {
		tools = append(tools, &writeTool{w}, &editTool{w})
	}
	return tools
}

// wsRoot opens the workspace for each call, so that a workspace that was
// moved or recreated is followed.
type wsRoot struct{ dir string }

func (w *wsRoot) open() (*os.Root, error) {
	r, err := os.OpenRoot(w.dir)
	if err != nil {
		return nil, fmt.Errorf("the workspace %s cannot be opened: %w", w.dir, err)
	}
	return r, nil
}

// begin starts a file tool's call: it decodes the arguments into args (a
// pointer to the tool's struct), cleans the path that path points to (a
// field of args), and opens the workspace. When the root is nil the call
// is over: return fail (a Result for the model) and err (a failure of the
// tool itself).
func (w *wsRoot) begin(op string, raw json.RawMessage, args any, path *string) (r *os.Root, p string, fail Result, err error) {
	if err := DecodeArgs(raw, args); err != nil {
		return nil, "", Errorf("%s: %v", op, err), nil
	}
	p, err = cleanPath(*path)
	if err != nil {
		return nil, "", Errorf("%s: %v", op, err), nil
	}
	r, err = w.open()
	if err != nil {
		return nil, "", Result{}, err
	}
	return r, p, Result{}, nil
}

// cleanPath turns a path the model wrote into one relative to the
// workspace root, or says why it is refused. The root does the real
// confinement; this only gives the model clear messages.
func cleanPath(p string) (string, error) {
	p = strings.TrimSpace(p)
	if strings.ContainsRune(p, 0) {
		return "", errors.New("path contains a NUL byte")
	}
	switch {
	case p == "" || p == "." || p == "/workspace" || p == "/workspace/":
		return ".", nil
	case strings.HasPrefix(p, "/workspace/"):
		p = strings.TrimPrefix(p, "/workspace/")
	case strings.HasPrefix(p, "/") || strings.HasPrefix(p, "~"):
		return "", fmt.Errorf("path %q is outside the workspace: use a path relative to it (or under /workspace/)", p)
	}
	c := path.Clean(p)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("path %q is outside the workspace", p)
	}
	return c, nil
}

// fsError turns a file error into a message for the model, without the
// host path of the workspace.
func fsError(op, p string, err error) Result {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return Errorf("%s %s: no such file or directory", op, p)
	case errors.Is(err, fs.ErrPermission):
		return Errorf("%s %s: permission denied", op, p)
	case strings.Contains(err.Error(), "path escapes from parent"):
		return Errorf("%s %s: refused, the path leaves the workspace (through .. or a symbolic link)", op, p)
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return Errorf("%s %s: %v", op, p, pe.Err)
	}
	return Errorf("%s %s: %v", op, p, err)
}

func isSoul(p string) bool { return strings.EqualFold(p, "SOUL.md") }

// looksBinary reports whether b holds a NUL byte in its first 8 KiB.
func looksBinary(b []byte) bool {
	return bytes.IndexByte(b[:min(len(b), 8<<10)], 0) >= 0
}

// schema builds a JSON Schema object from property definitions.
func schema(required []string, props string) json.RawMessage {
	req, _ := json.Marshal(required)
	return json.RawMessage(`{"type":"object","properties":{` + props + `},"required":` + string(req) + `,"additionalProperties":false}`)
}

type readTool struct{ w *wsRoot }

func (*readTool) Spec() llm.ToolSpec {
	return llm.ToolSpec{
		Name:        NameRead,
		Description: "Read a text file in the workspace. Optionally from a line (offset, 1-based) for a number of lines (limit).",
		Parameters: schema([]string{"path"}, `"path":{"type":"string","description":"File path relative to the workspace"},`+
			`"offset":{"type":"integer","minimum":1,"description":"First line to read, 1-based"},`+
			`"limit":{"type":"integer","minimum":1,"description":"Most lines to read"}`),
	}
}

func (t *readTool) Run(ctx context.Context, call Call) (Result, error) {
	var a struct {
		Path   string `json:"path"`
		Offset int    `json:"offset"`
		Limit  int    `json:"limit"`
	}
	r, p, fail, err := t.w.begin("read", call.Args, &a, &a.Path)
	if r == nil {
		return fail, err
	}
	defer r.Close()
	f, err := r.Open(p)
	if err != nil {
		return fsError("read", p, err), nil
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return Errorf("read %s: is a directory: use ls", p), nil
	}
	b, err := io.ReadAll(io.LimitReader(f, maxReadBytes+1))
	if err != nil {
		return fsError("read", p, err), nil
	}
	cut := len(b) > maxReadBytes
	if cut {
		b = b[:maxReadBytes]
	}
	if looksBinary(b) {
		return Errorf("read %s: not a text file", p), nil
	}
	text := strings.ToValidUTF8(string(b), "\uFFFD")
	if a.Offset > 1 || a.Limit > 0 {
		lines := strings.SplitAfter(text, "\n")
		start := max(a.Offset, 1) - 1
		if start >= len(lines) {
			return Errorf("read %s: the file has %d lines, offset %d is past the end", p, len(lines), a.Offset), nil
		}
		end := len(lines)
		if a.Limit > 0 && start+a.Limit < end {
			end = start + a.Limit
		}
		text = strings.Join(lines[start:end], "")
	}
	if cut {
		text += fmt.Sprintf("\n[… file cut at %d KiB: read on with offset]", maxReadBytes>>10)
	}
	return Result{Text: text}, nil
}

type writeTool struct{ w *wsRoot }

func (*writeTool) Spec() llm.ToolSpec {
	return llm.ToolSpec{
		Name:        NameWrite,
		Description: "Create or overwrite a file in the workspace with the given content. Parent directories are created.",
		Parameters: schema([]string{"path", "content"}, `"path":{"type":"string","description":"File path relative to the workspace"},`+
			`"content":{"type":"string","description":"The whole new content of the file"}`),
	}
}

func (t *writeTool) Run(ctx context.Context, call Call) (Result, error) {
	var a struct {
		Path    string `json:"path"`
		Content string `json:"content"`
	}
	r, p, fail, err := t.w.begin("write", call.Args, &a, &a.Path)
	if r == nil {
		return fail, err
	}
	defer r.Close()
	if p == "." {
		return Errorf("write: a file path is required"), nil
	}
	if isSoul(p) {
		return Errorf("write %s: refused, SOUL.md is the agent's identity and only the owner edits it", p), nil
	}
	if len(a.Content) > maxWriteBytes {
		return Errorf("write %s: content is %d bytes, over the limit of %d", p, len(a.Content), maxWriteBytes), nil
	}
	if dir := path.Dir(p); dir != "." {
		if err := r.MkdirAll(dir, 0o700); err != nil {
			return fsError("write", p, err), nil
		}
	}
	if err := writeIn(r, p, []byte(a.Content)); err != nil {
		return fsError("write", p, err), nil
	}
	return Result{Text: fmt.Sprintf("wrote %d bytes to %s", len(a.Content), p), SideEffects: true}, nil
}

// writeIn replaces the content of p in r, creating it 0600.
func writeIn(r *os.Root, p string, b []byte) error {
	f, err := r.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

type editTool struct{ w *wsRoot }

func (*editTool) Spec() llm.ToolSpec {
	return llm.ToolSpec{
		Name:        NameEdit,
		Description: "Replace text in a workspace file: oldText must occur exactly once, and is replaced by newText.",
		Parameters: schema([]string{"path", "oldText", "newText"}, `"path":{"type":"string","description":"File path relative to the workspace"},`+
			`"oldText":{"type":"string","description":"Exact text to replace; must occur exactly once"},`+
			`"newText":{"type":"string","description":"Replacement text"}`),
	}
}

func (t *editTool) Run(ctx context.Context, call Call) (Result, error) {
	var a struct {
		Path    string `json:"path"`
		OldText string `json:"oldText"`
		NewText string `json:"newText"`
	}
	r, p, fail, err := t.w.begin("edit", call.Args, &a, &a.Path)
	if r == nil {
		return fail, err
	}
	defer r.Close()
	if isSoul(p) {
		return Errorf("edit %s: refused, SOUL.md is the agent's identity and only the owner edits it", p), nil
	}
	if a.OldText == "" {
		return Errorf("edit %s: oldText is empty: give the exact text to replace", p), nil
	}
	f, err := r.Open(p)
	if err != nil {
		return fsError("edit", p, err), nil
	}
	b, err := io.ReadAll(io.LimitReader(f, maxWriteBytes+1))
	f.Close()
	if err != nil {
		return fsError("edit", p, err), nil
	}
	if len(b) > maxWriteBytes {
		return Errorf("edit %s: the file is over %d bytes; edit refuses files that large", p, maxWriteBytes), nil
	}
	switch n := strings.Count(string(b), a.OldText); n {
	case 0:
		return Errorf("edit %s: oldText was not found; read the file and copy the text exactly, whitespace included", p), nil
	case 1:
	default:
		return Errorf("edit %s: oldText occurs %d times; include more surrounding text so it occurs once", p, n), nil
	}
	out := strings.Replace(string(b), a.OldText, a.NewText, 1)
	if len(out) > maxWriteBytes {
		return Errorf("edit %s: the result would be over %d bytes", p, maxWriteBytes), nil
	}
	if err := writeIn(r, p, []byte(out)); err != nil {
		return fsError("edit", p, err), nil
	}
	return Result{Text: "edited " + p, SideEffects: true}, nil
}

type lsTool struct{ w *wsRoot }

func (*lsTool) Spec() llm.ToolSpec {
	return llm.ToolSpec{
		Name:        NameLs,
		Description: "List a workspace directory: names (directories end in /) and sizes.",
		Parameters:  schema(nil, `"path":{"type":"string","description":"Directory relative to the workspace; default the workspace itself"}`),
	}
}

func (t *lsTool) Run(ctx context.Context, call Call) (Result, error) {
	var a struct {
		Path string `json:"path"`
	}
	r, p, fail, err := t.w.begin("ls", call.Args, &a, &a.Path)
	if r == nil {
		return fail, err
	}
	defer r.Close()
	entries, err := fs.ReadDir(r.FS(), p)
	if err != nil {
		return fsError("ls", p, err), nil
	}
	var b strings.Builder
	for i, e := range entries {
		if i == maxListEntries {
			fmt.Fprintf(&b, "[… %d more entries]\n", len(entries)-i)
			break
		}
		switch info, err := e.Info(); {
		case e.IsDir():
			fmt.Fprintf(&b, "%s/\n", e.Name())
		case e.Type()&fs.ModeSymlink != 0:
			fmt.Fprintf(&b, "%s@\n", e.Name())
		case err == nil:
			fmt.Fprintf(&b, "%s\t%d\n", e.Name(), info.Size())
		default:
			fmt.Fprintf(&b, "%s\n", e.Name())
		}
	}
	if b.Len() == 0 {
		return Result{Text: "(empty directory)"}, nil
	}
	return Result{Text: b.String()}, nil
}

// walk visits the regular files under dir in r, skipping .git, until
// visit returns false or ctx ends. Symbolic links are not followed.
func walk(ctx context.Context, r *os.Root, dir string, visit func(p string, d fs.DirEntry) bool) error {
	return fs.WalkDir(r.FS(), dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir {
				return err
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if d.IsDir() {
			if d.Name() == ".git" && p != dir {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		if !visit(p, d) {
			return fs.SkipAll
		}
		return nil
	})
}

type findTool struct{ w *wsRoot }

func (*findTool) Spec() llm.ToolSpec {
	return llm.ToolSpec{
		Name:        NameFind,
		Description: "Find files in the workspace by glob pattern: *.md matches file names anywhere; a pattern with / (docs/**/*.md) matches paths, ** crossing directories.",
		Parameters: schema([]string{"pattern"}, `"pattern":{"type":"string","description":"Glob pattern"},`+
			`"path":{"type":"string","description":"Directory to search, relative to the workspace; default all of it"}`),
	}
}

func (t *findTool) Run(ctx context.Context, call Call) (Result, error) {
	var a struct {
		Pattern string `json:"pattern"`
		Path    string `json:"path"`
	}
	if err := DecodeArgs(call.Args, &a); err != nil {
		return Errorf("find: %v", err), nil
	}
	match, err := globMatcher(a.Pattern)
	if err != nil {
		return Errorf("find: %v", err), nil
	}
	p, err := cleanPath(a.Path)
	if err != nil {
		return Errorf("find: %v", err), nil
	}
	r, err := t.w.open()
	if err != nil {
		return Result{}, err
	}
	defer r.Close()
	var out []string
	more := false
	err = walk(ctx, r, p, func(fp string, d fs.DirEntry) bool {
		if match(fp) {
			if len(out) == maxListEntries {
				more = true
				return false
			}
			out = append(out, fp)
		}
		return true
	})
	if err != nil {
		return fsError("find", p, err), nil
	}
	if len(out) == 0 {
		return Result{Text: "no files match " + a.Pattern}, nil
	}
	text := strings.Join(out, "\n")
	if more {
		text += fmt.Sprintf("\n[… stopped at %d files: narrow the pattern]", maxListEntries)
	}
	return Result{Text: text}, nil
}

// globMatcher compiles a glob: without a slash it matches base names,
// with one whole paths, where ** matches any number of directories.
func globMatcher(pattern string) (func(string) bool, error) {
	pattern = strings.TrimPrefix(strings.TrimSpace(pattern), "./")
	if pattern == "" {
		return nil, errors.New("pattern is empty")
	}
	if len(pattern) > 512 {
		return nil, errors.New("pattern is longer than 512 characters")
	}
	if _, err := path.Match(strings.ReplaceAll(pattern, "**", "*"), ""); err != nil {
		return nil, fmt.Errorf("pattern %q is not a valid glob", pattern)
	}
	if !strings.Contains(pattern, "/") {
		return func(p string) bool { ok, _ := path.Match(pattern, path.Base(p)); return ok }, nil
	}
	parts := strings.Split(pattern, "/")
	return func(p string) bool { return matchParts(parts, strings.Split(p, "/")) }, nil
}

// matchParts matches path segments against pattern segments with **.
func matchParts(pat, segs []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for i := 0; i <= len(segs); i++ {
				if matchParts(pat[1:], segs[i:]) {
					return true
				}
			}
			return false
		}
		if len(segs) == 0 {
			return false
		}
		if ok, _ := path.Match(pat[0], segs[0]); !ok {
			return false
		}
		pat, segs = pat[1:], segs[1:]
	}
	return len(segs) == 0
}

type grepTool struct{ w *wsRoot }

func (*grepTool) Spec() llm.ToolSpec {
	return llm.ToolSpec{
		Name:        NameGrep,
		Description: "Search workspace files for a regular expression (RE2 syntax). Prints path:line: text for each match.",
		Parameters: schema([]string{"pattern"}, `"pattern":{"type":"string","description":"Regular expression"},`+
			`"path":{"type":"string","description":"File or directory to search, relative to the workspace; default all of it"},`+
			`"glob":{"type":"string","description":"Only files whose name matches this glob, e.g. *.md"},`+
			`"ignoreCase":{"type":"boolean"},`+
			`"limit":{"type":"integer","minimum":1,"maximum":1000,"description":"Most matches to return (default 100)"}`),
	}
}

func (t *grepTool) Run(ctx context.Context, call Call) (Result, error) {
	var a struct {
		Pattern    string `json:"pattern"`
		Path       string `json:"path"`
		Glob       string `json:"glob"`
		IgnoreCase bool   `json:"ignoreCase"`
		Limit      int    `json:"limit"`
	}
	if err := DecodeArgs(call.Args, &a); err != nil {
		return Errorf("grep: %v", err), nil
	}
	if a.Pattern == "" || len(a.Pattern) > 1024 {
		return Errorf("grep: pattern must be 1 to 1024 characters"), nil
	}
	expr := a.Pattern
	if a.IgnoreCase {
		expr = "(?i)" + expr
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return Errorf("grep: pattern is not a valid regular expression: %v", err), nil
	}
	limit := a.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, maxGrepMatches)
	match := func(string) bool { return true }
	if a.Glob != "" {
		if match, err = globMatcher(a.Glob); err != nil {
			return Errorf("grep: glob: %v", err), nil
		}
	}
	p, err := cleanPath(a.Path)
	if err != nil {
		return Errorf("grep: %v", err), nil
	}
	r, err := t.w.open()
	if err != nil {
		return Result{}, err
	}
	defer r.Close()
	var b strings.Builder
	n := 0
	search := func(fp string) bool {
		f, err := r.Open(fp)
		if err != nil {
			return true
		}
		defer f.Close()
		if st, err := f.Stat(); err != nil || st.Size() > maxGrepFile {
			return true
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), maxGrepFile)
		for line := 1; sc.Scan(); line++ {
			text := sc.Bytes()
			if line == 1 && looksBinary(text) {
				return true
			}
			if !re.Match(text) {
				continue
			}
			s := strings.ToValidUTF8(string(text[:min(len(text), maxGrepLine)]), "")
			fmt.Fprintf(&b, "%s:%d: %s\n", fp, line, s)
			if n++; n >= limit {
				return false
			}
		}
		return true
	}
	if st, err := r.Stat(p); err == nil && !st.IsDir() {
		search(p)
	} else if err := walk(ctx, r, p, func(fp string, d fs.DirEntry) bool {
		if !match(fp) {
			return true
		}
		return search(fp)
	}); err != nil {
		return fsError("grep", p, err), nil
	}
	if n == 0 {
		return Result{Text: "no matches"}, nil
	}
	if n >= limit {
		fmt.Fprintf(&b, "[… stopped at %d matches]\n", limit)
	}
	return Result{Text: b.String()}, nil
}
