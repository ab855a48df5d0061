// Package anthropic is the llm.Provider for Anthropic's Messages API, built
// on the official SDK github.com/anthropics/anthropic-sdk-go.
//
// The SDK's client reads ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL, profiles
// under ~/.config and federation settings from the environment; this
// package never builds that client, so only what Options holds reaches the
// wire. The SDK does not retry: the llm.Router decides about retries.
//
// Only the provider registry (internal/llm/providers) imports it.
package anthropic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"
	"github.com/anthropics/anthropic-sdk-go/packages/param"

	"gatehouse/internal/llm"
)

// DefaultBaseURL is Anthropic's API, used when Options.BaseURL is empty.
const DefaultBaseURL = "https://api.anthropic.com"

// DefaultMaxTokens is max_tokens when the request sets none; the Messages
// API requires one.
const DefaultMaxTokens = 4096

// Options configures a Provider.
type Options struct {
	// Name is the provider's name in models.providers, carried by errors.
	// Empty means "anthropic".
	Name string
	// APIKey is sent in the x-api-key header.
	APIKey string
	// BaseURL is the API root without /v1, e.g. https://api.anthropic.com.
	// Empty means DefaultBaseURL. Plain http is accepted only for loopback
	// hosts, so the key never crosses a network in clear.
	BaseURL string
	// HTTPClient sends the requests. Nil means a client of its own that,
	// unlike http.DefaultClient, takes no proxy from the environment.
	HTTPClient *http.Client
}

// Provider is an Anthropic Messages API provider. It is safe for
// concurrent use.
type Provider struct {
	name string
	svc  anthropic.MessageService
}

var _ llm.Provider = (*Provider)(nil)

// New returns a Provider. It does no I/O.
func New(o Options) (*Provider, error) {
	name := o.Name
	if name == "" {
		name = "anthropic"
	}
	if o.APIKey == "" {
		return nil, fmt.Errorf("provider %q has no API key: set models.providers.%s.apiKey", name, name)
	}
	base := o.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	if _, err := llm.CheckBaseURL(base, true); err != nil {
		return nil, fmt.Errorf("provider %q: models.providers.%s.baseUrl: %w", name, name, err)
	}
	hc := o.HTTPClient
	if hc == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.Proxy = nil
		hc = &http.Client{Transport: t}
	}
	return &Provider{
		name: name,
		// NewMessageService, not anthropic.NewClient: the client starts
		// from DefaultClientOptions, which read the environment and
		// credential files.
		svc: anthropic.NewMessageService(
			option.WithBaseURL(base),
			option.WithHTTPClient(hc),
			option.WithMaxRetries(0),
			option.WithAPIKey(o.APIKey),
		),
	}, nil
}

