//go:build gatehouse_omit_gemini

package providers

import (
	"net/http"

	"gatehouse/internal/llm"
)

const hasGemini = false

func newGemini(s settings, _ *http.Client) (llm.Provider, error) {
	return nil, omittedError(s.name, s.api)
}
