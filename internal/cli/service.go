package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"gatehouse/internal/config"
	"gatehouse/internal/sandbox/backend"
	"gatehouse/internal/service"
	"gatehouse/internal/state"
	"gatehouse/internal/workspace"
)

func newServiceCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "service",
		Short: "Run the gateway as a hardened systemd service",
		Long: `Install, remove and inspect the systemd unit that runs gatehouse gateway run:
Type=notify with a watchdog, restarted on failure, read-only everywhere but
the state directory, no capabilities, a system call filter, and only the
namespaces the sandbox backend needs.

--system (the default as root) runs it as a dedicated locked account,
gatehouse, with its state in /var/lib/gatehouse and the binary in
/usr/local/bin; --user (the default otherwise) runs it in your own systemd
user manager with your state directory. --instance NAME (or --profile NAME)
is a second gateway: gatehouse-NAME.service.`,
		Example: `  sudo gatehouse service install --system
  gatehouse service install --user
  gatehouse service status --json
  gatehouse service render --system --backend docker`,
	}
	cmd.AddCommand(newServiceInstallCmd(e), newServiceUninstallCmd(e), newServiceStatusCmd(e), newServiceRenderCmd(e))
	return cmd
}

// serviceOptions are the service commands' flags, and what tests inject.
type serviceOptions struct {
	user, system bool
	instance     string
	backend      string // auto, native, docker, none
	exec         string // render: the binary ExecStart runs
	binary       string // install: the binary to install (default: this one)
	root         string // write under this directory and run nothing
	dryRun       bool
	memoryMax    string
	tasksMax     int
	credential   string
	// host is the machine; nil is this one.
	host service.Host
}

func (o *serviceOptions) addTargetFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVar(&o.user, "user", false, "your systemd user manager (default unless root)")
	f.BoolVar(&o.system, "system", false, "the system manager, as a dedicated account (default as root)")
	f.StringVar(&o.instance, "instance", "", "a second gateway: unit gatehouse-NAME, state of --profile NAME")
}

// addRootFlag adds --root, hidden: files go under DIR and nothing runs,
// as with systemctl --root (tests, images).
func (o *serviceOptions) addRootFlag(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.root, "root", "", "operate on files below `DIR` and run no command")
	_ = cmd.Flags().MarkHidden("root")
}

func (o *serviceOptions) addRenderFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.backend, "backend", "auto", "sandbox backend the unit must allow: auto (from the config), native, docker or none")
	f.StringVar(&o.memoryMax, "memory-max", service.DefaultMemoryMax, "MemoryMax= of the gateway and all its sandboxes")
	f.IntVar(&o.tasksMax, "tasks-max", service.DefaultTasksMax, "TasksMax= of the gateway and all its sandboxes")
	f.StringVar(&o.credential, "secret-key-credential", "", "pass the secret store's key from this root-only `FILE` with LoadCredential=")
}

func (o *serviceOptions) hostOf(e *env) service.Host {
	if o.host != nil {
		return o.host
	}
	return service.LocalHost(e.getenv)
}

// applyOptions: with --root, nothing runs on this machine; a test's host
// still sees the commands.
func (o *serviceOptions) applyOptions() service.ApplyOptions {
	return service.ApplyOptions{Root: o.root, Offline: o.root != "" && o.host == nil}
}

