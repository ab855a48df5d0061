package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"gatehouse/internal/audit"
	"gatehouse/internal/store"
)

// selfAuditEvery is how often the running gateway audits itself, besides
// at start and after every reload.
const selfAuditEvery = 24 * time.Hour

// metaReported is the meta key under which the self-audit keeps the
// findings it has reported, so that a restart does not report them again.
const metaReported = "selfaudit.reported"

// severityRank orders the severities the self-audit reports; info and
// anything unknown rank 0 and are not reported.
func severityRank(s audit.Severity) int {
	switch s {
	case audit.SeverityWarn:
		return 1
	case audit.SeverityCritical:
		return 2
	}
	return 0
}

// reportedFinding is one finding the self-audit has reported, as stored.
type reportedFinding struct {
	Severity audit.Severity `json:"severity"`
	Since    time.Time      `json:"since"`
}

// selfAudit runs the security audit in the gateway: once at start, every
// selfAuditEvery, and after every reload (kick). A critical or warn
// finding is reported when it first appears, once: logged, and sent to
// the owners of the running channels if there are any then (a finding
// raised before anyone paired is only logged; gatehouse security audit
// lists it). The findings reported are kept in the database's meta
// table, so a restart reports nothing twice. A finding that disappears is
// forgotten, so it is reported again if it comes back; one whose severity
// rises is reported again.
type selfAudit struct {
	// run audits the state dir.
	run func(ctx context.Context) ([]audit.Finding, error)
	// before runs before a scheduled audit (not at start, not after a
	// reload, where Run has just done it): the SOUL.md check.
	before func(ctx context.Context)
	// notify queues text for the owners.
	notify func(ctx context.Context, text string)
	// toldElsewhere reports findings that another part of the gateway
	// tells the owner about (SOUL.md drift): they are logged and recorded
	// but not sent twice.
	toldElsewhere func(audit.Finding) bool
	// redact cleans the message before it leaves the gateway.
	redact func(string) string
	db     *store.DB
	log    *slog.Logger
	every  time.Duration
	now    func() time.Time
	kickc  chan struct{}
}

func newSelfAudit(db *store.DB, log *slog.Logger, run func(context.Context) ([]audit.Finding, error)) *selfAudit {
	return &selfAudit{
		run:    run,
		db:     db,
		log:    log.With(keyComponent, "selfaudit"),
		every:  selfAuditEvery,
		now:    time.Now,
		redact: func(s string) string { return s },
		kickc:  make(chan struct{}, 1),
	}
}

// kick asks for an audit soon, after a config change. Kicks while one is
// pending merge.
func (a *selfAudit) kick() {
	select {
	case a.kickc <- struct{}{}:
	default:
	}
}

// loop audits at once, then on every kick and every a.every, until ctx
// ends.
func (a *selfAudit) loop(ctx context.Context) {
	t := time.NewTicker(a.every)
	defer t.Stop()
	a.once(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.kickc:
			a.once(ctx)
		case <-t.C:
			if a.before != nil {
				a.before(ctx)
			}
			a.once(ctx)
		}
	}
}

// once runs one audit, logs and sends what is new, and records it.
func (a *selfAudit) once(ctx context.Context) {
	findings, err := a.run(ctx)
	if err != nil {
		if ctx.Err() == nil {
			a.log.Warn("self-audit did not run", keyErr, err)
		}
		return
	}
	prev, err := a.load(ctx)
	if err != nil {
		// Without the record, everything would look new: better to say
		// nothing this time than to repeat every finding.
		a.log.Warn("self-audit: cannot read what was reported before; nothing is sent this time", keyErr, err)
		return
	}
	now := a.now().UTC()
	next := map[string]reportedFinding{}
	var fresh, send []audit.Finding
	var critical, warn int
	for _, f := range findings {
		r := severityRank(f.Severity)
		if r == 0 {
			continue
		}
		if r == 2 {
			critical++
		} else {
			warn++
		}
		k := f.Key()
		if old, ok := next[k]; ok && severityRank(old.Severity) >= r {
			continue // the same key twice in one report
		}
		p, seen := prev[k]
		if !seen || r > severityRank(p.Severity) {
			p = reportedFinding{Severity: f.Severity, Since: now}
			fresh = append(fresh, f)
			if a.toldElsewhere == nil || !a.toldElsewhere(f) {
				send = append(send, f)
			}
		}
		next[k] = p
	}
	for k, p := range prev {
		if _, ok := next[k]; !ok {
			a.log.Info("security audit finding resolved", "finding", k, "severity", p.Severity, "since", p.Since)
		}
	}
	for _, f := range fresh {
		level := slog.LevelWarn
		if f.Severity == audit.SeverityCritical {
			level = slog.LevelError
		}
		a.log.Log(ctx, level, "security audit finding", "check", f.CheckID, "subject", f.Subject,
			"severity", f.Severity, "title", f.Title, "detail", f.Detail, "fix", f.Remediation)
	}
	// Recorded first: a crash in between loses a message rather than
	// sending it twice.
	if err := a.save(ctx, next); err != nil {
		a.log.Warn("self-audit: cannot record what was reported; it may be reported again", keyErr, err)
	}
	if len(send) > 0 && a.notify != nil {
		a.notify(ctx, a.redact(auditText(send)))
	}
	a.log.Info("self-audit done", "critical", critical, "warn", warn, "new", len(fresh))
}

