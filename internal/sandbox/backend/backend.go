// Package backend opens the sandbox the configuration asks for:
// agents.defaults.sandbox.backend auto, native or docker.
package backend

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"

	"gatehouse/internal/config"
	"gatehouse/internal/sandbox"
)

// Name resolves the configured backend: auto is native on Linux and
// docker elsewhere.
func Name(cfg config.Sandbox) string {
	if cfg.Backend == "" || cfg.Backend == "auto" {
		if runtime.GOOS == "linux" {
			return "native"
		}
		return "docker"
	}
	return cfg.Backend
}

// Open returns the sandbox of cfg with opts.
func Open(ctx context.Context, cfg config.Sandbox, opts sandbox.Options, log *slog.Logger) (sandbox.Sandbox, error) {
	switch name := Name(cfg); name {
	default:
		return nil, fmt.Errorf("%w: backend %q is not built yet", sandbox.ErrUnavailable, name)
	}
}
