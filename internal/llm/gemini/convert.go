package gemini

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/genai"

	"gatehouse/internal/llm"
)

// skipSignature is the thought signature Google documents for function
// calls the model did not just produce (history rebuilt by the client):
// https://ai.google.dev/gemini-api/docs/thought-signatures. llm.ToolCall has
// no field to carry the model's real signature from one turn to the next.
const skipSignature = "skip_thought_signature_validator"

// toContents translates the conversation into Gemini contents: user turns
// as "user", assistant turns as "model" with FunctionCall parts, and tool
// results as FunctionResponse parts of a "user" turn, consecutive results
// sharing one turn. Gemini has no call ids: a result is matched to its call
// by the function name.
func toContents(msgs []llm.Message, signed bool) ([]*genai.Content, error) {
	names := make(map[string]string) // ToolCall.ID → name, for results without ToolName
	var out []*genai.Content
	for i, m := range msgs {
		switch m.Role {
		case llm.RoleUser:
			if m.Content == "" {
				continue
			}
			out = append(out, &genai.Content{Role: genai.RoleUser, Parts: []*genai.Part{{Text: m.Content}}})
		case llm.RoleAssistant:
			var parts []*genai.Part
			if m.Content != "" {
				parts = append(parts, &genai.Part{Text: m.Content})
			}
			for _, tc := range m.ToolCalls {
				if tc.Name == "" {
					return nil, fmt.Errorf("message %d: tool call %q has no name", i, tc.ID)
				}
				args, err := decodeObject(tc.Arguments)
				if err != nil {
					return nil, fmt.Errorf("message %d: tool call %s arguments: %w", i, tc.Name, err)
				}
				names[tc.ID] = tc.Name
				parts = append(parts, &genai.Part{FunctionCall: &genai.FunctionCall{Name: tc.Name, Args: args}})
			}
			if len(parts) == 0 {
				continue // Gemini refuses a turn without parts
			}
			out = append(out, &genai.Content{Role: genai.RoleModel, Parts: parts})
		case llm.RoleTool:
			name := m.ToolName
			if name == "" {
				name = names[m.ToolCallID]
			}
			if name == "" {
				return nil, fmt.Errorf("message %d: tool result for call %q names no tool: set its ToolName", i, m.ToolCallID)
			}
			key := "output"
			if m.IsError {
				key = "error"
			}
			part := &genai.Part{FunctionResponse: &genai.FunctionResponse{
				Name:     name,
				Response: map[string]any{key: m.Content},
			}}
			if n := len(out); n > 0 && out[n-1].Role == genai.RoleUser && isResponses(out[n-1]) {
				out[n-1].Parts = append(out[n-1].Parts, part)
				continue
			}
			out = append(out, &genai.Content{Role: genai.RoleUser, Parts: []*genai.Part{part}})
		default:
			return nil, fmt.Errorf("message %d: unknown role %q", i, m.Role)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("the request has no message with content")
	}
	return out, nil
}

// isResponses reports whether c holds only function responses.
func isResponses(c *genai.Content) bool {
	for _, p := range c.Parts {
		if p.FunctionResponse == nil {
			return false
		}
	}
	return true
}

// decodeObject decodes a JSON object; empty input is an empty object.
func decodeObject(raw json.RawMessage) (map[string]any, error) {
	obj := map[string]any{}
	if len(raw) == 0 || string(raw) == "null" {
		return obj, nil
	}
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, errors.New("not a JSON object")
	}
	return obj, nil
}

// toTools declares the tools as functions, passing their JSON Schema as is
// (parametersJsonSchema), so no schema is lost in a conversion.
func toTools(specs []llm.ToolSpec) ([]*genai.Tool, error) {
	if len(specs) == 0 {
		return nil, nil
	}
	decls := make([]*genai.FunctionDeclaration, 0, len(specs))
	for _, s := range specs {
		d := &genai.FunctionDeclaration{Name: s.Name, Description: s.Description}
		if len(s.Parameters) > 0 && string(s.Parameters) != "null" {
			schema, err := decodeObject(s.Parameters)
			if err != nil {
				return nil, fmt.Errorf("tool %s parameters: %w", s.Name, err)
			}
			d.ParametersJsonSchema = schema
		}
		decls = append(decls, d)
	}
	return []*genai.Tool{{FunctionDeclarations: decls}}, nil
}

// addSignatures gives the first function call of each model turn of a
// request body the documented placeholder thought signature, unless it has
// one. It edits the JSON body the SDK is about to send, because the SDK
// would base64-encode a []byte ThoughtSignature and Google documents the
// placeholder as the literal field value.
func addSignatures(body map[string]any) map[string]any {
	for _, c := range asSlice(body["contents"]) {
		content, _ := c.(map[string]any)
		if content == nil || content["role"] != genai.RoleModel {
			continue
		}
		for _, p := range asSlice(content["parts"]) {
			part, _ := p.(map[string]any)
			if part == nil || part["functionCall"] == nil {
				continue
			}
			if _, ok := part["thoughtSignature"]; !ok {
				part["thoughtSignature"] = skipSignature
			}
			break // parallel calls: only the first carries a signature
		}
	}
	return body
}