func newServiceInstallCmd(e *env) *cobra.Command {
	o := &serviceOptions{}
	cmd := &cobra.Command{
		Use:   "install [--user|--system] [--instance NAME]",
		Short: "Install and start the gateway's systemd unit",
		Long: `Writes the unit (0644; it holds no secret) and starts it with systemctl
daemon-reload, enable and restart.

--system, as root, first creates the account gatehouse if it is missing
(system account, nologin shell, locked password, home /var/lib/gatehouse),
copies this binary to /usr/local/bin/gatehouse (0755, root), makes the state
directory (0700, the account's) and onboards it when it has no config.
--user onboards your state directory when it has no config.

The unit allows what the sandbox backend of the config needs (--backend
overrides). Where systemd is not running, the unit is written and the
commands that start it are printed. --dry-run prints the plan instead.`,
		Example: `  sudo gatehouse service install --system
  sudo gatehouse service install --system --instance work
  gatehouse service install --user --dry-run`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return e.runServiceInstall(cmd.Context(), o)
		},
	}
	o.addTargetFlags(cmd)
	o.addRenderFlags(cmd)
	o.addRootFlag(cmd)
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "print the steps and the unit; change nothing")
	cmd.Flags().StringVar(&o.binary, "binary", "", "the gatehouse binary to install (default: this one)")
	_ = cmd.Flags().MarkHidden("binary")
	return cmd
}

func newServiceUninstallCmd(e *env) *cobra.Command {
	o := &serviceOptions{}
	cmd := &cobra.Command{
		Use:   "uninstall [--user|--system] [--instance NAME]",
		Short: "Stop, disable and remove the gateway's systemd unit",
		Long: `Runs systemctl disable --now, removes the unit file and reloads systemd. The
state directory, the account and the binary stay; the output says how to
remove them.`,
		Example: `  sudo gatehouse service uninstall --system
  gatehouse service uninstall --user --instance work`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return e.runServiceUninstall(cmd.Context(), o)
		},
	}
	o.addTargetFlags(cmd)
	o.addRootFlag(cmd)
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "print the steps; change nothing")
	return cmd
}

func newServiceStatusCmd(e *env) *cobra.Command {
	o := &serviceOptions{}
	cmd := &cobra.Command{
		Use:   "status [--user|--system] [--instance NAME]",
		Short: "Show whether the unit is installed, enabled and active, and its exposure",
		Long: `Reports the unit's path, what systemctl says of it (or that systemd is not
running), and its exposure level from systemd-analyze security --offline=true
(0.0 best, 10.0 worst) when systemd-analyze is installed.

Exits 0 when the unit is installed and active, 1 otherwise.`,
		Example: `  gatehouse service status
  sudo gatehouse service status --system --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return e.runServiceStatus(cmd.Context(), o)
		},
	}
	o.addTargetFlags(cmd)
	o.addRootFlag(cmd)
	return cmd
}

func newServiceRenderCmd(e *env) *cobra.Command {
	o := &serviceOptions{}
	cmd := &cobra.Command{
		Use:   "render [--user|--system] [--instance NAME]",
		Short: "Print the systemd unit without installing it",
		Long: `Prints the unit that service install would write. The sandbox backend, the
workspace, gateway.bind and tools.elevated of the config decide what it
allows; --backend overrides the backend. --exec names the binary ExecStart
runs (default: /usr/local/bin/gatehouse for --system, this binary for
--user).`,
		Example: `  gatehouse service render --system > gatehouse.service
  systemd-analyze security --offline=true gatehouse.service
  gatehouse service render --user --backend docker --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return e.runServiceRender(cmd.Context(), o)
		},
	}
	o.addTargetFlags(cmd)
	o.addRenderFlags(cmd)
	cmd.Flags().StringVar(&o.exec, "exec", "", "absolute path of the gatehouse binary the unit runs")
	return cmd
}

// serviceTarget is the unit a service command acts on, where it lives,
// and what the owner should know about it.
type serviceTarget struct {
	unit       service.Unit
	unitDir    string
	source     string // the binary a system install copies
	configured bool   // the state dir has a config file
	notes      []string
}

// serviceMode picks --user or --system: the default is system as root,
// user otherwise.
func (o *serviceOptions) serviceMode() (service.Mode, error) {
	switch {
	case o.user && o.system:
		return "", usageErrorf("--user and --system exclude each other")
	case o.user:
		return service.ModeUser, nil
	case o.system:
		return service.ModeSystem, nil
	case os.Geteuid() == 0:
		return service.ModeSystem, nil
	}
	return service.ModeUser, nil
}

