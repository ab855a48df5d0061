package gateway

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/audit"
	"gatehouse/internal/store"
)

func openTestDB(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// auditFake is the audit, the owners and the log of a self-audit under test.
type auditFake struct {
	mu       sync.Mutex
	findings []audit.Finding
	err      error
	owners   int
	sent     []string
	logs     syncBuffer
}

func (f *auditFake) set(fs ...audit.Finding) {
	f.mu.Lock()
	f.findings, f.err = fs, nil
	f.mu.Unlock()
}

func (f *auditFake) messages() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.sent...)
}

func (f *auditFake) attach(db *store.DB) *selfAudit {
	a := newSelfAudit(db, slog.New(slog.NewJSONHandler(&f.logs, nil)), func(context.Context) ([]audit.Finding, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		return append([]audit.Finding(nil), f.findings...), f.err
	})
	a.notify = func(_ context.Context, text string) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.owners > 0 {
			f.sent = append(f.sent, text)
		}
	}
	return a
}

var (
	findBind  = audit.Finding{CheckID: "gateway.bind", Subject: "gateway.bind", Severity: audit.SeverityCritical, Title: "The gateway listens beyond loopback", Remediation: "gatehouse config set gateway.bind loopback"}
	findMode  = audit.Finding{CheckID: "fs.modes", Subject: "gatehouse.json", Severity: audit.SeverityWarn, Title: "A file is readable by others", Detail: "mode 0644"}
	findInfo  = audit.Finding{CheckID: "token.age", Subject: "gateway.auth.token", Severity: audit.SeverityInfo, Title: "The token is 40 days old"}
	findPerms = audit.Finding{CheckID: "fs.modes", Subject: "logs", Severity: audit.SeverityWarn, Title: "A directory is readable by others"}
)

func TestSelfAudit_reports_each_finding_once(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	f := &auditFake{owners: 1}
	a := f.attach(db)

	f.set(findBind, findMode, findInfo)
	a.once(ctx)
	msgs := f.messages()
	if len(msgs) != 1 {
		t.Fatalf("sent %d messages for the first audit, want 1", len(msgs))
	}
	for _, want := range []string{"2 new findings", "CRITICAL gateway.bind (gateway.bind)", "fix: gatehouse config set gateway.bind loopback", "WARN fs.modes (gatehouse.json)", "mode 0644"} {
		if !strings.Contains(msgs[0], want) {
			t.Errorf("message lacks %q:\n%s", want, msgs[0])
		}
	}
	if strings.Contains(msgs[0], "token.age") {
		t.Errorf("message holds an info finding:\n%s", msgs[0])
	}
	logs := f.logs.String()
	if !strings.Contains(logs, `"level":"ERROR","msg":"security audit finding"`) || !strings.Contains(logs, `"level":"WARN","msg":"security audit finding"`) {
		t.Errorf("findings not logged at error and warn:\n%s", logs)
	}

	// The same findings again: nothing new.
	a.once(ctx)
	if got := len(f.messages()); got != 1 {
		t.Errorf("sent %d messages after an unchanged audit, want still 1", got)
	}

	// A restart (a new self-audit on the same database) repeats nothing.
	b := f.attach(db)
	b.once(ctx)
	if got := len(f.messages()); got != 1 {
		t.Errorf("sent %d messages after a restart, want still 1", got)
	}

	// A new finding alone is sent.
	f.set(findBind, findMode, findPerms)
	b.once(ctx)
	msgs = f.messages()
	if len(msgs) != 2 || !strings.Contains(msgs[1], "1 new finding.") || !strings.Contains(msgs[1], "(logs)") || strings.Contains(msgs[1], "gateway.bind") {
		t.Errorf("second message = %q, want only the new finding", msgs[len(msgs)-1])
	}

	// A finding that rises from warn to critical is new again.
	up := findPerms
	up.Severity = audit.SeverityCritical
	f.set(findBind, findMode, up)
	b.once(ctx)
	if msgs = f.messages(); len(msgs) != 3 || !strings.Contains(msgs[2], "CRITICAL fs.modes (logs)") {
		t.Errorf("after a severity rise: %q", msgs[len(msgs)-1])
	}

	// Fixed, then back: reported again.
	f.set(findMode, up)
	b.once(ctx)
	if !strings.Contains(f.logs.String(), "security audit finding resolved") {
		t.Errorf("no log line for the resolved finding")
	}
	f.set(findBind, findMode, up)
	b.once(ctx)
	if msgs = f.messages(); len(msgs) != 4 || !strings.Contains(msgs[3], "gateway.bind") {
		t.Errorf("after a finding came back: %d messages, last %q", len(msgs), msgs[len(msgs)-1])
	}
}

