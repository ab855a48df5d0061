//go:build !gatehouse_omit_openai

package providers

import (
	"net/http"

	"gatehouse/internal/llm"
	"gatehouse/internal/llm/openai"
)

const hasOpenAI = true

func newOpenAI(s settings, hc *http.Client) (llm.Provider, error) {
	return openai.New(openai.Options{Name: s.name, APIKey: s.key, BaseURL: s.baseURL, HTTPClient: hc})
}
