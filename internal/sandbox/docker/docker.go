//go:build !gatehouse_omit_docker

package docker

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"gatehouse/internal/sandbox"
)

// defaultSockets are tried in order when neither the configuration nor
// DOCKER_HOST names an engine.
var defaultSockets = []string{"/var/run/docker.sock", "/run/podman/podman.sock"}

// idleLoop is the container's main process: PID 1, idle, with no signal
// handler, so nothing inside the container can stop it (the kernel drops
// signals to a namespace's init that it does not handle). Not "sleep
// infinity": busybox's sleep does not know it.
const idleLoop = "while :; do sleep 3600 & wait; done"

// reapScript kills every process of the sandbox user in the container
// except PID 1 and itself (kill(2) with pid -1), that is, whatever a
// command left running.
const reapScript = "kill -KILL -1 2>/dev/null; exit 0"

// podmanNproc is the RLIMIT_NPROC of containers on Podman; see spec.
const podmanNproc = 4096

// Sandbox is the docker backend. It is safe for concurrent use; commands
// of one scope may run at the same time, in the same container.
type Sandbox struct {
	cli      *client.Client
	host     string // the engine's address
	sockPath string // the engine's socket when host is unix://, never mounted
	engine   engineInfo

	opts      sandbox.Options // as given, with defaults filled in
	image     string
	user      string
	network   string
	workspace string // canonical host path; "" when none is mounted
	wsMode    string // "ro" or "rw"
	binds     []Bind
	instance  string
	limits    sandbox.Layer // the limits layer as this engine applies it
	seccomp   string        // the SecurityOpt that applies the seccomp profile
	allowed   int           // syscalls the profile allows

	mu    sync.Mutex      // guards boxes
	boxes map[string]*box // by scope hash
}

// box is the container of one scope.
type box struct {
	scopeHash string

	mu       sync.Mutex // guards the fields below; held while the container is created or removed
	id       string     // "" until created, and after it was removed
	active   int        // commands running in it
	lastUsed time.Time
}

type engineInfo struct {
	name       string // "docker" or "podman"
	version    string
	apiVersion string
}

var _ sandbox.Sandbox = (*Sandbox)(nil)

// New connects to the container engine at opts.Docker.Host, else
// DOCKER_HOST, else the first of /var/run/docker.sock,
// /run/podman/podman.sock and $XDG_RUNTIME_DIR/podman/podman.sock that
// answers, and checks the options. It creates no container: that happens
// on a scope's first Run. When no engine answers, the error wraps
// [sandbox.ErrUnavailable] and says how to start one.
func New(ctx context.Context, opts sandbox.Options) (*Sandbox, error) {
	s := &Sandbox{opts: opts, boxes: make(map[string]*box)}
	if err := s.configure(); err != nil {
		return nil, err
	}
	if err := s.connect(ctx); err != nil {
		return nil, err
	}
	if s.sockPath != "" {
		for _, src := range s.bindSources() {
			if src == s.sockPath || within(s.sockPath, src) {
				s.cli.Close()
				return nil, fmt.Errorf("bind source %q contains the engine socket %s: mount a directory that does not: %w", src, s.sockPath, ErrSensitiveBind)
			}
		}
	}
	if err := s.checkLimits(ctx); err != nil {
		s.cli.Close()
		return nil, err
	}
	if err := s.prepareSeccomp(); err != nil {
		s.cli.Close()
		return nil, err
	}
	return s, nil
}

// configure checks the options and fills in defaults.
func (s *Sandbox) configure() error {
	d := s.opts.Docker
	s.image = cmp.Or(d.Image, DefaultImage)
	s.network = cmp.Or(d.Network, "none")
	if s.network == "host" || strings.HasPrefix(s.network, "container:") {
		return fmt.Errorf("agents.defaults.sandbox.docker.network %q shares a namespace outside the sandbox: use \"none\" (or a network of its own)", s.network)
	}
	user, err := checkUser(d.User)
	if err != nil {
		return err
	}
	s.user = user
	if s.opts.Limits.Timeout <= 0 {
		s.opts.Limits.Timeout = 60 * time.Second
	}

	home, _ := os.UserHomeDir()
	stateDir := s.opts.StateDir
	if stateDir != "" {
		s.instance = shortHash(canonical(stateDir))
	} else {
		s.instance = shortHash("")
	}
	switch s.opts.WorkspaceAccess {
	case "", "none":
	case "ro", "rw":
		if s.opts.Workspace != "" {
			ws, err := CheckBindSource(s.opts.Workspace, home, stateDir)
			if err != nil {
				return fmt.Errorf("workspace: %w", err)
			}
			if strings.ContainsAny(ws, ":,") {
				return fmt.Errorf("workspace %q contains ':' or ',', which the engine cannot mount unambiguously: move it", ws)
			}
			s.workspace, s.wsMode = ws, s.opts.WorkspaceAccess
		}
	default:
		return fmt.Errorf("agents.defaults.sandbox.workspaceAccess %q: want none, ro or rw", s.opts.WorkspaceAccess)
	}
	for _, spec := range d.Binds {
		b, err := ParseBind(spec, home, stateDir)
		if err != nil {
			return fmt.Errorf("agents.defaults.sandbox.docker.binds: %w", err)
		}
		s.binds = append(s.binds, b)
	}
	return nil
}

