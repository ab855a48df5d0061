// Command gatehouse is a personal AI agent gateway: the daemon and its
// command line in one static binary.
package main

import (
	"os"

	"gatehouse/internal/cli"
	"gatehouse/internal/sandbox/native"
)

func main() {
	// The native sandbox re-executes this binary as the sandbox's init:
	// that process never reaches the command line.
	if native.IsInit() {
		native.InitMain()
	}
	os.Exit(cli.Main())
}