// serviceInstance is --instance, or the global --profile.
func (e *env) serviceInstance(o *serviceOptions) (string, error) {
	switch {
	case o.instance == "":
		return e.profile, nil
	case e.profile != "" && e.profile != o.instance:
		return "", usageErrorf("--instance %q and --profile %q differ: give one", o.instance, e.profile)
	}
	return o.instance, nil
}

// serviceTarget resolves the unit for o. withConfig reads the state
// directory's config to learn what the unit must allow.
func (e *env) serviceTarget(o *serviceOptions, withConfig bool) (*serviceTarget, error) {
	mode, err := o.serviceMode()
	if err != nil {
		return nil, err
	}
	inst, err := e.serviceInstance(o)
	if err != nil {
		return nil, err
	}
	if err := service.CheckInstance(mode, inst); err != nil {
		return nil, &usageError{err}
	}
	t := &serviceTarget{unit: service.Unit{Mode: mode, Instance: inst}}
	u := &t.unit

	self, err := executable(o.binary)
	if err != nil {
		return nil, err
	}
	t.source = self
	home := e.home
	switch mode {
	case service.ModeSystem:
		t.unitDir = "/etc/systemd/system"
		u.Exec = service.DefaultExec
		home = u.SystemStateDir()
		u.StateDir = u.SystemStateDir()
		if e.stateDirFlag != "" {
			d, err := state.Resolve(e.stateDirFlag, inst, nil, e.home)
			if err != nil {
				return nil, &usageError{err}
			}
			u.StateDir = d.Root
		}
	case service.ModeUser:
		cfgHome := e.getenv("XDG_CONFIG_HOME")
		if cfgHome == "" {
			if e.home == "" {
				return nil, errors.New("cannot find the home directory for ~/.config/systemd/user: set HOME")
			}
			cfgHome = filepath.Join(e.home, ".config")
		}
		t.unitDir = filepath.Join(cfgHome, "systemd", "user")
		u.Exec = self
		d, err := state.Resolve(e.stateDirFlag, inst, e.getenv, e.home)
		if err != nil {
			return nil, &usageError{err}
		}
		u.StateDir = realPath(o.root, d.Root)
	}
	if o.exec != "" {
		u.Exec = o.exec
	}
	u.MemoryMax, u.TasksMax, u.SecretKeyCredential = o.memoryMax, o.tasksMax, o.credential
	if !withConfig {
		return t, nil
	}

	d := state.Dir{Root: u.StateDir}
	cfgPath := filepath.Join("/", o.root, d.Config())
	t.configured = fileExists(cfgPath)
	cfg := config.Default()
	switch f, err := config.Load(cfgPath); {
	case errors.Is(err, fs.ErrPermission):
		// The system state dir is the account's alone (0700).
		t.notes = append(t.notes, fmt.Sprintf("cannot read %s: this unit follows the default configuration; as root it follows that file", cfgPath))
	case err != nil:
		return nil, fmt.Errorf("config %s: %w", cfgPath, err)
	default:
		cfg = f.Config()
	}
	sc := cfg.Agents.Defaults.Sandbox
	switch o.backend {
	case "", "auto":
		u.Sandbox = service.Sandbox(backend.Name(sc))
		if sc.Mode == "off" {
			u.Sandbox = service.SandboxNone
		}
	case "native", "docker", "none":
		u.Sandbox = service.Sandbox(o.backend)
	default:
		return nil, usageErrorf("--backend %q: use auto, native, docker or none", o.backend)
	}
	u.HostCommands = cfg.Tools.Elevated.Enabled
	u.Netlink = cfg.Gateway.Bind == "tailnet"
	ws := filepath.Clean(workspace.Resolve(cfg.Agents.Defaults.Workspace, d.Workspace(), home))
	if ws != u.StateDir && !strings.HasPrefix(ws, u.StateDir+"/") {
		u.WritablePaths = []string{realPath(o.root, ws)}
	}

	asAccount := "gatehouse"
	switch {
	case mode == service.ModeSystem:
		asAccount = "sudo -u " + u.Name() + " " + service.DefaultExec + " --state-dir " + u.StateDir
	case e.stateDirFlag != "":
		asAccount += " --state-dir " + u.StateDir
	case inst != "":
		asAccount += " --profile " + inst
	}
	switch u.Sandbox {
	case service.SandboxNative:
		if !slices.Contains(sc.Native.AllowWithout, "cgroups") {
			t.notes = append(t.notes, "the native sandbox cannot make its own cgroups under this unit (no Delegate=, ProtectControlGroups=yes), "+
				"so it refuses to run until you allow that; its memory and process limits then fall back to rlimits, and the unit's "+
				"MemoryMax= and TasksMax= bound all sandboxes together: "+
				asAccount+` config set agents.defaults.sandbox.native.allowWithout '["cgroups"]'`)
		}
	case service.SandboxDocker:
		e.engineSocket(t, sc, o.root)
	}
	if u.HostCommands {
		t.notes = append(t.notes, "tools.elevated is on: host commands run under the unit's restrictions (read-only system, no capabilities, its system call filter)")
	}
	for _, p := range append([]string{u.Exec, u.StateDir}, u.WritablePaths...) {
		if strings.HasPrefix(p, "/tmp/") || strings.HasPrefix(p, "/var/tmp/") {
			t.notes = append(t.notes, fmt.Sprintf("%s is in a temporary directory, which is private to the service (PrivateTmp=yes): "+
				"the service will not find it; move it somewhere stable (~/.local/bin for gatehouse) and install again", p))
		}
	}
	if mode == service.ModeUser {
		t.notes = append(t.notes, "to keep the gateway running while you are logged out: loginctl enable-linger")
	}
	return t, nil
}