func (s *Sandbox) bindSources() []string {
	var srcs []string
	if s.workspace != "" {
		srcs = append(srcs, s.workspace)
	}
	for _, b := range s.binds {
		srcs = append(srcs, b.Source)
	}
	return srcs
}

// checkUser refuses root and names: a name is resolved in the image's
// /etc/passwd, which the image's author controls.
func checkUser(u string) (string, error) {
	if u == "" {
		return DefaultUser, nil
	}
	uidS, gidS, hasGID := strings.Cut(u, ":")
	uid, err := strconv.ParseUint(uidS, 10, 32)
	if err != nil {
		if uidS == "root" {
			return "", fmt.Errorf("agents.defaults.sandbox.docker.user %q: root is refused: use a uid:gid such as %s", u, DefaultUser)
		}
		return "", fmt.Errorf("agents.defaults.sandbox.docker.user %q: want a numeric uid:gid such as %s", u, DefaultUser)
	}
	gid := uid // without a gid the engine would pick 0 for a uid the image does not list
	if hasGID {
		if gid, err = strconv.ParseUint(gidS, 10, 32); err != nil {
			return "", fmt.Errorf("agents.defaults.sandbox.docker.user %q: want a numeric uid:gid such as %s", u, DefaultUser)
		}
	}
	if uid == 0 || gid == 0 {
		return "", fmt.Errorf("agents.defaults.sandbox.docker.user %q: uid or gid 0 (root) is refused: use a uid:gid such as %s", u, DefaultUser)
	}
	return fmt.Sprintf("%d:%d", uid, gid), nil
}

// connect finds the engine and pings it.
func (s *Sandbox) connect(ctx context.Context) error {
	var hosts []string
	switch {
	case s.opts.Docker.Host != "":
		hosts = []string{s.opts.Docker.Host}
	case os.Getenv(client.EnvOverrideHost) != "":
		hosts = []string{os.Getenv(client.EnvOverrideHost)}
	default:
		for _, p := range defaultSockets {
			hosts = append(hosts, "unix://"+p)
		}
		if x := os.Getenv("XDG_RUNTIME_DIR"); x != "" {
			hosts = append(hosts, "unix://"+filepath.Join(x, "podman", "podman.sock"))
		}
	}
	var tried []string
	for _, h := range hosts {
		cli, sock, err := dial(ctx, h)
		if err != nil {
			tried = append(tried, fmt.Sprintf("%s (%v)", h, err))
			continue
		}
		s.cli, s.host, s.sockPath = cli, h, sock
		s.engine = probe(ctx, cli)
		return nil
	}
	return fmt.Errorf("no container engine answered; tried %s: start Docker, or Podman's API service "+
		"(podman system service --time=0 unix:///run/podman/podman.sock &), "+
		"or point agents.defaults.sandbox.docker.host or DOCKER_HOST at the engine's socket: %w",
		strings.Join(tried, ", "), sandbox.ErrUnavailable)
}

// dial makes a client for host, which must be a unix socket or a loopback
// address, and pings it.
func dial(ctx context.Context, host string) (*client.Client, string, error) {
	u, err := client.ParseHostURL(host)
	if err != nil {
		return nil, "", err
	}
	var sock string
	switch u.Scheme {
	case "unix":
		sock = u.Host
		if _, err := os.Stat(sock); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, "", errors.New("no such socket")
			}
			return nil, "", err
		}
		if c, err := filepath.EvalSymlinks(sock); err == nil {
			sock = c
		}
	case "tcp", "http":
		if !isLoopback(u) {
			return nil, "", errors.New("not a unix socket or a loopback address: the sandbox talks to a local engine only")
		}
	default:
		return nil, "", fmt.Errorf("scheme %q: want unix:// or tcp://127.0.0.1", u.Scheme)
	}
	cli, err := client.New(client.WithHost(host))
	if err != nil {
		return nil, "", err
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := cli.Ping(pctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		cli.Close()
		return nil, "", errors.New(lastPart(err.Error()))
	}
	return cli, sock, nil
}

