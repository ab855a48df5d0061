//go:build gatehouse_omit_anthropic

package providers

import (
	"net/http"

	"gatehouse/internal/llm"
)

const hasAnthropic = false

func newAnthropic(s settings, _ *http.Client) (llm.Provider, error) {
	return nil, omittedError(s.name, s.api)
}
