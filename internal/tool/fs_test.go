package tool

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fileTool returns the named tool of FileTools(dir, access).
func fileTool(t *testing.T, dir, access, name string) Tool {
	t.Helper()
	for _, tl := range FileTools(dir, access) {
		if tl.Spec().Name == name {
			return tl
		}
	}
	return nil
}

func runTool(t *testing.T, tl Tool, call Call, args any) Result {
	t.Helper()
	b, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	call.Args = b
	res, err := tl.Run(t.Context(), call)
	if err != nil {
		t.Fatalf("%s: %v", tl.Spec().Name, err)
	}
	return res
}

// newWorkspace makes a workspace beside a "secret" file outside it.
func newWorkspace(t *testing.T) (ws, outside string) {
	t.Helper()
	base := t.TempDir()
	ws = filepath.Join(base, "workspace")
	if err := os.MkdirAll(filepath.Join(ws, "docs", "deep"), 0o700); err != nil {
		t.Fatal(err)
	}
	outside = filepath.Join(base, "secret.txt")
	must(t, os.WriteFile(outside, []byte("TOP-SECRET-CANARY\n"), 0o600))
	must(t, os.WriteFile(filepath.Join(ws, "notes.md"), []byte("alpha\nbeta\ngamma\n"), 0o600))
	must(t, os.WriteFile(filepath.Join(ws, "docs", "a.md"), []byte("# A\nhello world\n"), 0o600))
	must(t, os.WriteFile(filepath.Join(ws, "docs", "deep", "b.md"), []byte("Hello again\n"), 0o600))
	must(t, os.WriteFile(filepath.Join(ws, "SOUL.md"), []byte("I am kind.\n"), 0o600))
	return ws, outside
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestFileToolsByAccess(t *testing.T) {
	ws, _ := newWorkspace(t)
	names := func(access string) string {
		var n []string
		for _, tl := range FileTools(ws, access) {
			n = append(n, tl.Spec().Name)
		}
		return strings.Join(n, ",")
	}
	if got := names("none"); got != "" {
		t.Errorf("none: %s", got)
	}
	if got := names("ro"); got != "read,ls,find,grep" {
		t.Errorf("ro: %s", got)
	}
	if got := names("rw"); got != "read,ls,find,grep,write,edit" {
		t.Errorf("rw: %s", got)
	}
}

func TestReadWriteEditLsFindGrep(t *testing.T) {
	ws, _ := newWorkspace(t)
	get := func(name string) Tool { return fileTool(t, ws, "rw", name) }
	if r := runTool(t, get("read"), Call{}, map[string]any{"path": "notes.md", "offset": 2, "limit": 1}); r.IsError || r.Text != "beta\n" {
		t.Errorf("read lines: %+v", r)
	}
	if r := runTool(t, get("read"), Call{}, map[string]any{"path": "/workspace/docs/a.md"}); r.IsError || !strings.Contains(r.Text, "hello world") {
		t.Errorf("read /workspace path: %+v", r)
	}
	if r := runTool(t, get("write"), Call{}, map[string]any{"path": "new/dir/x.txt", "content": "one two"}); r.IsError || !r.SideEffects {
		t.Errorf("write: %+v", r)
	}
	st, err := os.Stat(filepath.Join(ws, "new", "dir", "x.txt"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("written file: %v %v", st, err)
	}
	if r := runTool(t, get("edit"), Call{}, map[string]any{"path": "new/dir/x.txt", "oldText": "two", "newText": "2"}); r.IsError {
		t.Errorf("edit: %+v", r)
	}
	if b, _ := os.ReadFile(filepath.Join(ws, "new", "dir", "x.txt")); string(b) != "one 2" {
		t.Errorf("after edit: %q", b)
	}
	must(t, os.WriteFile(filepath.Join(ws, "dup.txt"), []byte("x x"), 0o600))
	if r := runTool(t, get("edit"), Call{}, map[string]any{"path": "dup.txt", "oldText": "x", "newText": "y"}); !r.IsError || !strings.Contains(r.Text, "2 times") {
		t.Errorf("ambiguous edit: %+v", r)
	}
	if r := runTool(t, get("ls"), Call{}, map[string]any{}); r.IsError || !strings.Contains(r.Text, "docs/") || !strings.Contains(r.Text, "notes.md\t") {
		t.Errorf("ls: %+v", r)
	}
	if r := runTool(t, get("find"), Call{}, map[string]any{"pattern": "*.md"}); !strings.Contains(r.Text, "docs/deep/b.md") || !strings.Contains(r.Text, "notes.md") {
		t.Errorf("find basename: %+v", r)
	}
	if r := runTool(t, get("find"), Call{}, map[string]any{"pattern": "docs/**/*.md"}); !strings.Contains(r.Text, "docs/deep/b.md") || !strings.Contains(r.Text, "docs/a.md") || strings.Contains(r.Text, "notes.md") {
		t.Errorf("find path: %+v", r)
	}
	if r := runTool(t, get("grep"), Call{}, map[string]any{"pattern": "hello", "ignoreCase": true, "glob": "*.md"}); !strings.Contains(r.Text, "docs/a.md:2: hello world") || !strings.Contains(r.Text, "docs/deep/b.md:1: Hello again") {
		t.Errorf("grep: %+v", r)
	}
	if r := runTool(t, get("grep"), Call{}, map[string]any{"pattern": "("}); !r.IsError {
		t.Errorf("bad regexp accepted: %+v", r)
	}
}

// TestFileToolsEscape tries to leave the workspace with ../, absolute
// paths and symbolic links (to a file, to a directory, and dangling
// through a directory link), reading and writing; every attempt fails and
// the canary outside is neither read nor changed.
func TestFileToolsEscape(t *testing.T) {
	ws, outside := newWorkspace(t)
	base := filepath.Dir(ws)
	must(t, os.Symlink(outside, filepath.Join(ws, "link-file")))
	must(t, os.Symlink(base, filepath.Join(ws, "link-dir")))
	must(t, os.Symlink("../../secret.txt", filepath.Join(ws, "docs", "rel-link")))
	must(t, os.Symlink("/etc", filepath.Join(ws, "etc")))
	reads := []string{
		"../secret.txt", "docs/../../secret.txt", outside, "/etc/passwd", "/workspace/../secret.txt",
		"link-file", "link-dir/secret.txt", "docs/rel-link", "etc/passwd", "~/secret.txt",
	}
	for _, name := range []string{"read", "ls", "grep"} {
		for _, p := range reads {
			args := map[string]any{"path": p}
			if name == "grep" {
				args["pattern"] = "CANARY|root"
			}
			r := runTool(t, fileTool(t, ws, "rw", name), Call{}, args)
			if strings.Contains(r.Text, "TOP-SECRET-CANARY") || strings.Contains(r.Text, "root:") || (name != "grep" && !r.IsError) {
				t.Errorf("%s %q escaped: %+v", name, p, r)
			}
		}
	}
	// A walk does not follow links out of the workspace.
	r := runTool(t, fileTool(t, ws, "rw", "grep"), Call{}, map[string]any{"pattern": "CANARY|root:"})
	if strings.Contains(r.Text, "CANARY") || strings.Contains(r.Text, "root:") {
		t.Errorf("grep walked out: %+v", r)
	}
	r = runTool(t, fileTool(t, ws, "rw", "find"), Call{}, map[string]any{"pattern": "secret*"})
	if strings.Contains(r.Text, "secret.txt") {
		t.Errorf("find walked out: %+v", r)
	}
	writes := []string{"../secret.txt", outside, "link-file", "link-dir/secret.txt", "docs/rel-link", "link-dir/new.txt", "etc/evil"}
	for _, p := range writes {
		if r := runTool(t, fileTool(t, ws, "rw", "write"), Call{}, map[string]any{"path": p, "content": "pwned"}); !r.IsError {
			t.Errorf("write %q escaped: %+v", p, r)
		}
		if r := runTool(t, fileTool(t, ws, "rw", "edit"), Call{}, map[string]any{"path": p, "oldText": "TOP", "newText": "pwned"}); !r.IsError {
			t.Errorf("edit %q escaped: %+v", p, r)
		}
	}
	if b, _ := os.ReadFile(outside); string(b) != "TOP-SECRET-CANARY\n" {
		t.Errorf("canary changed: %q", b)
	}
	if _, err := os.Stat(filepath.Join(base, "new.txt")); err == nil {
		t.Error("a file was created outside the workspace")
	}
	// SOUL.md is never written by a tool.
	for _, p := range []string{"SOUL.md", "soul.md", "./SOUL.md", "/workspace/SOUL.md"} {
		if r := runTool(t, fileTool(t, ws, "rw", "write"), Call{}, map[string]any{"path": p, "content": "I obey strangers."}); !r.IsError {
			t.Errorf("write %s: %+v", p, r)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(ws, "SOUL.md")); string(b) != "I am kind.\n" {
		t.Errorf("SOUL.md changed: %q", b)
	}
	// With ro there are no writing tools at all.
	if fileTool(t, ws, "ro", "write") != nil || fileTool(t, ws, "ro", "edit") != nil {
		t.Error("ro offers a writing tool")
	}
}

func TestMemoryTools(t *testing.T) {
	ws, _ := newWorkspace(t)
	now := func() time.Time { return time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC) }
	var get, write Tool
	for _, tl := range MemoryTools(ws, now) {
		switch tl.Spec().Name {
		case "memory_get":
			get = tl
		case "memory_write":
			write = tl
		}
	}
	owner := Call{Owner: true, ChatType: "direct"}
	if r := runTool(t, write, owner, map[string]any{"text": "likes tea"}); r.IsError {
		t.Fatalf("write: %+v", r)
	}
	if b, _ := os.ReadFile(filepath.Join(ws, "memory", "2026-11-22.md")); !strings.Contains(string(b), "- likes tea") {
		t.Errorf("daily file: %q", b)
	}
	if r := runTool(t, write, owner, map[string]any{"text": "born in Lyon", "file": "MEMORY.md"}); r.IsError {
		t.Fatalf("write MEMORY.md: %+v", r)
	}
	if r := runTool(t, get, owner, map[string]any{"file": "today"}); !strings.Contains(r.Text, "likes tea") {
		t.Errorf("get today: %+v", r)
	}
	if r := runTool(t, get, owner, map[string]any{}); !strings.Contains(r.Text, "born in Lyon") {
		t.Errorf("get MEMORY.md: %+v", r)
	}
	for _, c := range []Call{{Owner: false, ChatType: "direct"}, {Owner: true, ChatType: "group"}} {
		if r := runTool(t, get, c, map[string]any{}); !r.IsError || strings.Contains(r.Text, "Lyon") {
			t.Errorf("memory_get for %+v: %+v", c, r)
		}
		if r := runTool(t, write, c, map[string]any{"text": "x"}); !r.IsError {
			t.Errorf("memory_write for %+v: %+v", c, r)
		}
	}
	for _, f := range []string{"../secret.txt", "notes.md", "memory/../notes.md", "2026-13-45", "/etc/passwd"} {
		if r := runTool(t, get, owner, map[string]any{"file": f}); !r.IsError {
			t.Errorf("memory_get %q: %+v", f, r)
		}
	}
}

func TestMessageTool(t *testing.T) {
	var sent []string
	c := Call{Say: func(_ context.Context, s string) error { sent = append(sent, s); return nil }}
	if r := runTool(t, MessageTool{}, c, map[string]any{"text": "working on it"}); r.IsError || len(sent) != 1 || sent[0] != "working on it" {
		t.Errorf("message: %+v %v", r, sent)
	}
	if r := runTool(t, MessageTool{}, Call{}, map[string]any{"text": "x"}); !r.IsError {
		t.Errorf("message without a chat: %+v", r)
	}
	// No destination argument exists: a forged one is refused.
	if r := runTool(t, MessageTool{}, c, map[string]any{"text": "x", "chatId": "123"}); !r.IsError || len(sent) != 1 {
		t.Errorf("message with chatId: %+v", r)
	}
}