func isLoopback(u *url.URL) bool {
	h := u.Hostname()
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// lastPart keeps an error's innermost cause, which is what says why
// ("connection refused").
func lastPart(s string) string {
	if i := strings.LastIndex(s, ": "); i >= 0 {
		return s[i+2:]
	}
	return s
}

// probe names the engine. It is informational: an engine that does not
// say is "docker".
func probe(ctx context.Context, cli *client.Client) engineInfo {
	e := engineInfo{name: "docker"}
	vctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	v, err := cli.ServerVersion(vctx, client.ServerVersionOptions{})
	if err != nil {
		return e
	}
	e.version, e.apiVersion = v.Version, v.APIVersion
	for _, c := range v.Components {
		if strings.Contains(strings.ToLower(c.Name), "podman") {
			e.name = "podman"
		}
	}
	if strings.Contains(strings.ToLower(v.Platform.Name), "podman") {
		e.name = "podman"
	}
	return e
}

// checkLimits asks the engine whether it applies cgroup limits (rootless
// Podman on cgroup v1 ignores them), and fails closed when it does not,
// unless the owner allowed running without "limits".
func (s *Sandbox) checkLimits(ctx context.Context) error {
	s.limits = sandbox.Layer{Name: "limits", State: sandbox.LayerOn, Detail: s.limitsDetail()}
	ictx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	info, err := s.cli.Info(ictx, client.InfoOptions{})
	if err != nil {
		return fmt.Errorf("engine info at %s: %w", s.host, err)
	}
	in := info.Info
	var missing []string
	if s.opts.Limits.MemoryBytes > 0 && !in.MemoryLimit {
		missing = append(missing, "memory")
	}
	if s.opts.Limits.Pids > 0 && !in.PidsLimit {
		missing = append(missing, "pids")
	}
	if s.opts.Limits.CPUs > 0 && !in.CPUCfsQuota {
		missing = append(missing, "cpus")
	}
	rootless := slices.ContainsFunc(in.SecurityOptions, func(o string) bool { return strings.Contains(o, "rootless") })
	if rootless && in.CgroupVersion == "1" {
		missing = append(missing, "all cgroup limits (rootless engine on cgroup v1)")
	}
	if len(missing) == 0 {
		return nil
	}
	reason := fmt.Sprintf("the %s engine at %s does not apply %s limits", s.engine.name, s.host, strings.Join(missing, ", "))
	if slices.Contains(s.opts.AllowWithout, "limits") {
		s.limits.State, s.limits.Detail = sandbox.LayerWaived, reason+"; allowed by allowWithout"
		return nil
	}
	return &sandbox.LayerError{Layer: "limits", Reason: reason}
}

// prepareSeccomp makes the seccomp profile and, for Podman, its file:
// in the state directory (never mounted), else in the user's cache.
func (s *Sandbox) prepareSeccomp() error {
	profile, n, err := seccompJSON()
	if err != nil {
		return &sandbox.LayerError{Layer: "seccomp", Reason: err.Error()}
	}
	dir := ""
	if s.opts.StateDir != "" {
		dir = filepath.Join(s.opts.StateDir, "sandbox")
	} else if c, err := os.UserCacheDir(); err == nil {
		dir = filepath.Join(c, "gatehouse", "sandbox")
	} else {
		dir = filepath.Join(os.TempDir(), fmt.Sprintf("gatehouse-%d", os.Getuid()))
	}
	opt, err := seccompOpt(s.engine.name, profile, dir)
	if err != nil {
		return &sandbox.LayerError{Layer: "seccomp", Reason: err.Error()}
	}
	s.seccomp, s.allowed = opt, n
	return nil
}

// Backend returns "docker".
func (s *Sandbox) Backend() string { return "docker" }

// Close closes the connection to the engine. Containers stay, for the
// next gateway run to reuse or Prune to remove.
func (s *Sandbox) Close() error { return s.cli.Close() }

// Options returns the options the sandbox was made from, with defaults
// filled in.
func (s *Sandbox) Options() sandbox.Options { return s.opts }

// Engine names the engine ("docker" or "podman"), its version and where
// it listens.
func (s *Sandbox) Engine() (name, version, host string) {
	return s.engine.name, s.engine.version, s.host
}

func (s *Sandbox) box(scope string) *box {
	h := scopeHash(scope)
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.boxes[h]
	if b == nil {
		b = &box{scopeHash: h}
		s.boxes[h] = b
	}
	return b
}

func scopeHash(scope string) string {
	sum := sha256.Sum256([]byte(scope))
	return hex.EncodeToString(sum[:])
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:8])
}

