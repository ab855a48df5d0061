package audit

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"os"
	"slices"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/sandbox"
	"gatehouse/internal/state"
)

// SchemaVersion is the version of the [Report] JSON. It changes only when
// a field is removed or changes meaning; new fields do not change it.
const SchemaVersion = 1

// Severity grades a finding.
type Severity string

// Severities, from least to most severe.
const (
	// SeverityInfo reports a state worth knowing that needs no action.
	SeverityInfo Severity = "info"
	// SeverityWarn is a weakness to fix where possible.
	SeverityWarn Severity = "warn"
	// SeverityCritical must be fixed before the gateway is used: someone
	// other than the owner can reach the agent, its tools or its secrets.
	SeverityCritical Severity = "critical"
)

// rank orders severities; "" (no finding) ranks lowest.
func (s Severity) rank() int {
	switch s {
	case SeverityInfo:
		return 1
	case SeverityWarn:
		return 2
	case SeverityCritical:
		return 3
	}
	return 0
}

// Finding is one problem the audit found.
type Finding struct {
	// CheckID is the catalog entry that found it; stable across releases.
	CheckID string `json:"checkId"`
	// Subject is what the finding is about: a dotted config path, a path
	// relative to the state directory, an address or a URL path. With
	// CheckID it identifies the finding across runs (see Key).
	Subject string `json:"subject"`
	// Severity may be lower than the catalog's for the same check when the
	// context makes it less dangerous (a weak token on a loopback bind).
	Severity Severity `json:"severity"`
	// Title is the catalog's one-line description of the check.
	Title string `json:"title"`
	// Detail says what was found here. It never holds a secret's value.
	Detail string `json:"detail,omitempty"`
	// Remediation is the exact command (or step) that fixes it.
	Remediation string `json:"remediation,omitempty"`
	// Fixable reports that Options.Fix repairs it here.
	Fixable bool `json:"fixable"`
}

// Key identifies the finding across runs: its check and its subject.
func (f Finding) Key() string { return f.CheckID + " " + f.Subject }

// Status is the outcome of one check.
type Status string

// Check outcomes.
const (
	// StatusPass: the check ran and found nothing.
	StatusPass Status = "pass"
	// StatusFail: the check ran and reported at least one finding (of any
	// severity; see CheckResult.Severity).
	StatusFail Status = "fail"
	// StatusSkip: the check could not run here; Reason says why.
	StatusSkip Status = "skip"
)

// CheckResult is the outcome of one catalog check in one run.
type CheckResult struct {
	CheckID string `json:"checkId"`
	Status  Status `json:"status"`
	// Severity is the highest severity among the check's findings when
	// Status is fail.
	Severity Severity `json:"severity,omitempty"`
	// Reason says why a check was skipped, or what a passing check saw.
	Reason string `json:"reason,omitempty"`
	// Command is the host command or the request that gave the evidence.
	Command string `json:"command,omitempty"`
	// Evidence is what that command or request showed, shortened.
	Evidence string `json:"evidence,omitempty"`
}

// Probe is one request the deep audit sent to the running gateway.
type Probe struct {
	// CheckID is the check the probe serves.
	CheckID string `json:"checkId"`
	// Request describes what was sent, e.g. "GET http://127.0.0.1:18789/v1/models without credentials".
	Request string `json:"request"`
	// Source is the local address the probe was sent from, when chosen.
	Source string `json:"source,omitempty"`
	// Result is what came back, e.g. "401 Unauthorized".
	Result string `json:"result"`
	// Secure reports that the gateway answered as it should.
	Secure bool `json:"secure"`
}

// Change is one repair --fix made, or tried to make.
type Change struct {
	CheckID string `json:"checkId"`
	Subject string `json:"subject"`
	// Action says what changed, e.g. "mode 0644 → 0600" or "off → tools".
	Action string `json:"action"`
	// Config reports a change to the config file, which a running gateway
	// applies when it reloads (SIGHUP or gatehouse gateway restart).
	Config bool `json:"config,omitempty"`
	// Error is set when the repair failed; the finding then remains.
	Error string `json:"error,omitempty"`
}