// Chat sends req as a streaming Messages request.
func (p *Provider) Chat(ctx context.Context, req *llm.Request, onDelta func(text string)) (*llm.Response, error) {
	params, err := buildParams(req)
	if err != nil {
		return nil, &llm.Error{Kind: llm.KindBadRequest, Provider: p.name, Model: req.Model, Message: err.Error()}
	}
	stream := p.svc.NewStreaming(ctx, params)
	defer stream.Close()

	var (
		blocks = map[int64]*block{}
		order  []int64
		resp   = &llm.Response{Model: req.Model}
		stop   string
	)
	for stream.Next() {
		ev := stream.Current()
		switch ev.Type {
		case "message_start":
			if ev.Message.Model != "" {
				resp.Model = ev.Message.Model
			}
			u := ev.Message.Usage
			resp.Usage = llm.Usage{
				InputTokens:      int(u.InputTokens),
				OutputTokens:     int(u.OutputTokens),
				CacheReadTokens:  int(u.CacheReadInputTokens),
				CacheWriteTokens: int(u.CacheCreationInputTokens),
			}
		case "content_block_start":
			cb := ev.ContentBlock
			b := &block{kind: cb.Type, id: cb.ID, name: cb.Name}
			if cb.Type == "text" && cb.Text != "" {
				b.buf.WriteString(cb.Text)
				if onDelta != nil {
					onDelta(cb.Text)
				}
			}
			if _, dup := blocks[ev.Index]; !dup {
				order = append(order, ev.Index)
			}
			blocks[ev.Index] = b
		case "content_block_delta":
			b := blocks[ev.Index]
			if b == nil {
				continue
			}
			switch ev.Delta.Type {
			case "text_delta":
				b.buf.WriteString(ev.Delta.Text)
				if onDelta != nil && ev.Delta.Text != "" {
					onDelta(ev.Delta.Text)
				}
			case "input_json_delta":
				b.buf.WriteString(ev.Delta.PartialJSON)
			}
		case "message_delta":
			if ev.Delta.StopReason != "" {
				stop = string(ev.Delta.StopReason)
			}
			// message_delta's counts are cumulative; input counts appear
			// only where the server revises them.
			u := ev.Usage
			if u.OutputTokens > 0 {
				resp.Usage.OutputTokens = int(u.OutputTokens)
			}
			if u.InputTokens > 0 {
				resp.Usage.InputTokens = int(u.InputTokens)
			}
			if u.CacheReadInputTokens > 0 {
				resp.Usage.CacheReadTokens = int(u.CacheReadInputTokens)
			}
			if u.CacheCreationInputTokens > 0 {
				resp.Usage.CacheWriteTokens = int(u.CacheCreationInputTokens)
			}
		}
	}
	if err := stream.Err(); err != nil {
		return nil, p.classify(ctx, req.Model, err)
	}

	var text strings.Builder
	msg := llm.Message{Role: llm.RoleAssistant}
	for _, i := range order {
		b := blocks[i]
		switch b.kind {
		case "text":
			text.WriteString(b.buf.String())
		case "tool_use":
			msg.ToolCalls = append(msg.ToolCalls, b.toolCall())
		}
	}
	msg.Content = text.String()
	resp.Message = msg
	resp.StopReason = stopReason(stop, len(msg.ToolCalls) > 0)
	return resp, nil
}

// block is one content block being streamed: text, or a tool_use whose
// input arrives as pieces of JSON.
type block struct {
	kind string
	id   string
	name string
	buf  strings.Builder
}

func (b *block) toolCall() llm.ToolCall {
	args := strings.TrimSpace(b.buf.String())
	if args == "" {
		args = "{}"
	}
	raw := json.RawMessage(args)
	if !json.Valid(raw) {
		raw, _ = json.Marshal(args)
	}
	return llm.ToolCall{ID: b.id, Name: b.name, Arguments: raw}
}

func stopReason(s string, hasCalls bool) string {
	switch s {
	case "end_turn", "stop_sequence":
		return "stop"
	case "tool_use":
		return "tool_use"
	case "max_tokens", "model_context_window_exceeded":
		return "length"
	case "":
		if hasCalls {
			return "tool_use"
		}
		return "stop"
	}
	return s
}

