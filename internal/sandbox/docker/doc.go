// Package docker is the sandbox backend that runs commands in containers
// through the Docker Engine API, which Podman's API service
// (podman system service) serves too. It keeps one long-lived, labelled
// container per sandbox scope and runs each command in it as an exec:
// no network, read-only root, all capabilities dropped, no-new-privileges,
// a non-root user, cgroup limits and rlimits, the workspace mounted at
// /workspace read-only or read-write.
//
// It talks only to a unix socket or a loopback address. The build tag
// gatehouse_omit_docker leaves the Engine API client out of the binary:
// New then returns an error wrapping [sandbox.ErrUnavailable] that says
// so, while [CheckBindSource] (which the audit uses) stays. Only the
// sandbox backend selection, the sandbox commands and the audit should
// import it.
package docker