// TestSelfAudit_before_an_owner_only_logs: a finding raised while nobody
// can be told is logged, and not sent later when an owner appears; a new
// one then is.
func TestSelfAudit_before_an_owner_only_logs(t *testing.T) {
	ctx := context.Background()
	f := &auditFake{}
	a := f.attach(openTestDB(t))
	f.set(findBind)
	a.once(ctx)
	if got := strings.Count(f.logs.String(), `"msg":"security audit finding"`); got != 1 {
		t.Errorf("finding logged %d times, want once", got)
	}
	f.owners = 1
	a.once(ctx)
	if msgs := f.messages(); len(msgs) != 0 {
		t.Errorf("sent %q for a finding reported before the owner existed", msgs)
	}
	f.set(findBind, findMode)
	a.once(ctx)
	if msgs := f.messages(); len(msgs) != 1 || strings.Contains(msgs[0], "gateway.bind") || !strings.Contains(msgs[0], "fs.modes") {
		t.Errorf("sent %q, want only the new finding", msgs)
	}
}

func TestSelfAudit_told_elsewhere_is_not_sent(t *testing.T) {
	f := &auditFake{owners: 1}
	a := f.attach(openTestDB(t))
	a.toldElsewhere = func(x audit.Finding) bool { return x.CheckID == audit.CheckSoulIntegrity }
	soul := audit.Finding{CheckID: audit.CheckSoulIntegrity, Subject: "workspace/SOUL.md", Severity: audit.SeverityCritical, Title: "SOUL.md changed since soul lock"}
	f.set(soul)
	a.once(context.Background())
	if msgs := f.messages(); len(msgs) != 0 {
		t.Errorf("sent %q, want nothing: the SOUL.md watch tells the owner", msgs)
	}
	if !strings.Contains(f.logs.String(), `"check":"`+audit.CheckSoulIntegrity+`"`) {
		t.Errorf("the finding was not logged:\n%s", f.logs.String())
	}
}

func TestSelfAudit_failed_audit_sends_nothing(t *testing.T) {
	f := &auditFake{owners: 1, err: errors.New("boom")}
	a := f.attach(openTestDB(t))
	a.once(context.Background())
	if len(f.messages()) != 0 || !strings.Contains(f.logs.String(), "self-audit did not run") {
		t.Errorf("messages %q, log %s", f.messages(), f.logs.String())
	}
}

func TestSelfAudit_damaged_record_starts_afresh(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	if err := db.SetMeta(ctx, metaReported, "{not json"); err != nil {
		t.Fatal(err)
	}
	f := &auditFake{owners: 1}
	a := f.attach(db)
	f.set(findBind)
	a.once(ctx)
	a.once(ctx)
	if got := len(f.messages()); got != 1 {
		t.Errorf("sent %d messages, want 1", got)
	}
}

func TestSelfAudit_message_lists_at_most_a_few(t *testing.T) {
	var fs []audit.Finding
	for i := range 12 {
		fs = append(fs, audit.Finding{CheckID: "fs.modes", Subject: strings.Repeat("x", i+1), Severity: audit.SeverityWarn, Title: "t"})
	}
	text := auditText(fs)
	if !strings.Contains(text, "12 new findings") || !strings.Contains(text, "and 4 more") {
		t.Errorf("text = %s", text)
	}
}

// TestSelfAudit_loop: an audit at start, one per kick (merged while one is
// pending), one per period with the SOUL.md check before it, and none
// after the context ends.
func TestSelfAudit_loop(t *testing.T) {
	checkGoroutines(t)
	ran := make(chan string, 16)
	a := newSelfAudit(openTestDB(t), slog.New(slog.DiscardHandler), func(context.Context) ([]audit.Finding, error) {
		ran <- "audit"
		return nil, nil
	})
	a.before = func(context.Context) { ran <- "soul" }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.loop(ctx) }()
	if got := <-ran; got != "audit" {
		t.Fatalf("first = %s, want the audit at start", got)
	}
	a.kick()
	if got := <-ran; got != "audit" {
		t.Fatalf("after kick = %s, want an audit without the SOUL.md check", got)
	}
	cancel()
	<-done

	// The daily run, with a short period.
	b := newSelfAudit(openTestDB(t), slog.New(slog.DiscardHandler), a.run)
	b.before = a.before
	b.every = 20 * time.Millisecond
	ctx, cancel = context.WithCancel(context.Background())
	done = make(chan struct{})
	go func() { defer close(done); b.loop(ctx) }()
	<-ran // at start
	if got := <-ran; got != "soul" {
		t.Errorf("periodic run began with %s, want the SOUL.md check", got)
	}
	if got := <-ran; got != "audit" {
		t.Errorf("after the SOUL.md check: %s, want the audit", got)
	}
	cancel()
	<-done
}
