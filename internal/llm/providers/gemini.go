//go:build !gatehouse_omit_gemini

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
