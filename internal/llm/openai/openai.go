// Package openai is the llm.Provider for OpenAI's Chat Completions API and
// every server that speaks it (Ollama, vLLM, llama.cpp, LM Studio,
// OpenRouter), built on the official SDK github.com/openai/openai-go/v3.
//
// The SDK's client reads OPENAI_API_KEY, OPENAI_BASE_URL, OPENAI_ORG_ID and
// more from the environment; this package never builds that client, so
// only what Options holds reaches the wire. The SDK does not retry: the
// llm.Router decides about retries.
//
// Only the provider registry (internal/llm/providers) imports it.
package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/param"
	"github.com/openai/openai-go/v3/packages/ssestream"
	"github.com/openai/openai-go/v3/shared"

	"gatehouse/internal/llm"
)

// DefaultBaseURL is OpenAI's API, used when Options.BaseURL is empty.
const DefaultBaseURL = "https://api.openai.com/v1"

// Options configures a Provider.
type Options struct {
	// Name is the provider's name in models.providers ("openai", "ollama"),
	// carried by errors. Empty means "openai".
	Name string
	// APIKey is sent as a bearer token. Empty sends none (local servers).
	APIKey string
	// BaseURL is the API root including /v1, e.g.
	// http://127.0.0.1:11434/v1. Empty means DefaultBaseURL. Plain http
	// with an API key is accepted only for loopback hosts, so a key never
	// crosses a network in clear.
	BaseURL string
	// HTTPClient sends the requests. Nil means a client of its own that,
	// unlike http.DefaultClient, takes no proxy from the environment.
	HTTPClient *http.Client
}

// Provider is an OpenAI Chat Completions provider. It is safe for
// concurrent use.
type Provider struct {
	name string
	svc  openai.ChatCompletionService
	// maxCompletion sends max_completion_tokens (OpenAI itself, whose
	// reasoning models refuse max_tokens) rather than max_tokens (which
	// every compatible server understands).
	maxCompletion bool
}

var _ llm.Provider = (*Provider)(nil)

// New returns a Provider. It does no I/O.
func New(o Options) (*Provider, error) {
	name := o.Name
	if name == "" {
		name = "openai"
	}
	base := o.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	u, err := llm.CheckBaseURL(base, o.APIKey != "")
	if err != nil {
		return nil, fmt.Errorf("provider %q: models.providers.%s.baseUrl: %w", name, name, err)
	}
	hc := o.HTTPClient
	if hc == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.Proxy = nil
		hc = &http.Client{Transport: t}
	}
	opts := []option.RequestOption{
		option.WithBaseURL(base),
		option.WithHTTPClient(hc),
		option.WithMaxRetries(0),
		option.WithMiddleware(normalizeErrorBody),
	}
	if o.APIKey != "" {
		opts = append(opts, option.WithAPIKey(o.APIKey))
	}
	return &Provider{
		name: name,
		// NewChatCompletionService, not openai.NewClient: the client
		// starts from DefaultClientOptions, which read the environment.
		svc:           openai.NewChatCompletionService(opts...),
		maxCompletion: u.Hostname() == "api.openai.com",
	}, nil
}

// normalizeErrorBody rewrites an error body of the form {"error": "text"}
// (LM Studio, llama.cpp, some proxies) to OpenAI's {"error": {"message":
// "text"}}. The SDK fails to decode the former and then reports a JSON
// error instead of the HTTP status, which would hide a 404 or a 401.
func normalizeErrorBody(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
	res, err := next(req)
	if err != nil || res.StatusCode < 400 {
		return res, err
	}
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	var body struct {
		Error json.RawMessage `json:"error"`
	}
	var msg string
	if json.Unmarshal(b, &body) == nil && json.Unmarshal(body.Error, &msg) == nil {
		b, _ = json.Marshal(map[string]any{"error": map[string]string{"message": msg}})
		res.ContentLength = int64(len(b))
		res.Header.Del("Content-Length")
	}
	res.Body = io.NopCloser(bytes.NewReader(b))
	return res, nil
}

