package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"gatehouse/internal/access"
	"gatehouse/internal/agent"
	"gatehouse/internal/audit"
	"gatehouse/internal/config"
	"gatehouse/internal/llm"
	"gatehouse/internal/llm/providers"
	"gatehouse/internal/state"
	"gatehouse/internal/store"
	"gatehouse/internal/workspace"
)

type incidentOptions struct {
	since string
	out   string
}

func newIncidentCmd(e *env) *cobra.Command {
	var o incidentOptions
	cmd := &cobra.Command{
		Use:   "incident",
		Short: "Respond to a suspected compromise: stop, revoke, collect evidence",
		Long: `The seed guides' "suspected compromise" runbook as one command:

  1. stop the gateway, so the agent answers nobody (SIGTERM, then SIGKILL
     after 15 s);
  2. revoke the gateway token (a new one goes into the secret store);
  3. write an evidence bundle, a directory 0700 with files 0600
     (default <state dir>/incidents/<UTC time>):
       incident.json       this report
       logs.jsonl          the gateway's log lines since --since, redacted again
       audit.json          the security audit report
       soul.json           SOUL.md against its baseline
       changed-files.json  files in the state dir and workspace changed
                           (mtime or ctime) since --since; symlinks are
                           listed, never followed
       access.json         pairing requests and approved senders
       sessions.json       the agent's sessions
       config.json         the config, secrets redacted
  4. print what is left to you: the provider keys and bot tokens to rotate
     at their issuers, the senders and sessions to review.

It never deletes anything. Start the gateway again only when the steps are
done.`,
		Example: `  gatehouse incident
  gatehouse incident --since 72h --out /root/incident-gatehouse
  gatehouse incident --since 2026-03-01T08:00:00Z --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rep, err := e.runIncident(cmd.Context(), o)
			if err != nil {
				return err
			}
			if e.json {
				if err := e.printJSON(rep); err != nil {
					return err
				}
			} else {
				e.renderIncident(rep)
			}
			if !rep.Contained() {
				return &codeError{code: exitError, err: errors.New("the incident is not contained: see the failed actions above")}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&o.since, "since", "24h", "start of the window for logs and changed files: a duration back from now (24h, 90m) or a time (2026-03-01T08:00:00Z, 2026-03-01)")
	cmd.Flags().StringVar(&o.out, "out", "", "bundle directory to create (default <state dir>/incidents/<UTC time>)")
	return cmd
}

// incidentReport is what `incident --json` prints and incident.json holds.
type incidentReport struct {
	StartedAt time.Time `json:"startedAt"`
	Since     time.Time `json:"since"`
	StateDir  string    `json:"stateDir"`
	Workspace string    `json:"workspace,omitempty"`
	// Bundle is the evidence directory.
	Bundle string `json:"bundle"`
	// Actions are what the command did, in order.
	Actions []incidentAction `json:"actions"`
	// Steps are what is left to the human, in order.
	Steps []string `json:"steps"`
}

// incidentAction is one thing incident did, or failed to do.
type incidentAction struct {
	// Action is a stable name: stop, revoke, soul, audit, files, access,
	// sessions, config, logs.
	Action string `json:"action"`
	OK     bool   `json:"ok"`
	// Detail says what happened, for people.
	Detail string `json:"detail"`
	// File is the bundle file the action wrote, if any.
	File string `json:"file,omitempty"`
}

// Contained reports whether the gateway is stopped and its token revoked.
func (r *incidentReport) Contained() bool {
	for _, a := range r.Actions {
		if (a.Action == "stop" || a.Action == "revoke") && !a.OK {
			return false
		}
	}
	return true
}

func (r *incidentReport) add(action string, ok bool, file, format string, args ...any) {
	r.Actions = append(r.Actions, incidentAction{Action: action, OK: ok, File: file, Detail: fmt.Sprintf(format, args...)})
}

// Kill escalation when the gateway does not drain.
const (
	incidentStopTimeout = 15 * time.Second
	incidentKillTimeout = 5 * time.Second
	// maxChangedFiles bounds changed-files.json.
	maxChangedFiles = 20000
)

func (e *env) runIncident(ctx context.Context, o incidentOptions) (*incidentReport, error) {
	now := time.Now().UTC()
	since, err := parseSince(o.since, now)
	if err != nil {
		return nil, err
	}
	d, err := e.dir()
	if err != nil {
		return nil, err
	}
	rep := &incidentReport{StartedAt: now, Since: since, StateDir: d.Root, Actions: []incidentAction{}, Steps: []string{}}

	// The bundle first: a bad --out must fail before anything changes.
	out := o.out
	if out == "" {
		out = filepath.Join(d.Root, "incidents", now.Format("20060102T150405Z"))
	}
	if out, err = filepath.Abs(out); err != nil {
		return nil, err
	}
	if err := makeBundleDir(out); err != nil {
		return nil, err
	}
	rep.Bundle = out

	// A broken config must not stop the response: what needs it is skipped.
	var cfg *config.Config
	var cfgFile *config.File
	if _, f, err := e.loadConfig(); err != nil {
		rep.add("config", false, "", "config not readable, provider and channel steps are generic: %v", err)
	} else {
		cfgFile, cfg = f, f.Config()
		rep.Workspace = e.workspaceDir(d, cfg)
		e.learnSecrets(d, cfg)
	}

	e.incidentStop(ctx, d, rep)
	e.incidentRevoke(ctx, cfg, rep)
	if cfg != nil {
		e.incidentSoul(rep, d)
	}
	e.incidentAudit(ctx, d, rep)
	e.incidentFiles(d, rep, since)
	e.incidentDB(ctx, d, cfg, rep)
	if cfgFile != nil {
		e.incidentConfig(cfgFile, rep)
	}
	e.incidentLogs(d, rep, since)
	for i := range rep.Actions {
		rep.Actions[i].Detail = e.redactor.Redact(rep.Actions[i].Detail)
	}
	rep.Steps = incidentSteps(cfg, rep, e.lookupEnv)

	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := writeBundleFile(out, "incident.json", append(b, '\n')); err != nil {
		return nil, err
	}
	return rep, nil
}

// learnSecrets teaches the redactor every secret the config refers to, so
// that none reaches the bundle, even one the gateway never logged.
func (e *env) learnSecrets(d state.Dir, cfg *config.Config) {
	_, _ = e.openSecrets(d) // it teaches the redactor every stored value
	for _, sf := range cfg.Secrets() {
		_, _ = e.resolveSecret(d, sf.Secret)
	}
}

// incidentStop stops the gateway as gateway stop does, and kills it when
// it does not drain in time.
func (e *env) incidentStop(ctx context.Context, d state.Dir, rep *incidentReport) {
	pid, err := stopGateway(ctx, d, incidentStopTimeout)
	switch {
	case err == nil && pid == 0:
		rep.add("stop", true, "", "no gateway was running on %s", d.Root)
		return
	case err == nil:
		rep.add("stop", true, "", "stopped the gateway (pid %d): the agent answers nobody now", pid)
		return
	case pid == 0:
		rep.add("stop", false, "", "cannot tell whether a gateway runs: %v", err)
		return
	}
	if kerr := syscall.Kill(pid, syscall.SIGKILL); kerr != nil {
		rep.add("stop", false, "", "%v; SIGKILL failed too: %v (run gatehouse incident as the gateway's user or as root)", err, kerr)
		return
	}
	if werr := waitFor(ctx, incidentKillTimeout, func() bool {
		p, err := state.LockHolder(d.Lock())
		return err == nil && p == 0
	}); werr != nil {
		rep.add("stop", false, "", "the gateway (pid %d) survived SIGTERM and SIGKILL: stop it by hand", pid)
		return
	}
	rep.add("stop", true, "", "killed the gateway (pid %d) after it did not stop within %s", pid, incidentStopTimeout)
}

// incidentRevoke replaces the gateway token; with the gateway stopped,
// nothing accepts the old one any more.
func (e *env) incidentRevoke(ctx context.Context, cfg *config.Config, rep *incidentReport) {
	if cfg == nil {
		rep.add("revoke", false, "", "the gateway token was not revoked: the config is not readable")
		return
	}
	res, err := e.rotateToken(ctx)
	if err != nil {
		rep.add("revoke", false, "", "the gateway token was not revoked: %v", err)
		return
	}
	what := "the old token is dead; the new one is in the secret store as " + res.Secret + " and the CLI reads it from there"
	if res.Gateway.Running {
		what += fmt.Sprintf("; the still running gateway (pid %d) reloaded it", res.Gateway.PID)
	}
	rep.add("revoke", true, "", "revoked the gateway token: %s", what)
}

func (e *env) incidentSoul(rep *incidentReport, d state.Dir) {
	s, err := workspace.Verify(rep.Workspace, workspace.BaselinePath(d))
	if err != nil {
		rep.add("soul", false, "", "SOUL.md could not be checked: %v", err)
		return
	}
	b, _ := json.MarshalIndent(s, "", "  ")
	if err := writeBundleFile(rep.Bundle, "soul.json", append(b, '\n')); err != nil {
		rep.add("soul", false, "", "%v", err)
		return
	}
	detail := map[workspace.SoulState]string{
		workspace.SoulOK:         "SOUL.md is unchanged since soul lock",
		workspace.SoulDrift:      "SOUL.md CHANGED since soul lock",
		workspace.SoulBadMode:    "SOUL.md is unchanged but no longer locked down",
		workspace.SoulNoBaseline: "SOUL.md is not locked, so it cannot be checked",
	}[s.State]
	rep.add("soul", true, "soul.json", "%s", detail)
}

func (e *env) incidentAudit(ctx context.Context, d state.Dir, rep *incidentReport) {
	b, summary, err := e.auditJSON(ctx, d)
	if err != nil {
		rep.add("audit", false, "", "the security audit did not run: %v", err)
		return
	}
	if err := writeBundleFile(rep.Bundle, "audit.json", b); err != nil {
		rep.add("audit", false, "", "%v", err)
		return
	}
	rep.add("audit", true, "audit.json", "security audit: %s", summary)
}

// changedFile is one entry of changed-files.json.
type changedFile struct {
	Path  string    `json:"path"`
	Type  string    `json:"type"` // file, dir, symlink, other
	Size  int64     `json:"size"`
	Mode  string    `json:"mode"`
	UID   int       `json:"uid"`
	MTime time.Time `json:"mtime"`
	// CTime is the inode change time, which a chmod or a rewrite sets and
	// no user can set back; zero where the platform does not give it.
	CTime time.Time `json:"ctime,omitzero"`
	// Target is where a symlink points; it is not followed.
	Target string `json:"target,omitempty"`
	// DuringIncident marks a change made after incident started: by
	// incident itself (the token in secrets.age, the lock, the bundle's
	// directory) or by something still running.
	DuringIncident bool `json:"duringIncident,omitempty"`
}

type changedFiles struct {
	Since     time.Time     `json:"since"`
	Roots     []string      `json:"roots"`
	Truncated bool          `json:"truncated"`
	Files     []changedFile `json:"files"`
	Errors    []string      `json:"errors,omitempty"`
}

func (e *env) incidentFiles(d state.Dir, rep *incidentReport, since time.Time) {
	roots := []string{d.Root}
	if ws := rep.Workspace; ws != "" && !within(ws, d.Root) {
		roots = append(roots, ws)
	}
	cf := listChanged(roots, since, rep.StartedAt, rep.Bundle, maxChangedFiles)
	b, _ := json.MarshalIndent(cf, "", "  ")
	if err := writeBundleFile(rep.Bundle, "changed-files.json", append(b, '\n')); err != nil {
		rep.add("files", false, "", "%v", err)
		return
	}
	more := ""
	if cf.Truncated {
		more = fmt.Sprintf(" (the first %d)", maxChangedFiles)
	}
	rep.add("files", len(cf.Errors) == 0, "changed-files.json", "%d entries changed since %s in %s%s%s",
		len(cf.Files), since.Format(time.RFC3339), strings.Join(roots, " and "), more, errorsNote(cf.Errors))
}

func errorsNote(errs []string) string {
	if len(errs) == 0 {
		return ""
	}
	return fmt.Sprintf("; %d could not be read (listed in the file)", len(errs))
}

// listChanged walks roots without following symlinks and lists every entry
// whose mtime or ctime is at or after since, skipping the skip directory.
// Changes at or after started are marked as made during the incident.
func listChanged(roots []string, since, started time.Time, skip string, limit int) changedFiles {
	cf := changedFiles{Since: since, Roots: roots, Files: []changedFile{}}
	for _, root := range roots {
		err := filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
			if err != nil {
				cf.Errors = append(cf.Errors, err.Error())
				return nil
			}
			if p == skip {
				return fs.SkipDir
			}
			fi, err := de.Info()
			if err != nil {
				cf.Errors = append(cf.Errors, err.Error())
				return nil
			}
			ct := changeTime(fi)
			if fi.ModTime().Before(since) && (ct.IsZero() || ct.Before(since)) {
				return nil
			}
			if len(cf.Files) == limit {
				cf.Truncated = true
				return fs.SkipAll
			}
			f := changedFile{Path: p, Size: fi.Size(), Mode: fmt.Sprintf("%04o", uint32(fi.Mode().Perm())),
				MTime: fi.ModTime().UTC(), CTime: ct, UID: -1}
			if uid, _, ok := fileOwner(fi); ok {
				f.UID = uid
			}
			f.DuringIncident = !fi.ModTime().Before(started) || (!ct.IsZero() && !ct.Before(started))
			switch {
			case fi.Mode()&fs.ModeSymlink != 0:
				f.Type = "symlink"
				f.Target, _ = os.Readlink(p)
			case fi.IsDir():
				f.Type = "dir"
			case fi.Mode().IsRegular():
				f.Type = "file"
			default:
				f.Type = "other"
			}
			cf.Files = append(cf.Files, f)
			return nil
		})
		if err != nil {
			cf.Errors = append(cf.Errors, err.Error())
		}
	}
	return cf
}

// within reports whether path is root or under it.
func within(path, root string) bool {
	rel, err := filepath.Rel(root, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// incidentDB snapshots who may talk to the agent and its sessions: with
// the gateway stopped, the commands that show them live cannot.
func (e *env) incidentDB(ctx context.Context, d state.Dir, cfg *config.Config, rep *incidentReport) {
	if !fileExists(d.Database()) {
		rep.add("access", false, "", "no database at %s", d.Database())
		return
	}
	db, err := store.Open(ctx, d.Database())
	if err != nil {
		rep.add("access", false, "", "database %s: %v", d.Database(), err)
		return
	}
	defer db.Close()

	gate, err := access.New(db, access.Options{})
	if err == nil {
		snap := struct {
			Pending []access.PendingRequest `json:"pending"`
			Allowed []access.AllowedSender  `json:"allowed"`
		}{Allowed: []access.AllowedSender{}}
		snap.Pending, err = gate.Pending(ctx, "")
		if snap.Pending == nil {
			snap.Pending = []access.PendingRequest{}
		}
		for _, c := range knownChannels {
			if err != nil {
				break
			}
			var a []access.AllowedSender
			a, err = gate.Allowed(ctx, c)
			snap.Allowed = append(snap.Allowed, a...)
		}
		if err == nil {
			b, _ := json.MarshalIndent(snap, "", "  ")
			err = writeBundleFile(rep.Bundle, "access.json", append(b, '\n'))
		}
		if err == nil {
			owners := 0
			for _, a := range snap.Allowed {
				if a.Owner {
					owners++
				}
			}
			rep.add("access", true, "access.json", "%d approved senders (%d owners), %d pending pairing requests",
				len(snap.Allowed), owners, len(snap.Pending))
		}
	}
	if err != nil {
		rep.add("access", false, "", "pairing list: %v", err)
	}

	if cfg == nil {
		cfg = config.Default()
	}
	a, err := agent.New(agent.Options{Config: cfg, Store: db, Models: noModels{}, Redactor: e.redactor})
	if err == nil {
		var sessions []agent.SessionInfo
		if sessions, err = a.Sessions(ctx); err == nil {
			if sessions == nil {
				sessions = []agent.SessionInfo{}
			}
			b, _ := json.MarshalIndent(map[string]any{"sessions": sessions}, "", "  ")
			if err = writeBundleFile(rep.Bundle, "sessions.json", append(b, '\n')); err == nil {
				rep.add("sessions", true, "sessions.json", "%d sessions", len(sessions))
				return
			}
		}
	}
	rep.add("sessions", false, "", "sessions: %v", err)
}

// noModels lets an agent list its sessions without any provider.
type noModels struct{}

func (noModels) Chat(context.Context, *llm.Request, func(string)) (*llm.Response, llm.Ref, error) {
	return nil, llm.Ref{}, errors.New("no models during an incident")
}
func (noModels) Cost(llm.Ref, llm.Usage) float64 { return 0 }

// incidentConfig saves the config with every secret redacted.
func (e *env) incidentConfig(f *config.File, rep *incidentReport) {
	v, err := f.Get("")
	if err == nil {
		var b []byte
		if b, err = json.MarshalIndent(config.Redact(v, ""), "", "  "); err == nil {
			err = writeBundleFile(rep.Bundle, "config.json", []byte(e.redactor.Redact(string(b))+"\n"))
		}
	}
	if err != nil {
		rep.add("config", false, "", "config: %v", err)
		return
	}
	rep.add("config", true, "config.json", "the config, secrets redacted")
}

// incidentLogs copies the gateway's log lines since since, oldest first,
// through the redactor once more.
func (e *env) incidentLogs(d state.Dir, rep *incidentReport, since time.Time) {
	f, err := createBundleFile(rep.Bundle, "logs.jsonl")
	if err != nil {
		rep.add("logs", false, "", "%v", err)
		return
	}
	w := bufio.NewWriter(f)
	n, errs := 0, []string{}
	for _, p := range logFiles(d) {
		c, err := copyLogSince(w, p, since, e.redactor.Redact)
		n += c
		if err != nil {
			errs = append(errs, err.Error())
		}
	}
	err = errors.Join(w.Flush(), f.Sync(), f.Close())
	if err != nil {
		rep.add("logs", false, "logs.jsonl", "%v", err)
		return
	}
	detail := fmt.Sprintf("%d log lines since %s, redacted", n, since.Format(time.RFC3339))
	if len(errs) > 0 {
		detail += "; " + strings.Join(errs, "; ")
	}
	rep.add("logs", len(errs) == 0, "logs.jsonl", "%s", detail)
}

// logFiles lists the log and its rotated copies, oldest first.
func logFiles(d state.Dir) []string {
	base := filepath.Base(d.Log())
	entries, _ := os.ReadDir(d.LogDir())
	type rotated struct {
		n    int
		path string
	}
	var rs []rotated
	for _, de := range entries {
		if n, err := strconv.Atoi(strings.TrimPrefix(de.Name(), base+".")); err == nil && strings.HasPrefix(de.Name(), base+".") {
			rs = append(rs, rotated{n, filepath.Join(d.LogDir(), de.Name())})
		}
	}
	slices.SortFunc(rs, func(a, b rotated) int { return b.n - a.n })
	var out []string
	for _, r := range rs {
		out = append(out, r.path)
	}
	if fileExists(d.Log()) {
		out = append(out, d.Log())
	}
	return out
}

// copyLogSince copies the JSON lines of the log at path whose time is at
// or after since; a line without a readable time is kept.
func copyLogSince(w io.Writer, path string, since time.Time, redact func(string) string) (int, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 2<<20)
	n := 0
	for sc.Scan() {
		line := sc.Bytes()
		var rec struct {
			Time time.Time `json:"time"`
		}
		if json.Unmarshal(line, &rec) == nil && !rec.Time.IsZero() && rec.Time.Before(since) {
			continue
		}
		if _, err := io.WriteString(w, redact(string(line))+"\n"); err != nil {
			return n, err
		}
		n++
	}
	if err := sc.Err(); err != nil {
		return n, fmt.Errorf("read %s: %w", path, err)
	}
	return n, nil
}

// incidentSteps is what is left to the human, from what the config uses.
func incidentSteps(cfg *config.Config, rep *incidentReport, lookupEnv func(string) (string, bool)) []string {
	var steps []string
	for _, a := range rep.Actions {
		if !a.OK && (a.Action == "stop" || a.Action == "revoke") {
			steps = append(steps, "Finish containment by hand: "+a.Detail)
		}
	}
	steps = append(steps, "Keep the gateway stopped until the steps below are done; if a service manager runs it, stop it there too (systemctl stop gatehouse), so that it does not start again.")
	if cfg == nil {
		steps = append(steps,
			"Rotate every LLM provider API key at its provider's console, and every bot token at its platform (the config could not be read to list them).")
	} else {
		steps = append(steps, providerSteps(cfg, lookupEnv)...)
		steps = append(steps, channelSteps(cfg)...)
		if w := cfg.Tools.Web.Search; w.Provider != "" && !w.APIKey.IsZero() {
			steps = append(steps, fmt.Sprintf("Rotate the %s web search API key at %s, then: %s", w.Provider, w.Provider, storeCmd(w.APIKey, "tools.web.search.apiKey")))
		}
	}
	steps = append(steps,
		"Review who may talk to the agent (access.json, or gatehouse pairing list) and revoke anyone you do not know: gatehouse pairing revoke CHANNEL SENDER",
		"Review what the agent did: sessions.json lists the sessions; after a restart, gatehouse sessions show KEY prints a transcript.")
	for _, a := range rep.Actions {
		if a.Action != "soul" {
			continue
		}
		switch {
		case strings.Contains(a.Detail, "CHANGED"):
			steps = append(steps, "SOUL.md changed since soul lock: compare it with your own copy; restore it, then gatehouse soul unlock and gatehouse soul lock to record the clean one.")
		case strings.Contains(a.Detail, "not locked"):
			steps = append(steps, "Once SOUL.md is clean, lock it (as root for a root-owned, immutable file): gatehouse soul lock")
		}
	}
	steps = append(steps,
		"Read the evidence in "+rep.Bundle+": logs.jsonl for unknown senders, tool calls and failed logins; changed-files.json for files you did not change; audit.json for what the audit found.",
		"Check the host for what the agent's tools could have left: processes of the gateway's user (ps -u USER), its crontab, ~/.ssh/authorized_keys, and containers (docker ps -a).",
		"Clients on other hosts need the new gateway token; store it there with: gatehouse secrets set gateway.remote.token",
		"When done, repair what the audit can and start the gateway again (or systemctl start gatehouse), then watch its log: gatehouse security audit --fix; gatehouse gateway run")
	return steps
}

func providerSteps(cfg *config.Config, lookupEnv func(string) (string, bool)) []string {
	var steps []string
	for _, st := range providers.Describe(cfg, nil, lookupEnv) {
		if st.KeySource == providers.KeyNone {
			continue
		}
		pc := cfg.Models.Providers[st.Provider]
		how := storeCmd(pc.APIKey, "models.providers."+st.Provider+".apiKey")
		if pc.APIKey.IsZero() {
			how = "put the new key in " + strings.TrimPrefix(st.KeySource, "env ") + " where the gateway's environment is set"
		}
		steps = append(steps, fmt.Sprintf("Rotate the %s API key at the provider's console (revoke the old one), then: %s", st.Provider, how))
	}
	return steps
}

// storeCmd says how to store a rotated secret s, the value of the config
// key; a plaintext one moves into the secret store.
func storeCmd(s config.Secret, key string) string {
	switch {
	case s.Ref != "":
		return fmt.Sprintf(`printf '%%s' "$NEW" | gatehouse secrets set %s`, s.Ref)
	case s.Env != "":
		return "put the new value in the environment variable " + s.Env
	}
	return fmt.Sprintf(`(it is in plaintext in the config: move it to the secret store) printf '%%s' "$NEW" | gatehouse secrets set %s; gatehouse config set %s '{"secret": %q}'`, key, key, key)
}

// botHelp says where each platform revokes a bot token.
var botHelp = map[string]string{
	"telegram": "with @BotFather (/revoke)",
	"discord":  "in the Discord Developer Portal (Bot → Reset Token)",
	"slack":    "at api.slack.com/apps (OAuth & Permissions → revoke and reinstall; Basic Information → regenerate the app-level token)",
}

func channelSteps(cfg *config.Config) []string {
	var steps []string
	for _, name := range configuredChannels(cfg) {
		ch := map[string]*config.Channel{"telegram": cfg.Channels.Telegram, "discord": cfg.Channels.Discord,
			"slack": cfg.Channels.Slack, "webchat": cfg.Channels.Webchat}[name]
		if ch == nil || ch.Token.IsZero() {
			continue
		}
		where := botHelp[name]
		if where == "" {
			where = "at the platform"
		}
		add := "gatehouse channels add --channel " + name + " --token -"
		if name == "slack" {
			add += " --app-token xapp-…"
		}
		steps = append(steps, fmt.Sprintf("Revoke the %s bot token %s, then store the new one: %s", name, where, add))
	}
	return steps
}

// parseSince reads --since: a duration back from now, or a time.
func parseSince(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			d = -d
		}
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04", "2006-01-02 15:04", time.DateOnly} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, usageErrorf("--since %q is neither a duration (24h, 90m) nor a time (2026-03-01T08:00:00Z, 2026-03-01)", s)
}

// makeBundleDir creates dir (0700, parents too); an existing non-empty
// directory is refused, so no earlier evidence is overwritten.
func makeBundleDir(dir string) error {
	if err := state.MkdirPrivate(filepath.Dir(dir)); err != nil {
		return err
	}
	err := os.Mkdir(dir, state.DirMode)
	if errors.Is(err, fs.ErrExist) {
		entries, rerr := os.ReadDir(dir)
		if rerr != nil || len(entries) > 0 {
			return fmt.Errorf("bundle directory %s exists and is not empty: choose another with --out", dir)
		}
		err = nil
	}
	if err != nil {
		return fmt.Errorf("bundle directory: %w", err)
	}
	if err := os.Chmod(dir, state.DirMode); err != nil {
		return fmt.Errorf("bundle directory: %w", err)
	}
	return nil
}

// createBundleFile creates a new 0600 file in the bundle; it never
// replaces one.
func createBundleFile(dir, name string) (*os.File, error) {
	p := filepath.Join(dir, name)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, state.FileMode)
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	if err := f.Chmod(state.FileMode); err != nil {
		f.Close()
		return nil, fmt.Errorf("bundle: %w", err)
	}
	return f, nil
}

func writeBundleFile(dir, name string, data []byte) error {
	f, err := createBundleFile(dir, name)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err = errors.Join(err, f.Sync(), f.Close()); err != nil {
		return fmt.Errorf("bundle %s: %w", name, err)
	}
	return nil
}

func (e *env) renderIncident(r *incidentReport) {
	e.printf("incident bundle: %s (directory 0700, files 0600)\n", r.Bundle)
	for _, a := range r.Actions {
		mark := "done  "
		if !a.OK {
			mark = "FAILED"
		}
		file := ""
		if a.File != "" {
			file = " (" + a.File + ")"
		}
		e.printf("  [%s] %s%s\n", mark, a.Detail, file)
	}
	e.printf("left to you:\n")
	for i, s := range r.Steps {
		e.printf("  %d. %s\n", i+1, s)
	}
}

// auditJSON runs the security audit of d, as gatehouse security audit
// does without --deep (the gateway is stopped by now), and returns the
// report as JSON and a one-line summary.
func (e *env) auditJSON(ctx context.Context, d state.Dir) ([]byte, string, error) {
	rep, err := audit.Run(ctx, e.auditOptions(d))
	if err != nil {
		return nil, "", err
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return nil, "", err
	}
	s := rep.Summary
	return []byte(e.redactor.Redact(string(b)) + "\n"), fmt.Sprintf("%d critical, %d warn, %d info", s.Critical, s.Warn, s.Info), nil
}
