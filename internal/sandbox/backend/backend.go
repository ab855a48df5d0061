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
	"gatehouse/internal/sandbox/docker"
	"gatehouse/internal/sandbox/native"
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

// Open returns the sandbox of cfg with opts. The native backend
// re-executes the running binary, whose main must call [native.InitMain]
// when [native.IsInit] says so.
func Open(ctx context.Context, cfg config.Sandbox, opts sandbox.Options, log *slog.Logger) (sandbox.Sandbox, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	switch name := Name(cfg); name {
	case "native":
		sb, err := native.New(opts, native.WithLogger(log.With("component", "sandbox")))
		if err != nil {
			return nil, err
		}
		return sb, nil
	case "docker":
		sb, err := docker.New(ctx, opts)
		if err != nil {
			return nil, err
		}
		return sb, nil
	default:
		return nil, fmt.Errorf("%w: unknown backend %q: use auto, native or docker", sandbox.ErrUnavailable, name)
	}
}
