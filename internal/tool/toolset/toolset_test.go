package toolset

import (
	"os"
	"path/filepath"
	"testing"

	"gatehouse/internal/config"
)

// TestWorkspaceHoldingStateGetsNoFileTools: a workspace set to the state
// dir (or above it) would let the file tools rewrite the config, the
// secrets and the pairing database; they are not built at all.
func TestWorkspaceHoldingStateGetsNoFileTools(t *testing.T) {
	root := t.TempDir()
	state := filepath.Join(root, "state")
	ws := filepath.Join(state, "workspace")
	if err := os.MkdirAll(ws, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Agents.Defaults.Sandbox.WorkspaceAccess = "rw"
	has := func(workspace string) bool {
		_, ok := Build(cfg, Deps{Workspace: workspace, StateDir: state}).Lookup("write")
		return ok
	}
	if !has(ws) {
		t.Error("the workspace inside the state dir lost its file tools")
	}
	for _, bad := range []string{state, root, state + "/", ws + "/.."} {
		if has(bad) {
			t.Errorf("workspace %s holds the state dir but has file tools", bad)
		}
	}
	if WorkspaceHoldsState(ws, state) || !WorkspaceHoldsState(root, state) {
		t.Error("WorkspaceHoldsState")
	}
}
