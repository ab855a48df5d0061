// Package gemini is the llm.Provider for Google's Gemini API
// (generativelanguage.googleapis.com), built on the official SDK
// google.golang.org/genai. It speaks only the Gemini API backend with an API
// key: never Vertex AI, never Application Default Credentials, and it reads
// no GOOGLE_* or GEMINI_* environment variable that could redirect traffic
// or the key.
//
// Only the llm package's wiring (the provider registry) imports it.
package gemini

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"

	"google.golang.org/genai"

	"gatehouse/internal/llm"
)

// DefaultBaseURL is the Gemini API endpoint used when Options.BaseURL is empty.
const DefaultBaseURL = "https://generativelanguage.googleapis.com/"

// Options configures a Provider.
type Options struct {
	// Name is the provider name errors carry, as in models.providers.<name>.
	// Empty means "gemini".
	Name string
	// APIKey is the Gemini API key. It travels only in the x-goog-api-key
	// header and never appears in an error.
	APIKey string
	// BaseURL replaces DefaultBaseURL (tests, proxies). Plain http is
	// accepted only for loopback hosts, so the key is never sent in clear
	// over a network.
	BaseURL string
	// HTTPClient sends the requests. Nil means a new client with
	// http.DefaultTransport.
	HTTPClient *http.Client
}

// Provider is a Gemini API provider. It is safe for concurrent use.
type Provider struct {
	name   string
	client *genai.Client
}

var _ llm.Provider = (*Provider)(nil)

// New returns a Provider. It does no I/O.
func New(o Options) (*Provider, error) {
	name := o.Name
	if name == "" {
		name = "gemini"
	}
	if o.APIKey == "" {
		return nil, fmt.Errorf("gemini provider %q has no API key: set models.providers.%s.apiKey", name, name)
	}
	base := o.BaseURL
	if base == "" {
		// Set explicitly so that the SDK never falls back to
		// GOOGLE_GEMINI_BASE_URL from the environment.
		base = DefaultBaseURL
	}
	if _, err := llm.CheckBaseURL(base, true); err != nil {
		return nil, fmt.Errorf("gemini provider %q: models.providers.%s.baseUrl: %w", name, name, err)
	}
	hc := o.HTTPClient
	if hc == nil {
		// A client of our own keeps the SDK away from its credential-
		// detecting transports.
		hc = &http.Client{}
	}
	cfg := &genai.ClientConfig{
		APIKey:     o.APIKey,
		Backend:    genai.BackendGeminiAPI,
		HTTPClient: hc,
		HTTPOptions: genai.HTTPOptions{
			BaseURL:    base,
			APIVersion: "v1beta",
		},
	}
	// With an API key and the Gemini API backend, NewClient does no I/O and
	// ignores its context (it uses it only to ask Vertex AI credentials for a
	// quota project), so there is no caller's context to pass.
	c, err := genai.NewClient(context.Background(), cfg)
	if err != nil {
		// The SDK's message embeds the whole ClientConfig, key included:
		// never wrap it.
		return nil, fmt.Errorf("gemini provider %q: the SDK refused its configuration: check models.providers.%s", name, name)
	}
	return &Provider{name: name, client: c}, nil
}

// Chat sends req as one streamed generateContent call, passing text deltas
// to onDelta (which may be nil) as they arrive. Errors are *llm.Error.
func (p *Provider) Chat(ctx context.Context, req *llm.Request, onDelta func(text string)) (*llm.Response, error) {
	if req.Model == "" {
		return nil, p.requestError(req.Model, errors.New("the request names no model"))
	}
	contents, err := toContents(req.Messages, needsSignature(req.Model))
	if err != nil {
		return nil, p.requestError(req.Model, err)
	}
	tools, err := toTools(req.Tools)
	if err != nil {
		return nil, p.requestError(req.Model, err)
	}
	cfg := &genai.GenerateContentConfig{
		// Resuming a broken stream would replay deltas onDelta already
		// saw; retries and failover belong to the caller.
		AutomaticContinuation: genai.Ptr(false),
		Tools:                 tools,
	}
	if req.System != "" {
		cfg.SystemInstruction = &genai.Content{Parts: []*genai.Part{{Text: req.System}}}
	}
	if req.MaxTokens > 0 {
		cfg.MaxOutputTokens = int32(min(req.MaxTokens, math.MaxInt32))
	}
	if needsSignature(req.Model) {
		cfg.HTTPOptions = &genai.HTTPOptions{ExtrasRequestProvider: addSignatures}
	}

	acc := accumulator{firstID: countToolCalls(req.Messages), onDelta: onDelta}
	for chunk, err := range p.client.Models.GenerateContentStream(ctx, req.Model, contents, cfg) {
		if err != nil {
			return nil, p.classify(ctx, req.Model, err)
		}
		acc.add(chunk)
	}
	if acc.chunks == 0 {
		return nil, &llm.Error{Kind: llm.KindNetwork, Provider: p.name, Model: req.Model,
			Message: "the response stream ended before its first chunk", Err: io.ErrUnexpectedEOF}
	}
	resp := acc.response()
	if resp.Model == "" {
		resp.Model = req.Model
	}
	return resp, nil
}

// requestError reports a request this package cannot translate.
func (p *Provider) requestError(model string, err error) *llm.Error {
	return &llm.Error{Kind: llm.KindBadRequest, Provider: p.name, Model: model, Message: err.Error(), Err: err}
}

// needsSignature reports whether model is a Gemini 3 or later model, which
// rejects a replayed function call that lacks a thought signature.
func needsSignature(model string) bool {
	m := strings.TrimPrefix(model, "models/")
	v, ok := strings.CutPrefix(m, "gemini-")
	if !ok {
		return false
	}
	end := strings.IndexFunc(v, func(r rune) bool { return r < '0' || r > '9' })
	if end < 0 {
		end = len(v)
	}
	major, err := strconv.Atoi(v[:end])
	return err == nil && major >= 3
}
