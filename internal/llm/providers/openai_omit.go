//go:build gatehouse_omit_openai

package providers

import (
	"net/http"

	"gatehouse/internal/llm"
)

const hasOpenAI = false

func newOpenAI(s settings, _ *http.Client) (llm.Provider, error) {
	return nil, omittedError(s.name, s.api)
}
