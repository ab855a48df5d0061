// The names and types below stay in a build with gatehouse_omit_docker,
// so that callers compile either way.

package docker

import "io/fs"

// DefaultImage is the image used when the configuration names none;
// [Sandbox.Build] builds it.
const DefaultImage = "gatehouse-sandbox:bookworm-slim"

// DefaultUser is the uid:gid commands run as when the configuration
// names none: nobody.
const DefaultUser = "65534:65534"

// Labels on every sandbox container.
const (
	// LabelSandbox marks a container as a gatehouse sandbox ("1").
	LabelSandbox = "io.gatehouse.sandbox"
	// LabelInstance is a hash of the gateway's state directory, so that
	// two gateways (profiles) never share or prune each other's sandboxes.
	LabelInstance = "io.gatehouse.instance"
	// LabelScope is the SHA-256 of the scope key, in hex.
	LabelScope = "io.gatehouse.scope"
	// LabelWorkspace is the host workspace mounted at /workspace ("" when
	// none), and its mode after a colon.
	LabelWorkspace = "io.gatehouse.workspace"
	// LabelConfig is a hash of the image and every setting of the
	// container; a container whose hash differs is recreated.
	LabelConfig = "io.gatehouse.config"
)

// DefaultBase is the image DefaultImage is built from.
const DefaultBase = "debian:bookworm-slim"

// BuildOptions changes what [Sandbox.Build] builds. The zero value builds
// DefaultImage from DefaultBase.
type BuildOptions struct {
	// Tag names the image; empty means DefaultImage.
	Tag string
	// Base is the Dockerfile's BASE argument; empty means DefaultBase.
	Base string
	// Dockerfile replaces the embedded Dockerfile.
	Dockerfile []byte
	// Files are added to the build context, by slash-separated path.
	Files map[string]BuildFile
	// NoCache rebuilds every step.
	NoCache bool
}

// BuildFile is one file of the build context.
type BuildFile struct {
	Data []byte
	Mode fs.FileMode // permission bits; 0 means 0644
}
