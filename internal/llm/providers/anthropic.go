//go:build !gatehouse_omit_anthropic

package providers

import (
	"net/http"

	"gatehouse/internal/llm"
	"gatehouse/internal/llm/anthropic"
)

const hasAnthropic = true

func newAnthropic(s settings, hc *http.Client) (llm.Provider, error) {
	return anthropic.New(anthropic.Options{Name: s.name, APIKey: s.key, BaseURL: s.baseURL, HTTPClient: hc})
}