// Summary counts a report's findings and checks.
type Summary struct {
	Critical int `json:"critical"`
	Warn     int `json:"warn"`
	Info     int `json:"info"`
	// Checks is how many checks ran or were skipped; Skipped how many of
	// them could not run.
	Checks  int `json:"checks"`
	Skipped int `json:"skipped"`
}

// Report is the result of one audit. Its JSON form is documented by the
// field tags and versioned by SchemaVersion.
type Report struct {
	SchemaVersion int       `json:"schemaVersion"`
	GeneratedAt   time.Time `json:"generatedAt"`
	StateDir      string    `json:"stateDir"`
	Config        string    `json:"config"`
	// Deep reports whether the gateway and host checks ran.
	Deep bool `json:"deep"`
	// Findings are ordered by severity (critical first), check and subject.
	Findings []Finding `json:"findings"`
	// Checks has one entry per catalog check that ran or was skipped, in
	// catalog order.
	Checks []CheckResult `json:"checks"`
	// Probes lists every request the deep audit made.
	Probes []Probe `json:"probes,omitempty"`
	// Changes lists what Options.Fix repaired or failed to repair. The
	// findings and checks are those of the audit after the repairs.
	Changes []Change `json:"changes,omitempty"`
	Summary Summary  `json:"summary"`
}

// Highest returns the most severe finding's severity, or "" when there is
// no finding at all.
func (r *Report) Highest() Severity {
	var h Severity
	for _, f := range r.Findings {
		if f.Severity.rank() > h.rank() {
			h = f.Severity
		}
	}
	return h
}

// Check returns the result of the check with id, and whether it ran or was
// skipped in this report.
func (r *Report) Check(id string) (CheckResult, bool) {
	for _, c := range r.Checks {
		if c.CheckID == id {
			return c, true
		}
	}
	return CheckResult{}, false
}

// FindingsOf returns the findings of the check with id.
func (r *Report) FindingsOf(id string) []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.CheckID == id {
			out = append(out, f)
		}
	}
	return out
}

// Diff returns the findings of cur whose Key is not among prev's, in cur's
// order: what is new since the previous run. A nil prev makes every finding
// new. A finding whose severity rose (info to warn, say) counts as new.
func Diff(prev, cur *Report) []Finding {
	seen := map[string]Severity{}
	if prev != nil {
		for _, f := range prev.Findings {
			if f.Severity.rank() > seen[f.Key()].rank() {
				seen[f.Key()] = f.Severity
			}
		}
	}
	var out []Finding
	for _, f := range cur.Findings {
		if s, ok := seen[f.Key()]; !ok || f.Severity.rank() > s.rank() {
			out = append(out, f)
		}
	}
	return out
}

