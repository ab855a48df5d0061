//go:build linux

package native

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	if IsInit() {
		InitMain()
	}
	os.Exit(m.Run())
}
