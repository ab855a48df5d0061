//go:build !gatehouse_omit_docker

package docker

import (
	"gatehouse/internal/sandbox"

	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"

	"github.com/elastic/go-seccomp-bpf/arch"
)

// linuxENOSYS is ENOSYS on Linux, whatever GOOS this binary is for.
const linuxENOSYS = 38

// seccompArch maps GOARCH to libseccomp's name of the native ABI. Only it
// is listed, so a 32-bit syscall (int 0x80 on amd64) is killed.
var seccompArch = map[string]string{
	"amd64": "SCMP_ARCH_X86_64", "arm64": "SCMP_ARCH_AARCH64", "riscv64": "SCMP_ARCH_RISCV64",
	"ppc64le": "SCMP_ARCH_PPC64LE", "s390x": "SCMP_ARCH_S390X",
}

// seccompRule and seccompProfile are the OCI/Docker seccomp profile format
// the engines take.
type seccompRule struct {
	Names    []string     `json:"names"`
	Action   string       `json:"action"`
	Args     []seccompArg `json:"args,omitempty"`
	ErrnoRet *uint        `json:"errnoRet,omitempty"`
}

type seccompArg struct {
	Index    uint   `json:"index"`
	Value    uint64 `json:"value"`
	ValueTwo uint64 `json:"valueTwo"`
	Op       string `json:"op"`
}

type seccompProfile struct {
	DefaultAction   string        `json:"defaultAction"`
	DefaultErrnoRet uint          `json:"defaultErrnoRet"`
	Architectures   []string      `json:"architectures,omitempty"`
	Syscalls        []seccompRule `json:"syscalls"`
}

// seccompJSON is the profile every sandbox container gets in place of the
// engine's default: an allowlist of this architecture's syscalls less
// sandbox.DeniedSyscalls, so that a syscall newer than this binary is refused
// too; clone only without namespace flags; clone3 ENOSYS (its flags are in
// memory, out of the filter's reach), so libc falls back to clone. It
// returns the profile and how many syscalls it allows.
func seccompJSON() ([]byte, int, error) {
	info, err := arch.GetInfo(runtime.GOARCH)
	if err != nil {
		return nil, 0, fmt.Errorf("seccomp profile: %w", err)
	}
	var allow []string
	for name := range info.SyscallNames {
		if name == "clone" || name == "clone3" || slices.Contains(sandbox.DeniedSyscalls, name) {
			continue
		}
		allow = append(allow, name)
	}
	slices.Sort(allow)
	enosys := uint(linuxENOSYS)
	p := seccompProfile{
		DefaultAction:   "SCMP_ACT_ERRNO",
		DefaultErrnoRet: 1, // EPERM
		Syscalls: []seccompRule{
			{Names: allow, Action: "SCMP_ACT_ALLOW"},
			{Names: []string{"clone"}, Action: "SCMP_ACT_ALLOW",
				Args: []seccompArg{{Index: 0, Value: sandbox.CloneNamespaceFlags, ValueTwo: 0, Op: "SCMP_CMP_MASKED_EQ"}}},
			{Names: []string{"clone3"}, Action: "SCMP_ACT_ERRNO", ErrnoRet: &enosys},
		},
	}
	if a, ok := seccompArch[runtime.GOARCH]; ok {
		p.Architectures = []string{a}
	}
	b, err := json.Marshal(p)
	return b, len(allow) + 1, err
}

// seccompOpt is the SecurityOpt that applies profile: Docker takes the
// profile itself, Podman a path on its host, which is this host (the
// sandbox talks to local engines only). The file goes in dir.
func seccompOpt(engine string, profile []byte, dir string) (string, error) {
	if engine != "podman" {
		return "seccomp=" + string(profile), nil
	}
	sum := sha256.Sum256(profile)
	path := filepath.Join(dir, "seccomp-"+hex.EncodeToString(sum[:8])+".json")
	if b, err := os.ReadFile(path); err == nil && bytes.Equal(b, profile) {
		return "seccomp=" + path, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("seccomp profile for podman: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".seccomp-*")
	if err != nil {
		return "", fmt.Errorf("seccomp profile for podman: %w", err)
	}
	_, werr := tmp.Write(profile)
	cerr := tmp.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Chmod(tmp.Name(), 0o644)
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), path)
	}
	if werr != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("seccomp profile for podman: %w", werr)
	}
	return "seccomp=" + path, nil
}
