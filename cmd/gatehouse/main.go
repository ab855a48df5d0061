// Command gatehouse is a personal AI agent gateway: the daemon and its
// command line in one static binary.
package main

import (
	"os"

	"gatehouse/internal/cli"
)

func main() {
	os.Exit(cli.Main())
}
