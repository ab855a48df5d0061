//go:build !linux

package native

import (
	"errors"
	"fmt"
	"log/slog"
	"os"

	"gatehouse/internal/sandbox"
)

// Option configures the native backend beyond sandbox.Options.
type Option func(*settings)

type settings struct{}

// WithExe sets the binary re-executed as the sandbox init (Linux only).
func WithExe(path string) Option { return func(*settings) {} }

// WithLogger sets the logger (Linux only).
func WithLogger(l *slog.Logger) Option { return func(*settings) {} }

// Sandbox is the native backend, which exists only on Linux.
type Sandbox struct{ sandbox.Sandbox }

// New returns errors.ErrUnsupported: the native sandbox needs Linux.
func New(opts sandbox.Options, nopts ...Option) (*Sandbox, error) {
	return nil, fmt.Errorf("native sandbox needs Linux namespaces, Landlock and seccomp: use the docker backend here: %w",
		errors.ErrUnsupported)
}

// IsInit reports false: there is no sandbox init outside Linux.
func IsInit() bool { return false }

// InitMain exits: there is no sandbox init outside Linux.
func InitMain() {
	fmt.Fprintln(os.Stderr, "gatehouse sandbox init: unsupported on this system")
	os.Exit(125)
}