// engineSocket finds the container engine the docker backend will use and
// lets the unit reach it.
func (e *env) engineSocket(t *serviceTarget, sc config.Sandbox, root string) {
	u := &t.unit
	host := sc.Docker.Host
	if host == "" {
		if h := e.getenv("DOCKER_HOST"); h != "" {
			host = h
			// The unit does not inherit this shell's environment.
			u.Environment = append(u.Environment, "DOCKER_HOST="+h)
		}
	}
	var candidates []string
	if host != "" {
		if p, err := url.Parse(host); err == nil && p.Scheme == "unix" {
			candidates = []string{p.Path}
		} else {
			return // TCP on loopback: nothing to open in the file system.
		}
	} else {
		candidates = []string{"/var/run/docker.sock", "/run/podman/podman.sock"}
		if x := e.getenv("XDG_RUNTIME_DIR"); x != "" && u.Mode == service.ModeUser {
			candidates = append(candidates, filepath.Join(x, "podman", "podman.sock"))
		}
	}
	for _, c := range candidates {
		fi, err := os.Stat(filepath.Join("/", root, c))
		if err != nil || fi.Mode().Type() != fs.ModeSocket {
			continue
		}
		u.EngineSocket = realPath(root, c)
		if u.Mode == service.ModeSystem {
			engineGroup(t, fi)
		}
		return
	}
	t.notes = append(t.notes, fmt.Sprintf("no container engine socket found (%s): the docker backend will not start until one answers",
		strings.Join(candidates, ", ")))
}

// engineGroup adds the group that owns the engine's socket to the
// account's supplementary groups, when that group may open it.
func engineGroup(t *serviceTarget, fi fs.FileInfo) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return
	}
	if st.Gid != 0 && fi.Mode().Perm()&0o060 == 0o060 {
		if g, err := user.LookupGroupId(strconv.Itoa(int(st.Gid))); err == nil {
			t.unit.EngineGroup = g.Name
			return
		}
	}
	t.notes = append(t.notes, fmt.Sprintf("the account %s cannot open %s (uid %d, gid %d, mode %04o): give the socket a group of its own, "+
		"as Docker's docker group, or run the engine rootless and install with --user", t.unit.Name(), t.unit.EngineSocket,
		st.Uid, st.Gid, uint32(fi.Mode().Perm())))
}