// errGone is an exec that could not start because its container is gone
// or stopped; the Run is retried once in a new container.
var errGone = errors.New("sandbox container gone")

// Run runs req in its scope's container, creating the container first if
// needed. On timeout, or when ctx ends, it removes the whole container,
// which kills every process in it (those of other commands running in the
// same scope at that moment too: they end "killed"); the scope's next Run
// creates a new one. When the last command running in a container ends,
// whatever it left running in the background is killed.
func (s *Sandbox) Run(ctx context.Context, req sandbox.Request) (*sandbox.Result, error) {
	if len(req.Argv) == 0 || req.Argv[0] == "" {
		return nil, errors.New("sandbox request has no command")
	}
	for _, kv := range req.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return nil, fmt.Errorf("sandbox request env %q: want KEY=VALUE", kv)
		}
	}
	if req.Dir != "" && !filepath.IsAbs(req.Dir) {
		return nil, fmt.Errorf("sandbox request dir %q: want an absolute path in the sandbox", req.Dir)
	}
	b := s.box(req.Scope)
	for attempt := 0; ; attempt++ {
		id, err := s.acquire(ctx, b)
		if err != nil {
			return nil, err
		}
		res, err := s.exec(ctx, id, req)
		s.release(ctx, b, id, res, err)
		if errors.Is(err, errGone) && attempt == 0 {
			continue
		}
		return res, err
	}
}

// acquire returns b's container, created and started if needed, and
// counts the caller as running in it until release.
func (s *Sandbox) acquire(ctx context.Context, b *box) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.id == "" {
		id, err := s.ensure(ctx, b.scopeHash)
		if err != nil {
			return "", err
		}
		b.id = id
	}
	b.active++
	b.lastUsed = time.Now()
	return b.id, nil
}

// release ends a command started by acquire. After a timeout or a
// cancelled ctx it removes the container; after the last command running
// in it, it kills what the commands left behind, and removes the
// container if even that fails.
func (s *Sandbox) release(ctx context.Context, b *box, id string, res *sandbox.Result, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.active--
	b.lastUsed = time.Now()
	if b.id != id {
		return // already removed and maybe recreated
	}
	kill := errors.Is(err, errGone) || (res != nil && res.TimedOut) || ctx.Err() != nil
	ctx = context.WithoutCancel(ctx)
	if !kill && b.active == 0 {
		kill = s.reap(ctx, id) != nil
	}
	if kill {
		s.remove(ctx, id)
		b.id = ""
	}
}

// reap kills every process in container id but its PID 1.
func (s *Sandbox) reap(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cr, err := s.cli.ExecCreate(ctx, id, client.ExecCreateOptions{
		User:         s.user,
		AttachStdout: true, // Podman refuses an exec without a stream
		AttachStderr: true,
		Env:          baseEnv(),
		Cmd:          []string{"/bin/sh", "-c", reapScript},
	})
	if err != nil {
		return err
	}
	att, err := s.cli.ExecAttach(ctx, cr.ID, client.ExecAttachOptions{})
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, att.Close)
	_, err = io.Copy(io.Discard, att.Reader)
	stop()
	att.Close()
	if err != nil {
		return err
	}
	code, err := s.waitExec(ctx, cr.ID)
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("reaper exited %d", code)
	}
	return nil
}

// remove force-removes container id, which kills everything in it first.
// It returns when the engine has, so nothing of it still runs.
func (s *Sandbox) remove(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 60*time.Second)
	defer cancel()
	_, err := s.cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove sandbox container %.12s: %w", id, err)
	}
	return nil
}

