package slack

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestDeps proves that slack-go, which the tests use for slacktest, is not
// linked into the adapter (see the package doc), nor its WebSocket library.
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
	cmd := exec.Command(goBin, "list", "-deps", "-f", "{{.ImportPath}}", ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := string(out)
	for _, absent := range []string{"github.com/slack-go/slack", "github.com/gorilla/websocket"} {
		if strings.Contains(deps, absent) {
			t.Errorf("the adapter links %s", absent)
		}
	}
	if !strings.Contains(deps, "github.com/coder/websocket") {
		t.Errorf("the adapter does not link github.com/coder/websocket: is the test vacuous?")
	}
}
