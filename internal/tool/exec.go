package tool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/llm"
	"gatehouse/internal/sandbox"
)

// Exec limits.
const (
	maxExecArgs    = 256
	maxExecCommand = 32 << 10
	maxExecEnv     = 64
)

// ExecOptions configure the exec tool.
type ExecOptions struct {
	// Sandbox returns the sandbox commands run in; nil when
	// agents.defaults.sandbox.mode is off, and then every command is an
	// elevated one.
	Sandbox func(ctx context.Context) (sandbox.Sandbox, error)
	// Scope is agents.defaults.sandbox.scope: session, agent or shared.
	Scope string
	// Limits bound every command (the timeout and the output).
	Limits sandbox.Limits
	// Elevated is tools.elevated; Approvals is required when it is enabled.
	Elevated  config.ToolsElevated
	Approvals *Approvals
	// Workspace is the host workspace: the default working directory of
	// elevated commands.
	Workspace string
	Logger    *slog.Logger
}

// ExecTool is the exec tool: run a shell command or an argv in the
// sandbox, or, elevated, on the host after the owner approves it.
type ExecTool struct {
	o ExecOptions
}

var _ Tool = (*ExecTool)(nil)

// NewExec returns the exec tool.
func NewExec(o ExecOptions) *ExecTool {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Limits.Timeout <= 0 {
		o.Limits.Timeout = 60 * time.Second
	}
	return &ExecTool{o: o}
}

// Spec describes exec to the model.
func (t *ExecTool) Spec() llm.ToolSpec {
	desc := "Run a command in an isolated sandbox (no network, the workspace at /workspace" +
		") and return its combined output and exit code. Give either command (a shell string, run with /bin/sh -c) or argv."
	props := `"command":{"type":"string","description":"Shell command line, run with /bin/sh -c"},` +
		`"argv":{"type":"array","items":{"type":"string"},"description":"Program and arguments, run without a shell"},` +
		`"workdir":{"type":"string","description":"Working directory; default /workspace"},` +
		`"timeout":{"type":"integer","minimum":1,"description":"Seconds before the command and its children are killed"},` +
		`"env":{"type":"object","additionalProperties":{"type":"string"},"description":"Extra environment variables"}`
	if t.o.Elevated.Enabled {
		desc += " elevated: true runs it on the host instead, only for allowed senders and only after the owner approves that exact command."
		props += `,"elevated":{"type":"boolean","description":"Run on the host after the owner's approval"}`
	}
	if t.o.Sandbox == nil {
		desc = "Run a command on the host, after the owner approves that exact command. Give either command (a shell string) or argv."
	}
	return llm.ToolSpec{Name: NameExec, Description: desc, Parameters: schema(nil, props)}
}

type execArgs struct {
	Command  string            `json:"command"`
	Argv     []string          `json:"argv"`
	Workdir  string            `json:"workdir"`
	Timeout  int               `json:"timeout"`
	Env      map[string]string `json:"env"`
	Elevated bool              `json:"elevated"`
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)

// parse checks the arguments and returns the argv.
func (a *execArgs) parse() ([]string, error) {
	switch {
	case a.Command != "" && len(a.Argv) > 0:
		return nil, errors.New("give command or argv, not both")
	case a.Command != "":
		if len(a.Command) > maxExecCommand {
			return nil, fmt.Errorf("command is over %d bytes", maxExecCommand)
		}
		if strings.ContainsRune(a.Command, 0) {
			return nil, errors.New("command contains a NUL byte")
		}
		return []string{"/bin/sh", "-c", a.Command}, nil
	case len(a.Argv) > 0:
		if len(a.Argv) > maxExecArgs {
			return nil, fmt.Errorf("argv has over %d entries", maxExecArgs)
		}
		n := 0
		for _, s := range a.Argv {
			if strings.ContainsRune(s, 0) {
				return nil, errors.New("argv contains a NUL byte")
			}
			n += len(s)
		}
		if a.Argv[0] == "" || n > maxExecCommand {
			return nil, errors.New("argv[0] is empty or argv is too long")
		}
		return slices.Clone(a.Argv), nil
	default:
		return nil, errors.New("give command (a shell string) or argv")
	}
}

