// Package native is the Linux sandbox backend built into the gatehouse
// binary: each command runs in fresh user, mount, pid, network, ipc, uts
// and cgroup namespaces, on a read-only root built on a tmpfs from
// read-only binds of the host's system directories, with no capabilities,
// no_new_privs, a Landlock ruleset (filesystem, TCP, scopes), a seccomp
// filter, rlimits, cgroup memory and pid limits where they are delegated,
// and a wall-clock timeout that kills the whole pid namespace.
//
// The sandbox re-executes the gatehouse binary (/proc/self/exe) as a
// hidden init ("gatehouse-sandbox-init") that builds the sandbox from
// inside and then executes the command in its place. This package's init
// function hands such a process over to [InitMain] while packages are
// still being initialized, so it skips the package initialization of
// everything else the binary links. main (and TestMain in tests) should
// still call [IsInit] first thing, as the explicit contract:
//
//	func main() {
//		if native.IsInit() {
//			native.InitMain() // never returns
//		}
//		...
//	}
//
// The init reads what to do from an inherited pipe, never from argv or the
// environment, and reports a layer it cannot apply back over a second
// pipe, so the sandbox fails closed with a [sandbox.LayerError] that says
// which layer and why.
//
// Only internal/sandbox/backend and cmd/gatehouse import this package.
package native
