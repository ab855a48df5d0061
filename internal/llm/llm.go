// Package llm is how the agent talks to language models: the Provider
// interface, the message and tool types every provider translates to and
// from, error classification, failover between models, and token and cost
// accounting. Each wire protocol lives in a subpackage (openai, anthropic,
// gemini) built on that vendor's official Go SDK.
//
// It imports config and secret only; channels and the gateway never reach
// into it except through the agent.
package llm

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Role is who said a message.
type Role string

// Roles of messages in a conversation.
const (
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
	RoleTool      Role = "tool" // a tool's result, answering a ToolCall
)

// Message is one message of a conversation. The system prompt is not a
// message: it is Request.System.
type Message struct {
	Role Role `json:"role"`
	// Content is the text. For RoleTool it is the tool's result.
	Content string `json:"content,omitempty"`
	// ToolCalls are the tools an assistant message asks to run.
	ToolCalls []ToolCall `json:"toolCalls,omitempty"`
	// ToolCallID and ToolName identify the call a RoleTool message answers.
	ToolCallID string `json:"toolCallId,omitempty"`
	ToolName   string `json:"toolName,omitempty"`
	// IsError marks a tool result that reports a failure.
	IsError bool `json:"isError,omitempty"`
}

// ToolCall is the model asking to run a tool.
type ToolCall struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Arguments is the JSON object the model produced. It is untrusted.
	Arguments json.RawMessage `json:"arguments"`
}

// ToolSpec describes a tool to the model.
type ToolSpec struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Parameters is a JSON Schema object.
	Parameters json.RawMessage `json:"parameters"`
}

// Request is one model call.
type Request struct {
	// Model is the model id within its provider ("gpt-4o", not "openai/gpt-4o").
	Model    string
	System   string
	Messages []Message
	Tools    []ToolSpec
	// MaxTokens caps the output; 0 lets the provider choose (Anthropic, which
	// requires one, gets 4096).
	MaxTokens int
}

// Usage counts the tokens of one call. InputTokens are the prompt tokens
// neither read from nor written to the provider's prompt cache, so the
// whole prompt is InputTokens + CacheReadTokens + CacheWriteTokens
// (Anthropic counts this way; OpenAI's prompt_tokens, which include the
// cached ones, are split accordingly).
type Usage struct {
	InputTokens      int `json:"inputTokens"`
	OutputTokens     int `json:"outputTokens"`
	CacheReadTokens  int `json:"cacheReadTokens,omitempty"`
	CacheWriteTokens int `json:"cacheWriteTokens,omitempty"`
}

// Total is input plus output tokens.
func (u Usage) Total() int { return u.InputTokens + u.OutputTokens }

// Add sums two usages.
func (u Usage) Add(v Usage) Usage {
	return Usage{
		InputTokens:      u.InputTokens + v.InputTokens,
		OutputTokens:     u.OutputTokens + v.OutputTokens,
		CacheReadTokens:  u.CacheReadTokens + v.CacheReadTokens,
		CacheWriteTokens: u.CacheWriteTokens + v.CacheWriteTokens,
	}
}

// Response is the whole answer to a Request.
type Response struct {
	// Message is the assistant's message: text, tool calls or both.
	Message Message
	Usage   Usage
	// StopReason is the provider's reason, normalised: "stop", "tool_use",
	// "length" or the provider's own word.
	StopReason string
	// Model is the model that answered, as the provider reports it.
	Model string
}

// Provider is one LLM API. Chat streams text deltas to onDelta (which may
// be nil) as they arrive and returns the complete response. A Provider is
// safe for concurrent use. Errors are *Error.
type Provider interface {
	Chat(ctx context.Context, req *Request, onDelta func(text string)) (*Response, error)
}

// Ref is a model reference, provider/model, as in agents.defaults.model.primary.
type Ref struct {
	Provider string
	Model    string
}

// ParseRef splits "provider/model". The model part may itself contain
// slashes (openrouter/meta-llama/llama-3-70b).
func ParseRef(s string) (Ref, error) {
	p, m, ok := strings.Cut(s, "/")
	if !ok || p == "" || m == "" {
		return Ref{}, fmt.Errorf("model %q is not provider/model, e.g. anthropic/claude-sonnet-4-5", s)
	}
	return Ref{Provider: p, Model: m}, nil
}

func (r Ref) String() string { return r.Provider + "/" + r.Model }

// MarshalText writes the reference as provider/model, so that JSON shows
// it as one string.
func (r Ref) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText reads provider/model.
func (r *Ref) UnmarshalText(b []byte) error {
	v, err := ParseRef(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// ErrorKind classifies provider errors for retry and failover.
type ErrorKind string

// Error kinds. Retryable: RateLimit, Overloaded, Server, Timeout, Network.
const (
	KindRateLimit  ErrorKind = "rate_limit"  // 429
	KindOverloaded ErrorKind = "overloaded"  // 529, "overloaded_error"
	KindServer     ErrorKind = "server"      // 5xx
	KindTimeout    ErrorKind = "timeout"     // deadline, 408
	KindNetwork    ErrorKind = "network"     // connection refused, reset
	KindAuth       ErrorKind = "auth"        // 401, 403: the key is wrong or revoked
	KindBilling    ErrorKind = "billing"     // 402, insufficient_quota, credit exhausted
	KindBadRequest ErrorKind = "bad_request" // 400, 404, 422: our request is wrong
	KindContext    ErrorKind = "context_length"
	KindCanceled   ErrorKind = "canceled" // the caller's context ended
	KindUnknown    ErrorKind = "unknown"
)

// Error is a classified provider error. Message never holds a secret: it
// is rebuilt from the provider's status and error type, and redacted.
type Error struct {
	Kind     ErrorKind
	Provider string
	Model    string
	Status   int // HTTP status, 0 when none
	// RetryAfter is the provider's Retry-After, when it sent one.
	RetryAfter time.Duration
	Message    string
	Err        error
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%s/%s: %s", e.Provider, e.Model, e.Kind)
	if e.Status != 0 {
		s += fmt.Sprintf(" (HTTP %d)", e.Status)
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Retryable reports whether trying again (the same model later, or another
// model) may succeed.
func (e *Error) Retryable() bool {
	switch e.Kind {
	case KindRateLimit, KindOverloaded, KindServer, KindTimeout, KindNetwork:
		return true
	}
	return false
}