// Run runs the command.
func (t *ExecTool) Run(ctx context.Context, call Call) (Result, error) {
	var a execArgs
	if err := DecodeArgs(call.Args, &a); err != nil {
		return Errorf("exec: %v", err), nil
	}
	if !t.o.Elevated.Enabled && a.Elevated {
		return Errorf("exec: elevated execution is off on this gateway (tools.elevated.enabled is false)"), nil
	}
	argv, err := a.parse()
	if err != nil {
		return Errorf("exec: %v", err), nil
	}
	if len(a.Env) > maxExecEnv {
		return Errorf("exec: more than %d environment variables", maxExecEnv), nil
	}
	var env []string
	for k, v := range a.Env {
		if !envName.MatchString(k) || strings.ContainsRune(v, 0) {
			return Errorf("exec: environment variable %q is not a valid name", k), nil
		}
		env = append(env, k+"="+v)
	}
	slices.Sort(env)
	timeout := t.o.Limits.Timeout
	if a.Timeout > 0 && time.Duration(a.Timeout)*time.Second < timeout {
		timeout = time.Duration(a.Timeout) * time.Second
	}
	if a.Elevated || t.o.Sandbox == nil {
		if len(env) > 0 {
			return Errorf("exec: elevated commands take no env: the owner approves the command line alone"), nil
		}
		return t.elevated(ctx, call, argv, a.Workdir, timeout)
	}
	res, err := t.RunSandboxed(ctx, call.SessionKey, argv, env, a.Workdir, timeout)
	if err != nil {
		var le *sandbox.LayerError
		if errors.As(err, &le) {
			// Fail closed, and say so to the model: the owner fixes it.
			t.o.Logger.Error("sandbox refused to run", "err", err)
			return Errorf("exec: the sandbox cannot run on this host (%s missing); the owner must fix it: see gatehouse sandbox status", le.Layer), nil
		}
		return Result{}, err
	}
	return formatExec(res, timeout), nil
}

// RunSandboxed runs argv in the sandbox of sessionKey's scope exactly as
// a call of the tool does: `gatehouse sandbox exec` uses it. workdir is
// relative to /workspace unless absolute; timeout 0 means the limit.
func (t *ExecTool) RunSandboxed(ctx context.Context, sessionKey string, argv, env []string, workdir string, timeout time.Duration) (*sandbox.Result, error) {
	if t.o.Sandbox == nil {
		return nil, errors.New("the sandbox is off (agents.defaults.sandbox.mode off)")
	}
	if timeout <= 0 || timeout > t.o.Limits.Timeout {
		timeout = t.o.Limits.Timeout
	}
	sb, err := t.o.Sandbox(ctx)
	if err != nil {
		return nil, fmt.Errorf("exec: sandbox: %w", err)
	}
	dir := workdir
	if dir != "" && !strings.HasPrefix(dir, "/") {
		dir = path.Join(sandbox.WorkspaceMount, dir)
	}
	res, err := sb.Run(ctx, sandbox.Request{
		Scope:     ScopeKey(t.o.Scope, sessionKey),
		Argv:      argv,
		Dir:       dir,
		Env:       env,
		Timeout:   timeout,
		MaxOutput: sandbox.DefaultMaxOutput,
	})
	if err != nil {
		var le *sandbox.LayerError
		if errors.As(err, &le) {
			return nil, err
		}
		return nil, fmt.Errorf("exec: sandbox: %w", err)
	}
	return res, nil
}

// ScopeKey is the sandbox scope key of a session under scope.
func ScopeKey(scope, sessionKey string) string {
	switch scope {
	case "shared":
		return "shared"
	case "agent":
		return "agent:" + DefaultAgentID
	default:
		return sessionKey
	}
}

// formatExec renders a command's end for the model.
func formatExec(res *sandbox.Result, timeout time.Duration) Result {
	var b strings.Builder
	b.Write(res.Output)
	if len(res.Output) > 0 && !bytes.HasSuffix(res.Output, []byte("\n")) {
		b.WriteByte('\n')
	}
	if res.Truncated {
		fmt.Fprintf(&b, "[output cut at %d KiB]\n", len(res.Output)>>10)
	}
	switch {
	case res.TimedOut:
		fmt.Fprintf(&b, "[killed with its children: timed out after %s]", timeout)
	case res.Signal != "":
		fmt.Fprintf(&b, "[killed by signal %s]", res.Signal)
	default:
		fmt.Fprintf(&b, "[exit code %d]", res.ExitCode)
	}
	return Result{Text: b.String(), IsError: res.ExitCode != 0 || res.TimedOut, SideEffects: true}
}