// Options configures [Run]. StateDir is required; every other field has a
// working zero value.
type Options struct {
	// StateDir is the gateway state directory to audit; its config,
	// secret store and workspace are read from it.
	StateDir state.Dir
	// Home is the owner's home directory: it expands "~/" in
	// agents.defaults.workspace and guards ~/.ssh and the like in sandbox
	// binds. Empty: os.UserHomeDir.
	Home string
	// Deep adds the probes of the running gateway and the host checks.
	Deep bool
	// Fix repairs what is safe to repair, then audits again; the report
	// lists the changes. The deep checks are not repeated after fixing:
	// nothing the fixers change affects them until the gateway reloads.
	Fix bool
	// Command is how remediations name the CLI, e.g. "gatehouse --profile
	// work". Empty: "gatehouse".
	Command string

	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Getenv and LookupEnv read the environment (the CREDENTIALS_DIRECTORY
	// of systemd, "${VAR}" secrets); nil is the process environment.
	Getenv    func(string) string
	LookupEnv func(string) (string, bool)
	// Secrets looks up {"secret": NAME} references. Nil: the secret store
	// of StateDir is opened read-only when it exists.
	Secrets config.SecretLookup
	// TokenSetAt is when the gateway token was last set, when the caller
	// knows. Zero: the audit bounds the token's age by the secret store's
	// modification time and says when it cannot tell.
	TokenSetAt time.Time

	// SandboxLayers reports the sandbox's isolation layers on this host,
	// for the deep check sandbox.layers (the CLI passes the backend's
	// Layers). Nil: that check is skipped.
	SandboxLayers func(ctx context.Context) ([]sandbox.Layer, error)

	// Run runs a read-only host command and returns its standard output.
	// It must return an error wrapping [ErrNotInstalled] for a command that
	// does not exist. Nil: the command is looked up in the system
	// directories (never $PATH) and run with a timeout and a minimal
	// environment.
	Run func(ctx context.Context, name string, args ...string) ([]byte, error)
	// HostRoot is prepended to the host paths the deep checks read (/proc,
	// /etc/passwd, /run/systemd/system, unit directories, the Docker
	// socket), for tests. Empty: "/".
	HostRoot string
	// HTTPTimeout bounds each probe request; zero is 5 seconds.
	HTTPTimeout time.Duration
}

// ErrNotInstalled is wrapped by Options.Run's error for a command that is
// not installed on this host.
var ErrNotInstalled = errors.New("not installed")

// Run audits opts.StateDir and returns the report. Findings are what the
// audit found; an error is returned only when the audit itself could not
// run (no state directory given, the context ended). It is safe to call
// from several goroutines with different Options.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if opts.StateDir.Root == "" {
		return nil, errors.New("audit: Options.StateDir is empty: resolve it with state.Resolve")
	}
	a := newAuditor(opts)
	first := a.run(ctx, opts.Deep)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !opts.Fix {
		return first.report(a), nil
	}
	changes := a.fix(ctx, first)
	a = newAuditor(opts)
	second := a.run(ctx, false)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if opts.Deep {
		second.adoptDeep(first)
	}
	rep := second.report(a)
	rep.Changes = changes
	return rep, nil
}

// auditor holds one run's options with defaults applied. It is used by one
// goroutine.
type auditor struct {
	opts    Options
	dir     state.Dir
	cmd     string
	now     time.Time
	home    string
	getenv  func(string) string
	lookup  func(string) (string, bool)
	run1    func(ctx context.Context, name string, args ...string) ([]byte, error)
	root    string
	timeout time.Duration
	client  *http.Client // probes; set by the deep checks
}

func newAuditor(o Options) *auditor {
	a := &auditor{opts: o, dir: o.StateDir, cmd: cmp.Or(o.Command, "gatehouse"), home: o.Home,
		getenv: o.Getenv, lookup: o.LookupEnv, run1: o.Run, root: cmp.Or(o.HostRoot, "/"),
		timeout: cmp.Or(o.HTTPTimeout, 5*time.Second)}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	a.now = now()
	if a.home == "" {
		a.home, _ = os.UserHomeDir()
	}
	if a.getenv == nil {
		a.getenv = os.Getenv
	}
	if a.lookup == nil {
		a.lookup = os.LookupEnv
	}
	if a.run1 == nil {
		a.run1 = runHostCommand
	}
	return a
}

// results collects one run's findings, check outcomes and probes.
type results struct {
	findings []Finding
	checks   map[string]*CheckResult
	probes   []Probe
	deepIDs  map[string]bool // checks that came from the deep pass
}

func newResults() *results {
	return &results{checks: map[string]*CheckResult{}, deepIDs: map[string]bool{}}
}

// result returns the check's entry, creating it as passed.
func (r *results) result(id string) *CheckResult {
	c, ok := r.checks[id]
	if !ok {
		c = &CheckResult{CheckID: id, Status: StatusPass}
		r.checks[id] = c
	}
	return c
}

// pass records that check id ran; reason, when given, says what it saw.
func (r *results) pass(id, reason string) {
	c := r.result(id)
	if c.Status == StatusPass && c.Reason == "" {
		c.Reason = reason
	}
}

// skip records that check id could not run, and why. A check that already
// has findings keeps them.
func (r *results) skip(id, reason string) {
	c := r.result(id)
	if c.Status == StatusPass {
		c.Status = StatusSkip
		c.Reason = reason
	}
}