// executable is path, or the running binary, with symlinks resolved.
func executable(path string) (string, error) {
	if path == "" {
		p, err := os.Executable()
		if err != nil {
			return "", fmt.Errorf("find the gatehouse binary: %w", err)
		}
		path = p
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		abs = r
	}
	return abs, nil
}

// realPath resolves symlinks in p (a path as the host sees it, read below
// root), so the unit names the directory itself; a path that does not
// exist yet stays as it is.
func realPath(root, p string) string {
	r, err := filepath.EvalSymlinks(filepath.Join("/", root, p))
	if err != nil {
		return p
	}
	if root != "" {
		rr, err := filepath.EvalSymlinks(root)
		if err != nil {
			return p
		}
		rel, err := filepath.Rel(rr, r)
		if err != nil || strings.HasPrefix(rel, "..") {
			return p
		}
		return filepath.Join("/", rel)
	}
	return r
}

// serviceInstallReport is what service install prints with --json.
type serviceInstallReport struct {
	Unit     string           `json:"unit"`
	Mode     service.Mode     `json:"mode"`
	Path     string           `json:"path"`
	Account  string           `json:"account,omitempty"`
	StateDir string           `json:"stateDir"`
	Exec     string           `json:"exec"`
	Sandbox  service.Sandbox  `json:"sandbox"`
	DryRun   bool             `json:"dryRun,omitempty"`
	Steps    []service.Result `json:"steps"`
	// Started reports that systemd loaded, enabled and (re)started it.
	Started  bool     `json:"started"`
	Exposure *float64 `json:"exposure,omitempty"`
	Notes    []string `json:"notes,omitempty"`
	// Next are the commands to run by hand, where systemd was not running.
	Next []string `json:"next,omitempty"`
	// UnitFile is the unit's content (dry run).
	UnitFile string `json:"unitFile,omitempty"`
}

func (e *env) runServiceInstall(ctx context.Context, o *serviceOptions) error {
	if runtime.GOOS != "linux" {
		return fmt.Errorf("service install: systemd runs only on Linux: %w", errors.ErrUnsupported)
	}
	t, err := e.serviceTarget(o, true)
	if err != nil {
		return err
	}
	u := t.unit
	if u.Mode == service.ModeSystem && !o.dryRun && o.root == "" && os.Geteuid() != 0 {
		return errors.New("installing the system service needs root: run sudo gatehouse service install --system, " +
			"or gatehouse service install --user for your own user manager")
	}
	h := o.hostOf(e)
	in := service.Install{Unit: u, UnitDir: t.unitDir, Source: t.source, Configured: t.configured}
	if u.Mode == service.ModeSystem {
		_, _, err := h.LookupAccount(u.Name())
		in.AccountExists = err == nil
		in.Nologin = nologinShell(o.root)
	}
	steps, err := in.Steps()
	if err != nil {
		return err
	}
	rep := serviceInstallReport{Unit: u.FileName(), Mode: u.Mode, Path: in.UnitPath(), StateDir: u.StateDir,
		Exec: u.Exec, Sandbox: u.Sandbox, DryRun: o.dryRun, Notes: t.notes}
	if u.Mode == service.ModeSystem {
		rep.Account = u.Name()
	}
	if o.dryRun {
		data, err := u.Render()
		if err != nil {
			return err
		}
		for _, s := range steps {
			rep.Steps = append(rep.Steps, service.Result{Step: s.String(), Status: "planned"})
		}
		rep.UnitFile = string(data)
		return e.renderServiceInstall(rep)
	}

	results, applyErr := service.Apply(ctx, h, steps, o.applyOptions())
	rep.Steps = results
	rep.Started = applyErr == nil
	if slices.ContainsFunc(results, notRunning) {
		rep.Started = false
		rep.Next = u.ManagerCommands()
	}
	if o.applyOptions().Offline {
		rep.Started = false
	}
	if applyErr == nil {
		if x, err := service.Exposure(ctx, h, filepath.Join("/", o.root, in.UnitPath())); err == nil {
			rep.Exposure = &x
		}
	}
	if err := e.renderServiceInstall(rep); err != nil {
		return err
	}
	if applyErr != nil {
		return fmt.Errorf("service install stopped: %w", applyErr)
	}
	return nil
}