func buildParams(req *llm.Request) (anthropic.MessageNewParams, error) {
	params := anthropic.MessageNewParams{
		Model:     anthropic.Model(req.Model),
		MaxTokens: DefaultMaxTokens,
	}
	if req.MaxTokens > 0 {
		params.MaxTokens = int64(req.MaxTokens)
	}
	if req.System != "" {
		params.System = []anthropic.TextBlockParam{{Text: req.System}}
	}
	for i, m := range req.Messages {
		var (
			role   anthropic.MessageParamRole
			blocks []anthropic.ContentBlockParamUnion
		)
		switch m.Role {
		case llm.RoleUser:
			role = anthropic.MessageParamRoleUser
			if m.Content != "" {
				blocks = append(blocks, anthropic.NewTextBlock(m.Content))
			}
		case llm.RoleAssistant:
			role = anthropic.MessageParamRoleAssistant
			if m.Content != "" {
				blocks = append(blocks, anthropic.NewTextBlock(m.Content))
			}
			for _, tc := range m.ToolCalls {
				args := tc.Arguments
				if len(args) == 0 || !json.Valid(args) {
					args = json.RawMessage("{}")
				}
				blocks = append(blocks, anthropic.NewToolUseBlock(tc.ID, args, tc.Name))
			}
		case llm.RoleTool:
			// Tool results travel in a user message; consecutive ones are
			// merged below into one, as the API requires.
			role = anthropic.MessageParamRoleUser
			tr := anthropic.ToolResultBlockParam{ToolUseID: m.ToolCallID}
			if m.Content != "" {
				tr.Content = []anthropic.ToolResultBlockParamContentUnion{{OfText: &anthropic.TextBlockParam{Text: m.Content}}}
			}
			if m.IsError {
				tr.IsError = param.NewOpt(true)
			}
			blocks = append(blocks, anthropic.ContentBlockParamUnion{OfToolResult: &tr})
		default:
			return params, fmt.Errorf("message %d has role %q: want user, assistant or tool", i, m.Role)
		}
		if len(blocks) == 0 {
			continue // the API refuses empty text blocks
		}
		if n := len(params.Messages); n > 0 && params.Messages[n-1].Role == role {
			params.Messages[n-1].Content = append(params.Messages[n-1].Content, blocks...)
			continue
		}
		params.Messages = append(params.Messages, anthropic.MessageParam{Role: role, Content: blocks})
	}
	for _, t := range req.Tools {
		var schema struct {
			Properties any      `json:"properties"`
			Required   []string `json:"required"`
		}
		var extra map[string]any
		if len(t.Parameters) > 0 {
			if err := json.Unmarshal(t.Parameters, &schema); err != nil {
				return params, fmt.Errorf("tool %q: parameters are not a JSON object: %w", t.Name, err)
			}
			if err := json.Unmarshal(t.Parameters, &extra); err != nil {
				return params, fmt.Errorf("tool %q: parameters are not a JSON object: %w", t.Name, err)
			}
			for _, k := range []string{"type", "properties", "required"} {
				delete(extra, k)
			}
		}
		if schema.Properties == nil {
			schema.Properties = map[string]any{}
		}
		tp := anthropic.ToolParam{
			Name: t.Name,
			InputSchema: anthropic.ToolInputSchemaParam{
				Properties:  schema.Properties,
				Required:    schema.Required,
				ExtraFields: extra,
			},
		}
		if t.Description != "" {
			tp.Description = param.NewOpt(t.Description)
		}
		params.Tools = append(params.Tools, anthropic.ToolUnionParam{OfTool: &tp})
	}
	return params, nil
}

// classify turns whatever the SDK returned into an *llm.Error rebuilt from
// the status and Anthropic's error type. The SDK's error is dropped: it
// holds the request, whose headers carry the key, and the raw body.
func (p *Provider) classify(ctx context.Context, model string, err error) *llm.Error {
	var apiErr *anthropic.Error
	if errors.As(err, &apiErr) {
		var body struct {
			Error struct {
				Type    string `json:"type"`
				Message string `json:"message"`
			} `json:"error"`
		}
		_ = json.Unmarshal([]byte(apiErr.RawJSON()), &body)
		typ := string(apiErr.Type())
		if typ == "" {
			typ = body.Error.Type
		}
		status := apiErr.StatusCode
		var h http.Header
		if apiErr.Response != nil {
			h = apiErr.Response.Header
			if status == 0 {
				status = apiErr.Response.StatusCode
			}
		}
		if status == http.StatusOK {
			// An error event in a stream that began well: the status
			// says nothing about it.
			status = 0
		}
		e := llm.HTTPError(p.name, model, status, h, time.Now(), typ, "", body.Error.Message)
		if e.Kind == llm.KindUnknown && status == 0 {
			e.Kind = llm.KindServer
		}
		return e
	}
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return &llm.Error{Kind: llm.KindServer, Provider: p.name, Model: model, Message: "the response stream is not valid JSON"}
	}
	return llm.TransportError(ctx, p.name, model, err)
}