// elevated runs argv on the host once the owner approves it.
func (t *ExecTool) elevated(ctx context.Context, call Call, argv []string, workdir string, timeout time.Duration) (Result, error) {
	e := t.o.Elevated
	if !e.Enabled {
		return Errorf("exec: the sandbox is off and elevated execution is not enabled, so no command can run"), nil
	}
	if !elevatedSender(e.AllowFrom, call.Channel, call.SenderID) {
		t.o.Logger.Warn("elevated exec refused: sender not in tools.elevated.allowFrom", "channel", call.Channel, "sender", call.SenderID)
		return Errorf("exec: elevated execution is not allowed for this sender"), nil
	}
	if t.o.Approvals == nil {
		return Result{}, errors.New("exec: elevated execution has no approval queue")
	}
	dir, exe, err := resolveHost(t.o.Workspace, workdir, argv[0])
	if err != nil {
		return Errorf("exec: %v", err), nil
	}
	wait := time.Duration(e.ApprovalTimeoutSeconds) * time.Second
	if wait <= 0 {
		wait = 5 * time.Minute
	}
	req, err := t.o.Approvals.Wait(ctx, ApprovalRequest{
		Argv: argv, Executable: exe, Dir: dir,
		SessionKey: call.SessionKey, Channel: call.Channel, SenderID: call.SenderID,
	}, wait)
	if err != nil {
		if errors.Is(err, ErrDenied) || errors.Is(err, ErrApprovalExpired) {
			return Errorf("exec: not run: %v", err), nil
		}
		return Errorf("exec: not run: %v", err), nil
	}
	// Resolve again: what runs must be what was approved, even if a
	// file changed while the owner was deciding.
	dir2, exe2, err := resolveHost(t.o.Workspace, workdir, argv[0])
	if err != nil || Digest(argv, exe2, dir2) != req.Digest {
		t.o.Logger.Warn("elevated exec refused: the command changed after approval", "approval", req.ID)
		return Errorf("exec: not run: the executable or directory changed after the owner approved it"), nil
	}
	t.o.Logger.Info("elevated exec approved", "approval", req.ID, "executable", exe, "dir", dir)
	res := runHost(ctx, exe, argv, dir, timeout)
	return formatExec(res, timeout), nil
}

// elevatedSender reports whether sender on channel is in allowFrom.
func elevatedSender(allowFrom map[string][]string, channel, sender string) bool {
	if sender == "" && channel != "cli" {
		return false
	}
	for _, id := range allowFrom[channel] {
		id = strings.TrimSpace(id)
		if id == "*" || id == sender || id == channel+":"+sender {
			return true
		}
	}
	return false
}

// resolveHost returns the canonical working directory and executable of
// an elevated command, looking argv0 up on sandbox.DefaultPath (never the
// gateway's own PATH).
func resolveHost(workspace, workdir, argv0 string) (dir, exe string, err error) {
	dir = workspace
	switch {
	case workdir == "":
	case filepath.IsAbs(workdir):
		dir = workdir
	default:
		dir = filepath.Join(workspace, workdir)
	}
	if dir == "" {
		return "", "", errors.New("no working directory")
	}
	if dir, err = filepath.EvalSymlinks(dir); err != nil {
		return "", "", fmt.Errorf("working directory: %w", err)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return "", "", fmt.Errorf("working directory %s is not a directory", dir)
	}
	var cands []string
	if strings.Contains(argv0, "/") {
		p := argv0
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		cands = []string{p}
	} else {
		for _, d := range filepath.SplitList(sandbox.DefaultPath) {
			cands = append(cands, filepath.Join(d, argv0))
		}
	}
	for _, c := range cands {
		st, err := os.Stat(c)
		if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			continue
		}
		if exe, err = filepath.EvalSymlinks(c); err == nil {
			return dir, exe, nil
		}
	}
	return "", "", fmt.Errorf("%s: executable not found on %s", argv0, sandbox.DefaultPath)
}

// runHost runs exe with argv in dir on the host, in its own process
// group, with a clean environment, killing the group at the timeout.
func runHost(ctx context.Context, exe string, argv []string, dir string, timeout time.Duration) *sandbox.Result {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	home, _ := os.UserHomeDir()
	cmd := &exec.Cmd{
		Path: exe, Args: argv, Dir: dir,
		Env:         []string{"PATH=" + sandbox.DefaultPath, "HOME=" + home, "LANG=C.UTF-8", "TERM=dumb"},
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	out := &capWriter{max: sandbox.DefaultMaxOutput}
	cmd.Stdout, cmd.Stderr = out, out
	start := time.Now()
	res := &sandbox.Result{}
	if err := cmd.Start(); err != nil {
		res.ExitCode = 127
		res.Output = []byte(err.Error() + "\n")
		return res
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		case <-done:
		}
	}()
	err := cmd.Wait()
	close(done)
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // leftovers of the group
	res.Duration = time.Since(start)
	res.Output, res.Truncated = out.bytes()
	res.TimedOut = ctx.Err() != nil
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.ExitCode = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.Signal = ws.Signal().String()
		}
	default:
		res.ExitCode = -1
	}
	return res
}

// capWriter keeps the first max bytes written and drops the rest.
type capWriter struct {
	mu   sync.Mutex
	max  int
	buf  []byte
	over bool
}

func (w *capWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if room := w.max - len(w.buf); room < len(p) {
		w.buf = append(w.buf, p[:max(room, 0)]...)
		w.over = true
	} else {
		w.buf = append(w.buf, p...)
	}
	return len(p), nil
}

func (w *capWriter) bytes() ([]byte, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf, w.over
}