func (e *env) renderServiceInstall(rep serviceInstallReport) error {
	if e.json {
		return e.printJSON(rep)
	}
	verb := "installing"
	if rep.DryRun {
		verb = "would install"
	}
	e.printf("%s %s (%s): %s\n", verb, rep.Unit, rep.Mode, rep.Path)
	e.printf("  runs %s as %s, state %s, sandbox %s\n", rep.Exec, orSelf(rep.Account), rep.StateDir, rep.Sandbox)
	printSteps(e, rep.Steps)
	if rep.Exposure != nil {
		e.printf("exposure: %.1f (systemd-analyze security; 0 is best, 10 worst)\n", *rep.Exposure)
	}
	if rep.DryRun {
		e.printf("\n%s", rep.UnitFile)
	}
	for _, n := range rep.Notes {
		e.warnf("note: %s\n", n)
	}
	switch {
	case rep.Started:
		e.printf("started: systemctl %sstatus %s\n", ctlFlag(rep.Mode), rep.Unit)
	case len(rep.Next) > 0:
		e.printf("systemd is not running here (PID 1 is not systemd, or no user manager answers): the unit is written but not started.\n" +
			"Where systemd runs, start it with:\n")
		for _, c := range rep.Next {
			e.printf("  %s\n", c)
		}
	}
	return nil
}

// printSteps lists what a plan did. Steps skipped because systemd is not
// running carry no detail: the summary after them says it once.
func printSteps(e *env, steps []service.Result) {
	for _, s := range steps {
		e.printf("  %-8s %s\n", s.Status, s.Step)
		if s.Detail != "" && s.Status != "planned" && !notRunning(s) {
			e.printf("           (%s)\n", s.Detail)
		}
	}
}

func notRunning(r service.Result) bool {
	return r.Status == service.StatusSkipped && r.Detail == service.ErrManagerNotRunning.Error()
}

func orSelf(account string) string {
	if account == "" {
		return "you"
	}
	return account
}

func ctlFlag(m service.Mode) string {
	if m == service.ModeUser {
		return "--user "
	}
	return ""
}

// nologinShell is the login shell of a new system account.
func nologinShell(root string) string {
	for _, p := range []string{"/usr/sbin/nologin", "/sbin/nologin"} {
		if fileExists(filepath.Join("/", root, p)) {
			return p
		}
	}
	return "/bin/false"
}

// serviceUninstallReport is what service uninstall prints with --json.
type serviceUninstallReport struct {
	Unit   string           `json:"unit"`
	Mode   service.Mode     `json:"mode"`
	Path   string           `json:"path"`
	DryRun bool             `json:"dryRun,omitempty"`
	Steps  []service.Result `json:"steps"`
	// Kept are what uninstall leaves, with how to remove each.
	Kept []string `json:"kept"`
}