// exec runs req in container id.
func (s *Sandbox) exec(ctx context.Context, id string, req sandbox.Request) (*sandbox.Result, error) {
	timeout := s.opts.Limits.Timeout
	if req.Timeout > 0 && req.Timeout < timeout {
		timeout = req.Timeout
	}
	maxOut := req.MaxOutput
	dir := req.Dir
	if dir == "" {
		dir = s.defaultDir()
	}
	env := append(baseEnv(), req.Env...)

	start := time.Now()
	runCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cr, err := s.cli.ExecCreate(runCtx, id, client.ExecCreateOptions{
		User:         s.user,
		AttachStdin:  len(req.Stdin) > 0,
		AttachStdout: true,
		AttachStderr: true,
		Env:          env,
		WorkingDir:   dir,
		Cmd:          req.Argv,
	})
	if err != nil {
		if cerrdefs.IsNotFound(err) || cerrdefs.IsConflict(err) {
			return nil, fmt.Errorf("%w: %v", errGone, err)
		}
		if r, e := s.ended(ctx, runCtx, start, nil); r != nil || e != nil {
			return r, e
		}
		return nil, fmt.Errorf("sandbox exec in container %.12s: %w", id, err)
	}
	att, err := s.cli.ExecAttach(runCtx, cr.ID, client.ExecAttachOptions{})
	if err != nil {
		if r, e := s.ended(ctx, runCtx, start, nil); r != nil || e != nil {
			return r, e
		}
		if cerrdefs.IsNotFound(err) || cerrdefs.IsConflict(err) {
			return nil, fmt.Errorf("%w: %v", errGone, err)
		}
		return nil, fmt.Errorf("sandbox exec start in container %.12s: %w", id, err)
	}
	defer att.Close()

	out := sandbox.NewOutputBuffer(maxOut)
	copied := make(chan error, 1)
	go func() {
		var drop func([]byte) bool
		if s.engine.name == "podman" && len(req.Stdin) > 0 {
			drop = podmanStdinNoise.Match
		}
		copied <- demux(out, att.Reader, drop)
	}()
	stdinDone := make(chan struct{})
	go func() {
		defer close(stdinDone)
		if len(req.Stdin) > 0 {
			att.Conn.Write(req.Stdin) // an error means the command stopped reading; its exit tells
		}
		att.CloseWrite()
	}()

	// Wait for the output to end, or for the command to exit while
	// something it started still holds its output open (`daemon &`):
	// then give the stream a moment to drain and stop reading; the reaping
	// in release kills the holders.
	watchCtx, stopWatch := context.WithCancel(runCtx)
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		s.watchExec(watchCtx, cr.ID)
	}()
	var copyErr error
	select {
	case copyErr = <-copied:
	case <-exited:
		if runCtx.Err() != nil {
			break // the timeout, handled below
		}
		grace := time.NewTimer(500 * time.Millisecond)
		select {
		case copyErr = <-copied:
		case <-grace.C:
			att.Close()
			<-copied
		case <-runCtx.Done():
		}
		grace.Stop()
	case <-runCtx.Done():
	}
	stopWatch()
	<-exited
	if runCtx.Err() != nil {
		// The command (or a child) is still running: release kills them
		// all by removing the container, under the box lock so that no
		// command starts in it meanwhile.
		att.Close()
		<-copied
		<-stdinDone
		return s.ended(ctx, runCtx, start, out)
	}
	att.Close()
	<-stdinDone

	code, err := s.waitExec(runCtx, cr.ID)
	if err != nil {
		if r, e := s.ended(ctx, runCtx, start, out); r != nil || e != nil {
			return r, e
		}
		if cerrdefs.IsNotFound(err) {
			// The container was removed under the command (another
			// command's timeout, or Prune).
			return &sandbox.Result{Output: out.Bytes(), Truncated: out.Truncated(), ExitCode: -1, Signal: "killed", Duration: time.Since(start)}, nil
		}
		return nil, fmt.Errorf("sandbox exec inspect: %w", err)
	}
	if copyErr != nil && !errors.Is(copyErr, net.ErrClosed) {
		return nil, fmt.Errorf("sandbox exec output: %w", copyErr)
	}
	return &sandbox.Result{
		Output:    out.Bytes(),
		Truncated: out.Truncated(),
		ExitCode:  code,
		Duration:  time.Since(start),
	}, nil
}

// ended reports a command whose runCtx ended: a timed-out Result (with
// the output so far) when the timeout fired, ctx's error when ctx ended
// first, and nothing when runCtx has not ended. The caller's release then
// removes the container.
func (s *Sandbox) ended(ctx, runCtx context.Context, start time.Time, out *sandbox.OutputBuffer) (*sandbox.Result, error) {
	if runCtx.Err() == nil {
		return nil, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sandbox command stopped: %w", err)
	}
	res := &sandbox.Result{ExitCode: -1, Signal: "killed", TimedOut: true, Duration: time.Since(start)}
	if out != nil {
		res.Output, res.Truncated = out.Bytes(), out.Truncated()
	}
	return res, nil
}

// watchExec returns when the exec's process has exited or ctx ends. It
// asks the engine now and then, first after 100 ms: most commands end
// their output before, and the caller stops watching then.
func (s *Sandbox) watchExec(ctx context.Context, execID string) {
	delay := 100 * time.Millisecond
	t := time.NewTimer(delay)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ins, err := s.cli.ExecInspect(ctx, execID, client.ExecInspectOptions{})
		if err != nil || !ins.Running {
			return
		}
		delay = min(2*delay, time.Second)
		t.Reset(delay)
	}
}

