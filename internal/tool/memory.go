package tool

import (
	"context"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"gatehouse/internal/llm"
)

// maxMemoryWrite caps one memory_write.
const maxMemoryWrite = 16 << 10

// MemoryTools returns memory_get and memory_write on the workspace's
// MEMORY.md (long-term memory) and memory/YYYY-MM-DD.md (daily notes).
// now is the clock (nil: time.Now).
//
// Memory is the owner's: both tools work only in turns started by the
// owner outside group chats, as MEMORY.md enters only those prompts. They
// run in the gateway, confined to the two memory locations by an
// [os.Root], whatever workspaceAccess says: memory is the agent's own
// notebook, not the owner's files.
func MemoryTools(dir string, now func() time.Time) []Tool {
	if dir == "" {
		return nil
	}
	if now == nil {
		now = time.Now
	}
	w := &wsRoot{dir: dir}
	return []Tool{&memoryGet{w, now}, &memoryWrite{w, now}}
}

var dayName = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

// memoryFile maps the model's file choice to a workspace path.
func memoryFile(file string, now time.Time) (string, error) {
	switch f := strings.TrimSpace(file); {
	case f == "" || strings.EqualFold(f, "MEMORY.md") || f == "memory":
		return "MEMORY.md", nil
	case f == "today":
		return "memory/" + now.UTC().Format(time.DateOnly) + ".md", nil
	case dayName.MatchString(strings.TrimSuffix(strings.TrimPrefix(f, "memory/"), ".md")):
		day := strings.TrimSuffix(strings.TrimPrefix(f, "memory/"), ".md")
		if _, err := time.Parse(time.DateOnly, day); err != nil {
			return "", fmt.Errorf("%q is not a date", day)
		}
		return "memory/" + day + ".md", nil
	default:
		return "", fmt.Errorf("file %q is not a memory file: use MEMORY.md, today, or a date YYYY-MM-DD", file)
	}
}

// memoryPrivate refuses memory outside the owner's private turns.
func memoryPrivate(call Call, name string) (Result, bool) {
	if !call.Owner || call.ChatType == "group" {
		return Errorf("%s: memory is private to the owner's direct conversations", name), false
	}
	return Result{}, true
}

type memoryGet struct {
	w   *wsRoot
	now func() time.Time
}

func (*memoryGet) Spec() llm.ToolSpec {
	return llm.ToolSpec{
		Name:        NameMemoryGet,
		Description: "Read the agent's memory: MEMORY.md (long-term, the default), today's notes (today), or a day's notes (YYYY-MM-DD).",
		Parameters:  schema(nil, `"file":{"type":"string","description":"MEMORY.md, today, or YYYY-MM-DD"}`),
	}
}

func (t *memoryGet) Run(ctx context.Context, call Call) (Result, error) {
	if r, ok := memoryPrivate(call, NameMemoryGet); !ok {
		return r, nil
	}
	var a struct {
		File string `json:"file"`
	}
	if err := DecodeArgs(call.Args, &a); err != nil {
		return Errorf("memory_get: %v", err), nil
	}
	p, err := memoryFile(a.File, t.now())
	if err != nil {
		return Errorf("memory_get: %v", err), nil
	}
	r, err := t.w.open()
	if err != nil {
		return Result{}, err
	}
	defer r.Close()
	f, err := r.Open(p)
	if os.IsNotExist(err) {
		return Result{Text: p + " is empty"}, nil
	}
	if err != nil {
		return fsError("memory_get", p, err), nil
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxReadBytes))
	if err != nil {
		return fsError("memory_get", p, err), nil
	}
	return Result{Text: strings.ToValidUTF8(string(b), "\uFFFD")}, nil
}

type memoryWrite struct {
	w   *wsRoot
	now func() time.Time
}

func (*memoryWrite) Spec() llm.ToolSpec {
	return llm.ToolSpec{
		Name:        NameMemoryWrite,
		Description: "Append a note to the agent's memory: today's notes (the default) or MEMORY.md for lasting facts.",
		Parameters: schema([]string{"text"}, `"text":{"type":"string","description":"The note to append"},`+
			`"file":{"type":"string","enum":["today","MEMORY.md"],"description":"today (default) or MEMORY.md"}`),
	}
}

func (t *memoryWrite) Run(ctx context.Context, call Call) (Result, error) {
	if r, ok := memoryPrivate(call, NameMemoryWrite); !ok {
		return r, nil
	}
	var a struct {
		Text string `json:"text"`
		File string `json:"file"`
	}
	if err := DecodeArgs(call.Args, &a); err != nil {
		return Errorf("memory_write: %v", err), nil
	}
	if a.File == "" {
		a.File = "today"
	}
	if a.File != "today" && !strings.EqualFold(a.File, "MEMORY.md") {
		return Errorf("memory_write: file must be today or MEMORY.md"), nil
	}
	text := strings.TrimSpace(a.Text)
	if text == "" {
		return Errorf("memory_write: text is empty"), nil
	}
	if len(text) > maxMemoryWrite {
		return Errorf("memory_write: text is %d bytes, over the limit of %d", len(text), maxMemoryWrite), nil
	}
	p, err := memoryFile(a.File, t.now())
	if err != nil {
		return Errorf("memory_write: %v", err), nil
	}
	r, err := t.w.open()
	if err != nil {
		return Result{}, err
	}
	defer r.Close()
	if strings.HasPrefix(p, "memory/") {
		if err := r.Mkdir("memory", 0o700); err != nil && !os.IsExist(err) {
			return fsError("memory_write", p, err), nil
		}
	}
	f, err := r.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fsError("memory_write", p, err), nil
	}
	if st, err := f.Stat(); err == nil && st.Size() > 4<<20 {
		f.Close()
		return Errorf("memory_write: %s is over 4 MiB; ask the owner to tidy it", p), nil
	}
	_, err = fmt.Fprintf(f, "\n- %s\n", text)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fsError("memory_write", p, err), nil
	}
	return Result{Text: "noted in " + p, SideEffects: true}, nil
}