func (a *selfAudit) load(ctx context.Context) (map[string]reportedFinding, error) {
	v, ok, err := a.db.GetMeta(ctx, metaReported)
	if err != nil || !ok {
		return map[string]reportedFinding{}, err
	}
	m := map[string]reportedFinding{}
	if err := json.Unmarshal([]byte(v), &m); err != nil {
		// A damaged record is replaced at the end of this run.
		a.log.Warn("self-audit: the record of reported findings is damaged; starting afresh", keyErr, err)
		return map[string]reportedFinding{}, nil
	}
	return m, nil
}

func (a *selfAudit) save(ctx context.Context, m map[string]reportedFinding) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	l := a.db.WriteLock()
	l.Lock()
	defer l.Unlock()
	return a.db.SetMeta(context.WithoutCancel(ctx), metaReported, string(b))
}

// maxListed bounds the findings one message lists.
const maxListed = 8

// auditText is the owner's message about new findings.
func auditText(fs []audit.Finding) string {
	var b strings.Builder
	noun := "finding"
	if len(fs) > 1 {
		noun = "findings"
	}
	fmt.Fprintf(&b, "Gatehouse security audit: %d new %s.\n", len(fs), noun)
	for i, f := range fs {
		if i == maxListed {
			fmt.Fprintf(&b, "…and %d more.\n", len(fs)-maxListed)
			break
		}
		fmt.Fprintf(&b, "%s %s (%s): %s", strings.ToUpper(string(f.Severity)), f.CheckID, f.Subject, clipText(f.Title, 160))
		if f.Detail != "" {
			b.WriteString(" — " + clipText(f.Detail, 240))
		}
		if f.Remediation != "" {
			b.WriteString("\n  fix: " + clipText(f.Remediation, 200))
		}
		b.WriteString("\n")
	}
	b.WriteString("Full report on the gateway host: gatehouse security audit")
	return b.String()
}

// newGatewayAudit is the self-audit of a running gateway: the audit of its
// state dir, told to the owners of its channels. SOUL.md is checked by soul
// before each daily run and reported by soul alone; ws is the workspace in
// force.
func newGatewayAudit(o RunOptions, db *store.DB, log *slog.Logger, rtr *router, soul *soulWatch, ws func() string) *selfAudit {
	a := newSelfAudit(db, log, auditStateDir(o))
	a.notify = rtr.notifyOwners
	a.before = func(ctx context.Context) { soul.check(ctx, ws()) }
	a.toldElsewhere = func(f audit.Finding) bool { return f.CheckID == audit.CheckSoulIntegrity }
	a.redact = o.Redactor.Redact
	return a
}

// auditStateDir runs the security audit of o.Dir as `gatehouse security
// audit` does without --deep: the config and the state directory, SOUL.md
// included. The deep probes of the gateway and the host are left to the
// owner's CLI: a gateway that locks out a loopback address of its own
// every day would be a strange neighbour.
func auditStateDir(o RunOptions) func(context.Context) ([]audit.Finding, error) {
	return func(ctx context.Context) ([]audit.Finding, error) {
		rep, err := audit.Run(ctx, audit.Options{StateDir: o.Dir, Getenv: o.Getenv, LookupEnv: o.LookupEnv})
		if err != nil {
			return nil, err
		}
		return rep.Findings, nil
	}
}