// waitExec returns the exit code of an exec whose output has ended. The
// engine may report it running for a moment after its stream closed.
func (s *Sandbox) waitExec(ctx context.Context, execID string) (int, error) {
	delay := time.Millisecond
	for {
		ins, err := s.cli.ExecInspect(ctx, execID, client.ExecInspectOptions{})
		if err != nil {
			return 0, err
		}
		if !ins.Running {
			return ins.ExitCode, nil
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, ctx.Err()
		case <-t.C:
		}
		delay = min(2*delay, 100*time.Millisecond)
	}
}

// baseEnv is the environment of every command: nothing of the host's.
func baseEnv() []string {
	return []string{"PATH=" + sandbox.DefaultPath, "HOME=/tmp", "LANG=C.UTF-8", "TERM=dumb"}
}

func (s *Sandbox) defaultDir() string {
	if s.workspace != "" {
		return sandbox.WorkspaceMount
	}
	return "/tmp"
}

// ensure returns the running container of scope hash sh, reusing one with
// the current settings and replacing any other.
func (s *Sandbox) ensure(ctx context.Context, sh string) (string, error) {
	img, err := s.cli.ImageInspect(ctx, s.image)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return "", fmt.Errorf("sandbox image %s is not on the %s engine at %s: build it with gatehouse sandbox build, or set agents.defaults.sandbox.docker.image: %w",
				s.image, s.engine.name, s.host, sandbox.ErrUnavailable)
		}
		return "", fmt.Errorf("sandbox image %s: %w", s.image, err)
	}
	cfg, hc := s.spec(sh)
	hash := configHash(img.ID, cfg, hc)
	cfg.Labels[LabelConfig] = hash

	list, err := s.cli.ContainerList(ctx, client.ContainerListOptions{
		All: true,
		Filters: make(client.Filters).Add("label",
			LabelSandbox+"=1", LabelInstance+"="+s.instance, LabelScope+"="+sh),
	})
	if err != nil {
		return "", fmt.Errorf("list sandbox containers: %w", err)
	}
	var keep string
	for _, c := range list.Items {
		if c.Labels[LabelInstance] != s.instance || c.Labels[LabelScope] != sh {
			continue // an engine that ignored a filter
		}
		if keep == "" && c.Labels[LabelConfig] == hash && c.State == container.StateRunning {
			keep = c.ID
			continue
		}
		if err := s.remove(ctx, c.ID); err != nil {
			return "", err
		}
	}
	if keep != "" {
		return keep, nil
	}

	created, err := s.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config:     cfg,
		HostConfig: hc,
		Name:       "gatehouse-" + s.instance[:8] + "-" + sh[:16],
	})
	if err != nil {
		return "", fmt.Errorf("create sandbox container: %w", err)
	}
	if _, err := s.cli.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		s.remove(ctx, created.ID)
		return "", fmt.Errorf("start sandbox container (image %s): %w", s.image, err)
	}
	return created.ID, nil
}

