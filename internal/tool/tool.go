package tool

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"gatehouse/internal/llm"
)

// Tool is something the model may ask the agent to do. Run gets arguments
// the model wrote, which are untrusted: decode them with [DecodeArgs]. A
// failure the model should see and recover from (bad arguments, a missing
// file) is a Result with IsError set; an error return is for failures of
// the tool itself, and the agent shows the model only a generic message
// for it. Run must return promptly once ctx is done.
type Tool interface {
	Spec() llm.ToolSpec
	Run(ctx context.Context, call Call) (Result, error)
}

// Call is one request to run a tool.
type Call struct {
	// SessionKey is the session whose turn asked for the call.
	SessionKey string
	// Args is the JSON object the model produced; untrusted.
	Args json.RawMessage
	// Owner reports whether the message that started the turn came from
	// the owner.
	Owner bool
	// Channel, SenderID and ChatType say where the message that started
	// the turn came from: "telegram", the sender's platform id, "direct"
	// or "group". Channel is "cli" or "api" for the gateway's own doors.
	Channel  string
	SenderID string
	ChatType string
	// Say sends text to the chat the turn answers, before the reply; nil
	// when the turn has no chat to send to (the OpenAI-compatible API).
	Say func(ctx context.Context, text string) error
	// Status answers questions about the session, for session_status. The
	// agent sets it; it is nil outside an agent turn.
	Status StatusSource
}

// Result is what a tool returns to the model. The agent fences Text as
// untrusted data before the model sees it, whatever the tool.
type Result struct {
	Text    string
	IsError bool
	// SideEffects reports that the call changed something outside the
	// conversation (wrote a file, sent a message), so that retrying it is
	// not harmless.
	SideEffects bool
}

// Errorf returns a Result that reports a failure to the model.
func Errorf(format string, args ...any) Result {
	return Result{Text: fmt.Sprintf(format, args...), IsError: true}
}

// reserved are names no tool may have: tools with these names would
// reconfigure the gateway, and Gatehouse has none. tools.deny in the
// seed guides lists the first two; they are refused here whatever the
// config says.
var reserved = []string{"gateway", "nodes", "config", "pairing"}

// IsReserved reports whether name is one that no tool may have.
func IsReserved(name string) bool {
	return slices.Contains(reserved, strings.ToLower(strings.TrimSpace(name)))
}

// validName is what every provider accepts as a function name.
var validName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// Registry is the set of tools a gateway offers, by name. It is immutable
// once made, and safe for concurrent use.
type Registry struct {
	tools map[string]Tool
	names []string // sorted, so that prompts are stable
}

// NewRegistry returns a registry of tools. It panics if two tools share a
// name, if a name is not lowercase letters, digits and underscores, or if a
// name is reserved for gateway control ("gateway", "nodes", "config",
// "pairing"): all of these are programming errors.
func NewRegistry(tools ...Tool) *Registry {
	r := &Registry{tools: make(map[string]Tool, len(tools))}
	for _, t := range tools {
		name := t.Spec().Name
		switch {
		case !validName.MatchString(name):
			panic(fmt.Sprintf("tool: invalid tool name %q: use lowercase letters, digits and underscores", name))
		case IsReserved(name):
			panic(fmt.Sprintf("tool: %q is reserved: tools that control the gateway are never registered", name))
		case r.tools[name] != nil:
			panic(fmt.Sprintf("tool: two tools named %q", name))
		}
		r.tools[name] = t
		r.names = append(r.names, name)
	}
	slices.Sort(r.names)
	return r
}

// Specs returns the specs of the tools for which allow returns true (all
// of them when allow is nil), sorted by name.
func (r *Registry) Specs(allow func(name string) bool) []llm.ToolSpec {
	if r == nil {
		return nil
	}
	var out []llm.ToolSpec
	for _, name := range r.names {
		if allow == nil || allow(name) {
			out = append(out, r.tools[name].Spec())
		}
	}
	return out
}

// Lookup returns the tool named name. It does not apply policy: check
// [Allowed] first.
func (r *Registry) Lookup(name string) (Tool, bool) {
	if r == nil {
		return nil, false
	}
	t, ok := r.tools[name]
	return t, ok
}
