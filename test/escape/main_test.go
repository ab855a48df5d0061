//go:build linux

package escape_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"gatehouse/internal/sandbox/native"
)

// helperBin is the static helper binary built by TestMain ("" when this
// machine has no Go toolchain to build it). Tests copy it into each
// sandbox's workspace, the one host directory every backend mounts.
var helperBin string

// helperSkip says why helperBin is empty.
var helperSkip string

func TestMain(m *testing.M) {
	// The native backend re-executes this test binary as its sandbox init.
	if native.IsInit() {
		native.InitMain()
	}
	dir, err := os.MkdirTemp("", "gatehouse-escape-helper-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "escape: temp dir:", err)
		os.Exit(1)
	}
	helperBin, helperSkip, err = buildHelper(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "escape:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildHelper builds testdata/helper, statically and from the standard
// library alone (GOPATH mode, so no module cache is needed), into dir.
func buildHelper(dir string) (bin, skip string, err error) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, err := os.Stat(goTool); err != nil {
			return "", "no Go toolchain on this machine to build the escape helper", nil
		}
	}
	bin = filepath.Join(dir, "helper")
	cmd := exec.Command(goTool, "build", "-trimpath", "-o", bin, "./testdata/helper/main.go")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GO111MODULE=off", "GOFLAGS=")
	if os.Getenv("GOCACHE") == "" {
		if cache, err := os.UserCacheDir(); err != nil || !writable(cache) {
			// An unprivileged run with root's HOME: cache where we can.
			cmd.Env = append(cmd.Env, "GOCACHE="+filepath.Join(os.TempDir(), fmt.Sprintf("gatehouse-escape-gocache-%d", os.Geteuid())))
		}
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("building the escape helper: %v\n%s", err, out)
	}
	return bin, "", nil
}

func writable(dir string) bool {
	f, err := os.CreateTemp(dir, ".probe-")
	if err != nil {
		return false
	}
	f.Close()
	os.Remove(f.Name())
	return true
}