// spec is the container of scope hash sh.
func (s *Sandbox) spec(sh string) (*container.Config, *container.HostConfig) {
	lim := s.opts.Limits
	ws := ""
	if s.workspace != "" {
		ws = s.workspace + ":" + s.wsMode
	}
	stop := 1
	cfg := &container.Config{
		Hostname:    "sandbox",
		User:        s.user,
		Env:         baseEnv(),
		Entrypoint:  []string{"/bin/sh", "-c"},
		Cmd:         []string{idleLoop},
		Image:       s.image,
		WorkingDir:  s.defaultDir(),
		StopTimeout: &stop,
		Labels: map[string]string{
			LabelSandbox:   "1",
			LabelInstance:  s.instance,
			LabelScope:     sh,
			LabelWorkspace: ws,
		},
	}
	no := false
	pids := int64(lim.Pids)
	tmpfs := "rw,exec,nosuid,nodev,mode=1777"
	if lim.TmpfsBytes > 0 {
		tmpfs += ",size=" + strconv.FormatInt(lim.TmpfsBytes, 10)
	}
	hc := &container.HostConfig{
		NetworkMode:    container.NetworkMode(s.network),
		ReadonlyRootfs: s.opts.Docker.ReadOnlyRoot,
		CapDrop:        []string{"ALL"},
		SecurityOpt:    []string{"no-new-privileges", s.seccomp},
		IpcMode:        "private",
		Privileged:     false,
		Init:           &no,
		RestartPolicy:  container.RestartPolicy{Name: container.RestartPolicyDisabled},
		LogConfig:      container.LogConfig{Type: "none"},
		Tmpfs:          map[string]string{"/tmp": tmpfs},
		Resources: container.Resources{
			Memory:     lim.MemoryBytes,
			MemorySwap: lim.MemoryBytes,
			NanoCPUs:   int64(lim.CPUs * 1e9),
		},
	}
	if pids > 0 {
		hc.PidsLimit = &pids
	}
	// Empty read-only tmpfs over what commands have no business with:
	// the cgroup tree, hidden as the native backend hides it (the cost:
	// runtimes that size their heap from the cgroup's memory limit, such
	// as the JVM, see the host's memory instead), and /var/tmp, which
	// Podman makes a writable tmpfs, without a size limit, in a
	// read-only container.
	hc.Tmpfs["/sys/fs/cgroup"] = "ro,nosuid,nodev,noexec,mode=0555"
	if s.opts.Docker.ReadOnlyRoot {
		hc.Tmpfs["/var/tmp"] = "ro,nosuid,nodev,noexec,mode=0555"
	}
	if s.workspace != "" {
		hc.Binds = append(hc.Binds, s.workspace+":"+sandbox.WorkspaceMount+":"+s.wsMode)
	}
	for _, b := range s.binds {
		mode := "rw"
		if b.ReadOnly {
			mode = "ro"
		}
		hc.Binds = append(hc.Binds, b.Source+":"+b.Target+":"+mode)
	}
	if lim.OpenFiles > 0 {
		hc.Ulimits = append(hc.Ulimits, &container.Ulimit{Name: "nofile", Soft: int64(lim.OpenFiles), Hard: int64(lim.OpenFiles)})
	}
	if lim.FileSizeBytes > 0 {
		hc.Ulimits = append(hc.Ulimits, &container.Ulimit{Name: "fsize", Soft: lim.FileSizeBytes, Hard: lim.FileSizeBytes})
	}
	if lim.CPUSeconds > 0 {
		hc.Ulimits = append(hc.Ulimits, &container.Ulimit{Name: "cpu", Soft: int64(lim.CPUSeconds), Hard: int64(lim.CPUSeconds)})
	}
	if s.engine.name == "podman" && len(hc.Ulimits) > 0 {
		// Podman, given any ulimit, replaces its default process limit with
		// 1048576, which fails where root cannot raise limits. RLIMIT_NPROC
		// counts a uid's processes host-wide, so it cannot bound one sandbox
		// (the pids cgroup does); this one only has to be low enough to set.
		n := max(podmanNproc, int64(lim.Pids))
		hc.Ulimits = append(hc.Ulimits, &container.Ulimit{Name: "nproc", Soft: n, Hard: n})
	}
	return cfg, hc
}

