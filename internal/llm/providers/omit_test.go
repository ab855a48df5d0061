//go:build gatehouse_omit_openai

package providers

import (
	"strings"
	"testing"

	"gatehouse/internal/config"
)

// TestOmitted runs with -tags gatehouse_omit_openai: a provider that needs
// the OpenAI SDK fails, saying which tag left it out.
func TestOmitted(t *testing.T) {
	cfg := config.Default()
	cfg.Agents.Defaults.Model.Primary = "ollama/llama3"
	want := `provider "ollama" needs the openai-compatible API, but this gatehouse was built without it: rebuild without -tags gatehouse_omit_openai`

	_, err := FromConfig(cfg, nil, nil, nil)
	if err == nil || err.Error() != want {
		t.Errorf("FromConfig error = %v, want %s", err, want)
	}
	st := Describe(cfg, nil, nil)
	if len(st) != 1 || st[0].Configured || !strings.Contains(st[0].Error, "gatehouse_omit_openai") {
		t.Errorf("Describe = %+v, want ollama not configured, naming the tag", st)
	}
}
