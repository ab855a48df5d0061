package native

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"gatehouse/internal/sandbox"
)

// spec is everything the init needs to build one sandbox and run one
// command. The parent computes it (most of it once, in New) so the init
// only executes it. It travels as JSON over the spec pipe.
type spec struct {
	Argv []string `json:"argv"`
	Env  []string `json:"env"`
	Dir  string   `json:"dir"`
	// Probe: build everything, apply every layer, then exit 0 instead of
	// running Argv.
	Probe bool `json:"probe,omitempty"`

	// Binds are host paths mounted into the new root.
	Binds []bind `json:"binds"`
	// Symlinks recreate the host's top-level symlinks (/bin -> usr/bin).
	Symlinks []symlink `json:"symlinks"`
	// Files are written fresh into the new root (the minimal /etc).
	Files      []file `json:"files"`
	TmpfsBytes int64  `json:"tmpfsBytes"`

	Rlimits []rlimit `json:"rlimits"`
	// DataLimit, when not 0, is RLIMIT_DATA, the memory bound where no
	// memory cgroup is available. RLIMIT_DATA rather than RLIMIT_AS:
	// address space counts reservations, and a Go program needs ~800 MiB
	// of it just to start (Node.js more), while RLIMIT_DATA counts private
	// writable memory (Linux 4.7+). The init sets it last, right before
	// execve, since its own Go runtime may already hold more.
	DataLimit uint64 `json:"dataLimit,omitempty"`
	// Landlock is nil when the layer is waived.
	Landlock *landlockSpec `json:"landlock,omitempty"`
	// Seccomp is the assembled filter (8 bytes per instruction, native
	// endian); nil when the layer is waived.
	Seccomp []byte `json:"seccomp,omitempty"`

	// FailLayer makes the init report that layer as failing (tests).
	FailLayer string `json:"failLayer,omitempty"`
}

// bind is one bind mount: Src on the host, Dst in the sandbox.
type bind struct {
	Src  string `json:"src"`
	Dst  string `json:"dst"`
	File bool   `json:"file,omitempty"`
	RW   bool   `json:"rw,omitempty"`
	// Dev keeps device nodes usable (the /dev binds).
	Dev bool `json:"dev,omitempty"`
	// Required binds fail the sandbox when they fail; others (e.g.
	// /etc/alternatives) are skipped.
	Required bool `json:"required,omitempty"`
}

type symlink struct {
	Path   string `json:"path"`
	Target string `json:"target"`
}

type file struct {
	Path string `json:"path"`
	Data string `json:"data"`
}

type rlimit struct {
	Resource int    `json:"resource"`
	Value    uint64 `json:"value"`
}

// candidateSystemDirs are bound read-only (or recreated as symlinks)
// where the host has them.
var candidateSystemDirs = []string{"/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"}

// systemDirs are the candidate system directories this host has as real
// directories (not symlinks).
func (s *Sandbox) systemDirs() []string {
	var ds []string
	for _, b := range s.tmpl.Binds {
		if strings.HasPrefix(b.Dst, "/etc") || strings.HasPrefix(b.Dst, "/dev") || b.Dst == sandbox.WorkspaceMount {
			continue
		}
		ds = append(ds, b.Dst)
	}
	return ds
}

