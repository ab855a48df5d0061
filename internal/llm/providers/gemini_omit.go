//go:build !gatehouse_gemini

package providers

import (
	"net/http"

	"gatehouse/internal/llm"
)

const hasGemini = false

func newGemini(s settings, _ *http.Client) (llm.Provider, error) {
	return nil, geminiOptInError(s.name)
}