// Chat sends req as a streaming chat completion.
func (p *Provider) Chat(ctx context.Context, req *llm.Request, onDelta func(text string)) (*llm.Response, error) {
	params, err := p.params(req)
	if err != nil {
		return nil, &llm.Error{Kind: llm.KindBadRequest, Provider: p.name, Model: req.Model, Message: err.Error()}
	}
	stream := p.svc.NewStreaming(ctx, params)
	defer stream.Close()

	var (
		text   strings.Builder
		calls  []*toolCallAcc
		resp   = &llm.Response{Model: req.Model}
		finish string
	)
	for stream.Next() {
		ch := stream.Current()
		if ch.Model != "" {
			resp.Model = ch.Model
		}
		if ch.JSON.Usage.Valid() {
			resp.Usage = usage(ch.Usage)
		}
		for _, c := range ch.Choices {
			if c.Index != 0 {
				continue // we never ask for n > 1
			}
			if d := c.Delta.Content; d != "" {
				text.WriteString(d)
				if onDelta != nil {
					onDelta(d)
				}
			}
			for _, tc := range c.Delta.ToolCalls {
				calls = addToolCallDelta(calls, tc)
			}
			if c.FinishReason != "" {
				finish = c.FinishReason
			}
		}
	}
	if err := stream.Err(); err != nil {
		return nil, p.classify(ctx, req.Model, err)
	}
	resp.Message = llm.Message{Role: llm.RoleAssistant, Content: text.String()}
	for _, c := range calls {
		resp.Message.ToolCalls = append(resp.Message.ToolCalls, c.toolCall())
	}
	resp.StopReason = stopReason(finish, len(calls) > 0)
	return resp, nil
}

func (p *Provider) params(req *llm.Request) (openai.ChatCompletionNewParams, error) {
	params := openai.ChatCompletionNewParams{
		Model:         shared.ChatModel(req.Model),
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: param.NewOpt(true)},
	}
	if req.MaxTokens > 0 {
		if p.maxCompletion {
			params.MaxCompletionTokens = param.NewOpt(int64(req.MaxTokens))
		} else {
			params.MaxTokens = param.NewOpt(int64(req.MaxTokens))
		}
	}
	if req.System != "" {
		params.Messages = append(params.Messages, openai.SystemMessage(req.System))
	}
	for i, m := range req.Messages {
		switch m.Role {
		case llm.RoleUser:
			params.Messages = append(params.Messages, openai.UserMessage(m.Content))
		case llm.RoleAssistant:
			var a openai.ChatCompletionAssistantMessageParam
			if m.Content != "" {
				a.Content.OfString = param.NewOpt(m.Content)
			}
			for _, tc := range m.ToolCalls {
				args := string(tc.Arguments)
				if args == "" {
					args = "{}"
				}
				a.ToolCalls = append(a.ToolCalls, openai.ChatCompletionMessageToolCallUnionParam{
					OfFunction: &openai.ChatCompletionMessageFunctionToolCallParam{
						ID:       tc.ID,
						Function: openai.ChatCompletionMessageFunctionToolCallFunctionParam{Name: tc.Name, Arguments: args},
					},
				})
			}
			params.Messages = append(params.Messages, openai.ChatCompletionMessageParamUnion{OfAssistant: &a})
		case llm.RoleTool:
			content := m.Content
			if m.IsError {
				content = "error: " + content
			}
			params.Messages = append(params.Messages, openai.ToolMessage(content, m.ToolCallID))
		default:
			return params, fmt.Errorf("message %d has role %q: want user, assistant or tool", i, m.Role)
		}
	}
	for _, t := range req.Tools {
		schema := shared.FunctionParameters{"type": "object", "properties": map[string]any{}}
		if len(t.Parameters) > 0 {
			schema = nil
			if err := json.Unmarshal(t.Parameters, &schema); err != nil {
				return params, fmt.Errorf("tool %q: parameters are not a JSON object: %w", t.Name, err)
			}
		}
		fd := shared.FunctionDefinitionParam{Name: t.Name, Parameters: schema}
		if t.Description != "" {
			fd.Description = param.NewOpt(t.Description)
		}
		params.Tools = append(params.Tools, openai.ChatCompletionFunctionTool(fd))
	}
	return params, nil
}