// evidence records the command and what it showed for check id.
func (r *results) evidence(id, command, evidence string) {
	c := r.result(id)
	c.Command, c.Evidence = command, shorten(evidence, 600)
}

// add records a finding; its title comes from the catalog.
func (r *results) add(f Finding) {
	if ch, ok := lookupCheck(f.CheckID); ok && f.Title == "" {
		f.Title = ch.Title
	}
	r.findings = append(r.findings, f)
	c := r.result(f.CheckID)
	c.Status = StatusFail
	c.Reason = ""
	if f.Severity.rank() > c.Severity.rank() {
		c.Severity = f.Severity
	}
}

// adoptDeep copies the deep checks of an earlier run into r.
func (r *results) adoptDeep(prev *results) {
	for id := range prev.deepIDs {
		r.checks[id] = prev.checks[id]
		r.deepIDs[id] = true
	}
	for _, f := range prev.findings {
		if prev.deepIDs[f.CheckID] {
			r.findings = append(r.findings, f)
		}
	}
	r.probes = prev.probes
}

func (r *results) report(a *auditor) *Report {
	rep := &Report{
		SchemaVersion: SchemaVersion,
		GeneratedAt:   a.now.UTC(),
		StateDir:      a.dir.Root,
		Config:        a.dir.Config(),
		Deep:          a.opts.Deep,
		Findings:      []Finding{},
		Probes:        r.probes,
	}
	// One finding per key: the most severe, first reported.
	at := map[string]int{}
	for _, f := range r.findings {
		i, ok := at[f.Key()]
		switch {
		case !ok:
			at[f.Key()] = len(rep.Findings)
			rep.Findings = append(rep.Findings, f)
		case f.Severity.rank() > rep.Findings[i].Severity.rank():
			rep.Findings[i] = f
		}
	}
	slices.SortStableFunc(rep.Findings, func(x, y Finding) int {
		return cmp.Or(
			cmp.Compare(y.Severity.rank(), x.Severity.rank()),
			cmp.Compare(catalogIndex(x.CheckID), catalogIndex(y.CheckID)),
			cmp.Compare(x.Subject, y.Subject))
	})
	for _, ch := range Catalog() {
		if c, ok := r.checks[ch.ID]; ok {
			rep.Checks = append(rep.Checks, *c)
		}
	}
	for _, f := range rep.Findings {
		switch f.Severity {
		case SeverityCritical:
			rep.Summary.Critical++
		case SeverityWarn:
			rep.Summary.Warn++
		case SeverityInfo:
			rep.Summary.Info++
		}
	}
	for _, c := range rep.Checks {
		rep.Summary.Checks++
		if c.Status == StatusSkip {
			rep.Summary.Skipped++
		}
	}
	return rep
}

// run performs the checks, the deep ones when deep is set.
func (a *auditor) run(ctx context.Context, deep bool) *results {
	r := newResults()
	env := a.load(r)
	if env != nil {
		a.configChecks(ctx, r, env)
	}
	a.fsChecks(ctx, r, env)
	if deep && ctx.Err() == nil {
		before := map[string]bool{}
		for id := range r.checks {
			before[id] = true
		}
		a.deepChecks(ctx, r, env)
		for id := range r.checks {
			if !before[id] {
				r.deepIDs[id] = true
			}
		}
	}
	return r
}

// shorten cuts s to at most n bytes, at a rune boundary, marking the cut.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}

// Files runs only the filesystem checks (the state tree's modes, owners
// and symlinks, the workspace, SOUL.md's mode and baseline) and, with
// opts.Fix, their repairs, which it lists in Changes; opts.Deep is
// ignored and the config is never edited. gatehouse doctor uses it.
func Files(ctx context.Context, opts Options) (*Report, error) {
	if opts.StateDir.Root == "" {
		return nil, errors.New("audit: Options.StateDir is empty: resolve it with state.Resolve")
	}
	opts.Deep = false
	a := newAuditor(opts)
	var changes []Change
	if opts.Fix {
		changes = a.fixFS()
	}
	r := newResults()
	a.fsChecks(ctx, r, a.load(newResults()))
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rep := r.report(a)
	rep.Changes = changes
	return rep, nil
}
