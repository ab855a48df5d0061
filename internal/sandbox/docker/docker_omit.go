//go:build gatehouse_omit_docker

package docker

import (
	"context"
	"fmt"
	"io"
	"time"

	"gatehouse/internal/sandbox"
)

// errOmitted is every answer of a binary built without the backend.
var errOmitted = fmt.Errorf("this gatehouse was built with -tags gatehouse_omit_docker, without the docker sandbox backend: "+
	"use agents.defaults.sandbox.backend native, or a build without that tag: %w", sandbox.ErrUnavailable)

// Sandbox is the docker backend, left out of this build.
type Sandbox struct{}

var _ sandbox.Sandbox = (*Sandbox)(nil)

// New returns an error wrapping [sandbox.ErrUnavailable]: this binary was
// built without the docker backend.
func New(ctx context.Context, opts sandbox.Options) (*Sandbox, error) { return nil, errOmitted }

func (*Sandbox) Backend() string { return "docker" }
func (*Sandbox) Run(context.Context, sandbox.Request) (*sandbox.Result, error) {
	return nil, errOmitted
}
func (*Sandbox) Layers(context.Context) []sandbox.Layer {
	return []sandbox.Layer{{Name: "engine", State: sandbox.LayerMissing, Detail: errOmitted.Error()}}
}
func (*Sandbox) Explain(_ context.Context, scope string) sandbox.Explanation {
	return sandbox.Explanation{Backend: "docker", Scope: scope}
}
func (*Sandbox) Prune(context.Context, time.Duration) (int, error)    { return 0, errOmitted }
func (*Sandbox) Close() error                                         { return nil }
func (*Sandbox) Options() sandbox.Options                             { return sandbox.Options{} }
func (*Sandbox) Engine() (name, version, host string)                 { return "", "", "" }
func (*Sandbox) Build(context.Context, io.Writer, BuildOptions) error { return errOmitted }
func (*Sandbox) HasImage(context.Context, string) (bool, error)       { return false, errOmitted }