// asSlice returns v's elements when v is a slice of JSON values.
func asSlice(v any) []any {
	switch s := v.(type) {
	case []any:
		return s
	case []map[string]any:
		out := make([]any, len(s))
		for i, m := range s {
			out[i] = m
		}
		return out
	}
	return nil
}

// countToolCalls counts the tool calls in msgs, so that the ids of a new
// response's calls continue the conversation's numbering: ids stay stable
// across a retry of the same request and unique within the conversation
// (other providers, reached on failover, require that).
func countToolCalls(msgs []llm.Message) int {
	n := 0
	for _, m := range msgs {
		n += len(m.ToolCalls)
	}
	return n
}

// accumulator builds one llm.Response from the chunks of a stream.
type accumulator struct {
	firstID int
	onDelta func(string)

	chunks int
	text   strings.Builder
	calls  []llm.ToolCall
	finish genai.FinishReason
	block  genai.BlockedReason
	usage  *genai.GenerateContentResponseUsageMetadata
	model  string
}

func (a *accumulator) add(c *genai.GenerateContentResponse) {
	if c == nil {
		return
	}
	a.chunks++
	if c.ModelVersion != "" {
		a.model = c.ModelVersion
	}
	// Each chunk's usage is the running total, not an increment.
	if c.UsageMetadata != nil {
		a.usage = c.UsageMetadata
	}
	if c.PromptFeedback != nil && c.PromptFeedback.BlockReason != "" {
		a.block = c.PromptFeedback.BlockReason
	}
	if len(c.Candidates) == 0 || c.Candidates[0] == nil {
		return
	}
	cand := c.Candidates[0]
	if cand.FinishReason != "" && cand.FinishReason != genai.FinishReasonUnspecified {
		a.finish = cand.FinishReason
	}
	if cand.Content == nil {
		return
	}
	for _, p := range cand.Content.Parts {
		switch {
		case p == nil || p.Thought:
			// Thought summaries are not part of the answer.
		case p.FunctionCall != nil:
			a.addCall(p.FunctionCall)
		case p.Text != "":
			a.text.WriteString(p.Text)
			if a.onDelta != nil {
				a.onDelta(p.Text)
			}
		}
	}
}

func (a *accumulator) addCall(fc *genai.FunctionCall) {
	id := fc.ID
	if id == "" {
		id = "call_" + strconv.Itoa(a.firstID+len(a.calls))
	}
	args := json.RawMessage("{}")
	if len(fc.Args) > 0 {
		// A map decoded from JSON always encodes.
		b, err := json.Marshal(fc.Args)
		if err == nil {
			args = b
		}
	}
	a.calls = append(a.calls, llm.ToolCall{ID: id, Name: fc.Name, Arguments: args})
}

func (a *accumulator) response() *llm.Response {
	r := &llm.Response{
		Message: llm.Message{
			Role:      llm.RoleAssistant,
			Content:   a.text.String(),
			ToolCalls: a.calls,
		},
		StopReason: a.stopReason(),
		Model:      a.model,
	}
	if u := a.usage; u != nil {
		// Totals as Gemini bills them: input includes the cached tokens
		// (CacheReadTokens is the cached share of it) and the tool-use
		// prompt; output includes thinking. Usage.Total() then equals
		// totalTokenCount.
		r.Usage = llm.Usage{
			InputTokens:     int(u.PromptTokenCount + u.ToolUsePromptTokenCount),
			OutputTokens:    int(u.CandidatesTokenCount + u.ThoughtsTokenCount),
			CacheReadTokens: int(u.CachedContentTokenCount),
		}
	}
	return r
}

// stopReason normalises the finish reason: "stop", "tool_use", "length", or
// Gemini's own word in lower case ("safety", "malformed_function_call").
// Gemini finishes a turn that calls functions with STOP; aimock says
// FUNCTION_CALL, which Gemini does not define.
func (a *accumulator) stopReason() string {
	switch {
	case a.finish == genai.FinishReasonMaxTokens:
		return "length"
	case len(a.calls) > 0 && (a.finish == genai.FinishReasonStop || a.finish == "" || a.finish == "FUNCTION_CALL"):
		return "tool_use"
	case a.finish == genai.FinishReasonStop:
		return "stop"
	case a.finish != "":
		return strings.ToLower(string(a.finish))
	case a.block != "":
		return strings.ToLower(string(a.block))
	}
	return ""
}