// buildTemplate computes the request-independent parts of the spec.
func (s *Sandbox) buildTemplate() (spec, error) {
	var sp spec
	for _, d := range candidateSystemDirs {
		fi, err := os.Lstat(d)
		switch {
		case err != nil:
			continue
		case fi.Mode()&os.ModeSymlink != 0:
			target, err := os.Readlink(d)
			if err != nil {
				return sp, fmt.Errorf("native sandbox: reading symlink %s: %w", d, err)
			}
			sp.Symlinks = append(sp.Symlinks, symlink{Path: d, Target: target})
		case fi.IsDir():
			sp.Binds = append(sp.Binds, bind{Src: d, Dst: d, Required: d == "/usr"})
		}
	}
	for _, p := range []string{"/etc/alternatives", "/etc/ld.so.cache"} {
		if fi, err := os.Stat(p); err == nil {
			sp.Binds = append(sp.Binds, bind{Src: p, Dst: p, File: !fi.IsDir()})
		}
	}
	for _, n := range devNodes {
		sp.Binds = append(sp.Binds, bind{Src: "/dev/" + n, Dst: "/dev/" + n, File: true, RW: true, Dev: true, Required: n != "tty"})
	}
	if s.opts.Workspace != "" {
		sp.Binds = append(sp.Binds, bind{Src: s.opts.Workspace, Dst: sandbox.WorkspaceMount,
			RW: s.opts.WorkspaceAccess == "rw", Required: true})
	}
	if err := s.checkStateDir(sp.Binds); err != nil {
		return sp, err
	}
	sp.Files = etcFiles()
	sp.TmpfsBytes = s.opts.Limits.TmpfsBytes

	lim := s.opts.Limits
	sp.Rlimits = []rlimit{
		{unix.RLIMIT_NPROC, s.rlimit(unix.RLIMIT_NPROC, uint64(lim.Pids))},
		{unix.RLIMIT_NOFILE, s.rlimit(unix.RLIMIT_NOFILE, uint64(lim.OpenFiles))},
		{unix.RLIMIT_FSIZE, s.rlimit(unix.RLIMIT_FSIZE, uint64(lim.FileSizeBytes))},
		{unix.RLIMIT_CPU, s.rlimit(unix.RLIMIT_CPU, uint64(lim.CPUSeconds))},
		{unix.RLIMIT_CORE, 0},
	}
	if !s.layerOn(layerCgroups) {
		// Without a memory cgroup, bound private writable memory instead.
		sp.DataLimit = s.rlimit(unix.RLIMIT_DATA, uint64(lim.MemoryBytes))
	}
	if s.layerOn(layerLandlock) {
		sp.Landlock = s.landlockRules(sp.Binds)
	}
	if s.layerOn(layerSeccomp) {
		sp.Seccomp = s.host.seccompProg
	}
	return sp, nil
}

// devNodes are the host devices bound into the sandbox's /dev.
var devNodes = []string{"null", "zero", "full", "random", "urandom", "tty"}

// checkStateDir refuses binds that are, or contain, the state directory.
func (s *Sandbox) checkStateDir(binds []bind) error {
	if s.opts.StateDir == "" {
		return nil
	}
	state, err := filepath.EvalSymlinks(s.opts.StateDir)
	if err != nil {
		state = filepath.Clean(s.opts.StateDir)
	}
	for _, b := range binds {
		src, err := filepath.EvalSymlinks(b.Src)
		if err != nil {
			src = b.Src
		}
		if src == state || strings.HasPrefix(state, strings.TrimSuffix(src, "/")+"/") {
			return fmt.Errorf("native sandbox: %s would be mounted at %s and it holds the state directory %s: "+
				"keep the state directory out of the workspace and the system directories", src, b.Dst, state)
		}
	}
	return nil
}

// etcFiles is the sandbox's whole /etc, apart from the read-only binds of
// /etc/alternatives and /etc/ld.so.cache.
func etcFiles() []file {
	return []file{
		{"/etc/passwd", fmt.Sprintf("root:x:0:0:root:/root:/usr/sbin/nologin\n%s:x:%d:%d:%s:/tmp:/bin/sh\n"+
			"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n", sandboxUser, sandboxUID, sandboxGID, sandboxUser)},
		{"/etc/group", fmt.Sprintf("root:x:0:\n%s:x:%d:\nnogroup:x:65534:\n", sandboxUser, sandboxGID)},
		{"/etc/hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t" + hostname + "\n"},
		{"/etc/hostname", hostname + "\n"},
		{"/etc/nsswitch.conf", "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\n" +
			"protocols: files\nservices: files\nethers: files\nrpc: files\n"},
	}
}
