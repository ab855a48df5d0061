//go:build gatehouse_gemini

// The native Gemini provider (google.golang.org/genai) adds about 15 MB to
// the binary and 3 ms to every start, through the Google credential,
// gRPC and OpenCensus packages the SDK requires even with an API key. It
// is therefore opt-in: build with -tags gatehouse_gemini.

package providers

import (
	"net/http"

	"gatehouse/internal/llm"
	"gatehouse/internal/llm/gemini"
)

const hasGemini = true

func newGemini(s settings, hc *http.Client) (llm.Provider, error) {
	return gemini.New(gemini.Options{Name: s.name, APIKey: s.key, BaseURL: s.baseURL, HTTPClient: hc})
}
