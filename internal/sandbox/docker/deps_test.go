package docker

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestDeps proves that the build tag gatehouse_omit_docker leaves the
// Engine API client out, and that without it the client is in (so the
// first check is not vacuous).
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
	deps := func(tags string) string {
		cmd := exec.Command(goBin, "list", "-deps", "-tags", tags, "-f", "{{.ImportPath}}", ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -deps -tags %q: %v", tags, err)
		}
		return string(out)
	}
	if d := deps("gatehouse_omit_docker"); strings.Contains(d, "github.com/moby/") {
		t.Error("with gatehouse_omit_docker the package still links github.com/moby")
	}
	if d := deps(""); !strings.Contains(d, "github.com/moby/moby/client") {
		t.Error("without gatehouse_omit_docker the package does not link github.com/moby/moby/client: is the test vacuous?")
	}
}