// toolCallAcc assembles one tool call from its streamed fragments: the
// first carries the id and name, the rest pieces of the arguments.
type toolCallAcc struct {
	index int64
	id    string
	name  string
	args  strings.Builder
}

func addToolCallDelta(calls []*toolCallAcc, d openai.ChatCompletionChunkChoiceDeltaToolCall) []*toolCallAcc {
	// Find the call with this index. Some compatible servers send every
	// call with index 0 and a fresh id, so a new id starts a new call.
	for i := len(calls) - 1; i >= 0; i-- {
		c := calls[i]
		if c.index != d.Index {
			continue
		}
		if d.ID != "" && c.id != "" && d.ID != c.id {
			break
		}
		if c.id == "" {
			c.id = d.ID
		}
		c.name += d.Function.Name
		c.args.WriteString(d.Function.Arguments)
		return calls
	}
	c := &toolCallAcc{index: d.Index, id: d.ID, name: d.Function.Name}
	c.args.WriteString(d.Function.Arguments)
	return append(calls, c)
}

func (c *toolCallAcc) toolCall() llm.ToolCall {
	args := strings.TrimSpace(c.args.String())
	if args == "" {
		args = "{}"
	}
	raw := json.RawMessage(args)
	if !json.Valid(raw) {
		// Keep what the model said, as a JSON string, so the tool reports
		// "arguments are not an object" back to the model.
		raw, _ = json.Marshal(args)
	}
	id := c.id
	if id == "" {
		id = fmt.Sprintf("call_%d", c.index)
	}
	return llm.ToolCall{ID: id, Name: c.name, Arguments: raw}
}

func stopReason(finish string, hasCalls bool) string {
	switch finish {
	case "stop":
		if hasCalls {
			return "tool_use" // Ollama says stop after a tool call
		}
		return "stop"
	case "tool_calls", "function_call":
		return "tool_use"
	case "length":
		return "length"
	case "":
		if hasCalls {
			return "tool_use"
		}
		return "stop"
	}
	return finish
}

// usage maps OpenAI's counts to llm.Usage, where InputTokens excludes the
// cached part that prompt_tokens includes.
func usage(u openai.CompletionUsage) llm.Usage {
	cached := u.PromptTokensDetails.CachedTokens
	written := u.PromptTokensDetails.CacheWriteTokens
	in := u.PromptTokens - cached - written
	if in < 0 {
		in = 0
	}
	return llm.Usage{
		InputTokens:      int(in),
		OutputTokens:     int(u.CompletionTokens),
		CacheReadTokens:  int(cached),
		CacheWriteTokens: int(written),
	}
}

// classify turns whatever the SDK returned into an *llm.Error rebuilt from
// the status and the error's type and code. The SDK's error is dropped: it
// holds the request, whose headers carry the key.
func (p *Provider) classify(ctx context.Context, model string, err error) *llm.Error {
	var apiErr *openai.Error
	if errors.As(err, &apiErr) {
		var h http.Header
		if apiErr.Response != nil {
			h = apiErr.Response.Header
		}
		return llm.HTTPError(p.name, model, apiErr.StatusCode, h, time.Now(), apiErr.Type, apiErr.Code, apiErr.Message)
	}
	var se *ssestream.StreamError
	if errors.As(err, &se) {
		// An error event in the middle of the stream: {"error": {...}}.
		var body struct {
			Error struct {
				Type    string          `json:"type"`
				Code    json.RawMessage `json:"code"`
				Message string          `json:"message"`
			} `json:"error"`
		}
		_ = json.Unmarshal(se.Event.Data, &body)
		var code string
		_ = json.Unmarshal(body.Error.Code, &code)
		e := llm.HTTPError(p.name, model, 0, nil, time.Now(), body.Error.Type, code, body.Error.Message)
		if e.Kind == llm.KindUnknown {
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