func (e *env) runServiceUninstall(ctx context.Context, o *serviceOptions) error {
	if runtime.GOOS != "linux" {
		return fmt.Errorf("service uninstall: systemd runs only on Linux: %w", errors.ErrUnsupported)
	}
	t, err := e.serviceTarget(o, false)
	if err != nil {
		return err
	}
	u := t.unit
	path := filepath.Join(t.unitDir, u.FileName())
	if !fileExists(filepath.Join("/", o.root, path)) {
		return fmt.Errorf("%s is not installed (no %s): see gatehouse service status", u.FileName(), path)
	}
	if u.Mode == service.ModeSystem && !o.dryRun && o.root == "" && os.Geteuid() != 0 {
		return errors.New("removing the system service needs root: run sudo gatehouse service uninstall --system")
	}
	steps := service.UninstallSteps(u, t.unitDir)
	rep := serviceUninstallReport{Unit: u.FileName(), Mode: u.Mode, Path: path, DryRun: o.dryRun}
	if u.Mode == service.ModeSystem {
		rep.Kept = []string{
			"state directory " + u.StateDir + ": rm -r " + u.StateDir,
			"account " + u.Name() + ": userdel " + u.Name(),
			"binary " + service.DefaultExec + ": rm " + service.DefaultExec,
		}
	} else {
		rep.Kept = []string{"state directory " + u.StateDir}
	}
	var applyErr error
	if o.dryRun {
		for _, s := range steps {
			rep.Steps = append(rep.Steps, service.Result{Step: s.String(), Status: "planned"})
		}
	} else {
		rep.Steps, applyErr = service.Apply(ctx, o.hostOf(e), steps, o.applyOptions())
	}
	if e.json {
		if err := e.printJSON(rep); err != nil {
			return err
		}
	} else {
		verb := "removing"
		if o.dryRun {
			verb = "would remove"
		}
		e.printf("%s %s (%s): %s\n", verb, rep.Unit, rep.Mode, rep.Path)
		printSteps(e, rep.Steps)
		if slices.ContainsFunc(rep.Steps, notRunning) {
			e.printf("systemd is not running here: the unit is removed, nothing was stopped\n")
		}
		for _, k := range rep.Kept {
			e.printf("kept: %s\n", k)
		}
	}
	if applyErr != nil {
		return fmt.Errorf("service uninstall stopped: %w", applyErr)
	}
	return nil
}

func (e *env) runServiceStatus(ctx context.Context, o *serviceOptions) error {
	t, err := e.serviceTarget(o, false)
	if err != nil {
		return err
	}
	st := service.Probe(ctx, o.hostOf(e), t.unit, t.unitDir, o.root)
	if e.json {
		if err := e.printJSON(st); err != nil {
			return err
		}
	} else {
		switch {
		case !st.Installed:
			e.printf("%s (%s): not installed (%s)\n", st.Unit, st.Mode, st.Path)
			e.printf("install it with: gatehouse service install --%s\n", st.Mode)
		default:
			e.printf("%s (%s): installed at %s\n", st.Unit, st.Mode, st.Path)
			if st.Systemd == service.SystemdRunning {
				e.printf("enabled:  %s\nactive:   %s\n", st.Enabled, st.Active)
			} else {
				e.printf("systemd:  not running here (PID 1 is not systemd, or no user manager answers)\n")
			}
		}
		switch {
		case st.Exposure != nil:
			e.printf("exposure: %.1f (systemd-analyze security --offline=true; 0 is best, 10 worst)\n", *st.Exposure)
		case st.ExposureError != "":
			e.printf("exposure: unknown: %s\n", st.ExposureError)
		}
	}
	if !st.Installed || st.Active != "active" {
		return &codeError{code: exitError}
	}
	return nil
}

func (e *env) runServiceRender(ctx context.Context, o *serviceOptions) error {
	t, err := e.serviceTarget(o, true)
	if err != nil {
		return err
	}
	data, err := t.unit.Render()
	if err != nil {
		return err
	}
	if !e.json {
		_, err := e.stdout.Write(data)
		for _, n := range t.notes {
			e.warnf("note: %s\n", n)
		}
		return err
	}
	return e.printJSON(struct {
		Unit    string          `json:"unit"`
		Mode    service.Mode    `json:"mode"`
		Path    string          `json:"path"`
		Sandbox service.Sandbox `json:"sandbox"`
		Content string          `json:"content"`
		Notes   []string        `json:"notes,omitempty"`
	}{t.unit.FileName(), t.unit.Mode, filepath.Join(t.unitDir, t.unit.FileName()), t.unit.Sandbox, string(data), t.notes})
}
