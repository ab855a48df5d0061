package providers

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestDeps proves that each omit tag keeps its SDK out of the build, as
// Tailscale's cmd/tailscaled/deps_test.go does, and that without the tag
// the SDK is linked (so the test is not vacuous).
func TestDeps(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		if goBin, err = exec.LookPath("go"); err != nil {
			t.Skip("no go command")
		}
	}
	const (
		openaiSDK    = "github.com/openai/openai-go/"
		anthropicSDK = "github.com/anthropics/anthropic-sdk-go"
		geminiSDK    = "google.golang.org/genai"
	)
	tests := []struct {
		name    string
		pkg     string
		tags    string
		absent  []string
		present []string
	}{
		{"default_links_openai_and_anthropic", ".", "", []string{geminiSDK}, []string{openaiSDK, anthropicSDK}},
		{"gemini_is_opt_in", ".", "gatehouse_gemini", nil, []string{openaiSDK, anthropicSDK, geminiSDK}},
		{"binary_default_has_no_gemini", "gatehouse/cmd/gatehouse", "", []string{geminiSDK}, []string{openaiSDK, anthropicSDK}},
		{"omit_openai", ".", "gatehouse_omit_openai", []string{openaiSDK}, []string{anthropicSDK}},
		{"omit_anthropic", ".", "gatehouse_omit_anthropic", []string{anthropicSDK}, []string{openaiSDK}},
		{"omit_all", ".", "gatehouse_omit_openai,gatehouse_omit_anthropic", []string{openaiSDK, anthropicSDK, geminiSDK}, nil},
		{"binary_omit_openai", "gatehouse/cmd/gatehouse", "gatehouse_omit_openai", []string{openaiSDK}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"list", "-deps", "-f", "{{.ImportPath}}"}
			if tt.tags != "" {
				args = append(args, "-tags", tt.tags)
			}
			cmd := exec.Command(goBin, append(args, tt.pkg)...)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			out, err := cmd.Output()
			if err != nil {
				var stderr string
				if ee, ok := err.(*exec.ExitError); ok {
					stderr = string(ee.Stderr)
				}
				t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr)
			}
			deps := string(out)
			for _, p := range tt.absent {
				if strings.Contains(deps, p) {
					t.Errorf("with -tags %s, %s depends on %s", tt.tags, tt.pkg, p)
				}
			}
			for _, p := range tt.present {
				if !strings.Contains(deps, p) {
					t.Errorf("with -tags %q, %s does not depend on %s", tt.tags, tt.pkg, p)
				}
			}
		})
	}
}