// configHash identifies a container's settings: the image's ID (a rebuilt
// image changes it) and everything in the create request.
func configHash(imageID string, cfg *container.Config, hc *container.HostConfig) string {
	h := sha256.New()
	io.WriteString(h, imageID)
	json.NewEncoder(h).Encode(cfg)
	json.NewEncoder(h).Encode(hc)
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// Prune removes this gateway's sandbox containers that ran no command for
// longer than idle (those not known to this process count as idle since
// they were created), and the stopped ones.
func (s *Sandbox) Prune(ctx context.Context, idle time.Duration) (int, error) {
	list, err := s.cli.ContainerList(ctx, client.ContainerListOptions{
		All:     true,
		Filters: make(client.Filters).Add("label", LabelSandbox+"=1", LabelInstance+"="+s.instance),
	})
	if err != nil {
		return 0, fmt.Errorf("list sandbox containers: %w", err)
	}
	now := time.Now()
	n := 0
	for _, c := range list.Items {
		if c.Labels[LabelSandbox] != "1" || c.Labels[LabelInstance] != s.instance {
			continue
		}
		removed, err := s.pruneOne(ctx, c, now, idle)
		if err != nil {
			return n, err
		}
		if removed {
			n++
		}
	}
	return n, nil
}

func (s *Sandbox) pruneOne(ctx context.Context, c container.Summary, now time.Time, idle time.Duration) (bool, error) {
	s.mu.Lock()
	b := s.boxes[c.Labels[LabelScope]]
	s.mu.Unlock()
	last := time.Unix(c.Created, 0)
	if b != nil {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.id == c.ID {
			if b.active > 0 {
				return false, nil
			}
			if !b.lastUsed.IsZero() {
				last = b.lastUsed
			}
		}
	}
	if c.State == container.StateRunning && now.Sub(last) <= idle {
		return false, nil
	}
	if err := s.remove(ctx, c.ID); err != nil {
		return false, err
	}
	if b != nil && b.id == c.ID {
		b.id = ""
	}
	return true, nil
}

// Layers reports the isolation this backend applies, from its settings;
// the engine layer says whether the engine answers now.
func (s *Sandbox) Layers(ctx context.Context) []sandbox.Layer {
	engine := sandbox.Layer{Name: "engine", State: sandbox.LayerOn,
		Detail: fmt.Sprintf("%s %s (API %s) at %s", s.engine.name, s.engine.version, s.engine.apiVersion, s.host)}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := s.cli.Ping(pctx, client.PingOptions{}); err != nil {
		engine.State = sandbox.LayerMissing
		engine.Detail = fmt.Sprintf("%s at %s does not answer: %v", s.engine.name, s.host, lastPart(err.Error()))
	}
	network := sandbox.Layer{Name: "network", State: sandbox.LayerOn, Detail: "network none: no interface but loopback"}
	if s.network != "none" {
		network.State = sandbox.LayerOff
		network.Detail = fmt.Sprintf("network %q: commands reach whatever that network reaches", s.network)
	}
	root := sandbox.Layer{Name: "readonly-root", State: sandbox.LayerOn, Detail: "root filesystem read-only; /tmp is a private tmpfs"}
	if !s.opts.Docker.ReadOnlyRoot {
		root.State, root.Detail = sandbox.LayerOff, "root filesystem writable (agents.defaults.sandbox.docker.readOnlyRoot false)"
	}
	return []sandbox.Layer{
		engine,
		network,
		root,
		{Name: "capabilities", State: sandbox.LayerOn, Detail: "all capabilities dropped"},
		{Name: "nonewprivs", State: sandbox.LayerOn, Detail: "no-new-privileges: setuid binaries gain nothing"},
		{Name: "seccomp", State: sandbox.LayerOn, Detail: fmt.Sprintf("gatehouse's profile in place of the engine's: %d syscalls allowed; "+
			"namespaces, mounts, ptrace, keyrings, bpf, io_uring and other ABIs refused", s.allowed)},
		{Name: "user", State: sandbox.LayerOn, Detail: "commands run as uid:gid " + s.user + ", never root"},
		s.limits,
	}
}

func (s *Sandbox) limitsDetail() string {
	l := s.opts.Limits
	var parts []string
	if l.MemoryBytes > 0 {
		parts = append(parts, fmt.Sprintf("memory %d MiB, no swap", l.MemoryBytes>>20))
	}
	if l.Pids > 0 {
		parts = append(parts, fmt.Sprintf("%d pids", l.Pids))
	}
	if l.CPUs > 0 {
		parts = append(parts, fmt.Sprintf("%g CPUs", l.CPUs))
	}
	if l.CPUSeconds > 0 {
		parts = append(parts, fmt.Sprintf("%d CPU seconds per process", l.CPUSeconds))
	}
	if l.OpenFiles > 0 {
		parts = append(parts, fmt.Sprintf("%d open files", l.OpenFiles))
	}
	if l.FileSizeBytes > 0 {
		parts = append(parts, fmt.Sprintf("files up to %d MiB", l.FileSizeBytes>>20))
	}
	if l.TmpfsBytes > 0 {
		parts = append(parts, fmt.Sprintf("/tmp %d MiB", l.TmpfsBytes>>20))
	}
	parts = append(parts, fmt.Sprintf("timeout %s", l.Timeout))
	return strings.Join(parts, ", ")
}

// Explain describes the container a command of scope runs in.
func (s *Sandbox) Explain(ctx context.Context, scope string) sandbox.Explanation {
	root := sandbox.Mount{Target: "/", Source: "image " + s.image, Mode: "ro"}
	if !s.opts.Docker.ReadOnlyRoot {
		root.Mode = "rw"
	}
	mounts := []sandbox.Mount{root, {Target: "/tmp", Source: "tmpfs", Mode: "rw"}, {Target: "/proc", Source: "proc", Mode: "rw"},
		{Target: "/sys/fs/cgroup", Source: "tmpfs", Mode: "ro"}}
	if s.opts.Docker.ReadOnlyRoot {
		mounts = append(mounts, sandbox.Mount{Target: "/var/tmp", Source: "tmpfs", Mode: "ro"})
	}
	if s.workspace != "" {
		mounts = append(mounts, sandbox.Mount{Target: sandbox.WorkspaceMount, Source: s.workspace, Mode: s.wsMode})
	}
	for _, b := range s.binds {
		m := sandbox.Mount{Target: b.Target, Source: b.Source, Mode: "rw"}
		if b.ReadOnly {
			m.Mode = "ro"
		}
		mounts = append(mounts, m)
	}
	return sandbox.Explanation{
		Backend: "docker",
		Scope:   scope,
		Mounts:  mounts,
		Network: s.network,
		User:    s.user,
		Limits:  s.opts.Limits,
		Layers:  s.Layers(ctx),
	}
}
