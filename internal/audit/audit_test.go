package audit

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/state"
	"gatehouse/internal/workspace"
)

// TestAuditDefaultConfigClean: the onboarded defaults have no finding
// worse than info, so `security audit` exits 0.
func TestAuditDefaultConfigClean(t *testing.T) {
	d, home := newState(t)
	rep := mustRun(t, testOptions(t, d, home))
	if h := rep.Highest(); h.rank() > SeverityInfo.rank() {
		t.Fatalf("highest = %s, want info at most:\n%s", h, dump(rep))
	}
	if rep.SchemaVersion != SchemaVersion || rep.StateDir != d.Root {
		t.Errorf("schemaVersion %d stateDir %q", rep.SchemaVersion, rep.StateDir)
	}
	for _, id := range []string{CheckBindExposed, CheckTokenWeak, CheckControlUIInsecure, CheckRedaction, CheckStateDirMode, CheckConfigMode, CheckSandboxOff} {
		if c, ok := rep.Check(id); !ok || c.Status != StatusPass {
			t.Errorf("check %s = %+v, want pass", id, c)
		}
	}
	// Without --deep no gateway or host check appears.
	for _, c := range rep.Checks {
		if ch, _ := lookupCheck(c.CheckID); ch.Deep {
			t.Errorf("deep check %s ran without Deep", c.CheckID)
		}
	}
}

// TestAuditInsecureConfig is the acceptance config: every insecure
// setting the seeds warn about, each reported with its own check and the
// right severity.
func TestAuditInsecureConfig(t *testing.T) {
	d, home := newState(t)
	makeInsecure(t, d)
	rep := mustRun(t, testOptions(t, d, home))
	want := []struct {
		id, subject string
		sev         Severity
		fixable     bool
	}{
		{CheckBindExposed, "gateway.bind", SeverityWarn, false},
		{CheckTokenWeak, "gateway.auth.token", SeverityCritical, false},
		{CheckTokenPlaintext, "gateway.auth.token", SeverityWarn, false},
		{CheckDMPolicyOpen, "channels.telegram.dmPolicy", SeverityCritical, false},
		{CheckGroupPolicyOpen, "channels.telegram.groupPolicy", SeverityCritical, true},
		{CheckAllowFromWildcard, "channels.telegram.allowFrom[0]", SeverityCritical, false},
		{CheckControlUIInsecure, "gateway.controlUi.allowInsecureAuth", SeverityCritical, true},
		{CheckRedaction, "logging.redactSensitive", SeverityWarn, true},
		{CheckElevatedWildcard, "tools.elevated.allowFrom.telegram[0]", SeverityCritical, false},
		{CheckSandboxOff, "agents.defaults.sandbox.mode", SeverityWarn, false},
		{CheckExecUnsandboxed, "agents.defaults.sandbox.mode", SeverityCritical, false},
		{CheckConfigMode, "gatehouse.json", SeverityCritical, true},
		{CheckStateDirMode, ".", SeverityWarn, true},
	}
	got := findingsByKey(rep)
	for _, w := range want {
		f, ok := got[w.id+" "+w.subject]
		switch {
		case !ok:
			t.Errorf("no %s finding for %s", w.id, w.subject)
		case f.Severity != w.sev:
			t.Errorf("%s %s: severity %s, want %s", w.id, w.subject, f.Severity, w.sev)
		case f.Fixable != w.fixable:
			t.Errorf("%s %s: fixable %v, want %v", w.id, w.subject, f.Fixable, w.fixable)
		case f.Remediation == "" || f.Title == "" || f.Detail == "":
			t.Errorf("%s: incomplete finding %+v", w.id, f)
		}
	}
	if rep.Highest() != SeverityCritical {
		t.Errorf("highest = %s, want critical", rep.Highest())
	}
	for _, f := range rep.Findings {
		if _, ok := lookupCheck(f.CheckID); !ok {
			t.Errorf("finding %s is not in the catalog", f.CheckID)
		}
		if strings.Contains(f.Detail, "abc\"") || strings.Contains(f.Subject, "abc") {
			t.Errorf("finding %s shows the token: %q", f.CheckID, f.Detail)
		}
	}
	if t.Failed() {
		t.Logf("findings:\n%s", dump(rep))
	}
}

func makeInsecure(t *testing.T, d state.Dir) {
	t.Helper()
	setConfig(t, d,
		"gateway.bind", "lan",
		"gateway.auth.token", "abc",
		"channels.telegram.dmPolicy", "open",
		"channels.telegram.groupPolicy", "open",
		"channels.telegram.allowFrom", `["*"]`,
		"gateway.controlUi.allowInsecureAuth", "true",
		"logging.redactSensitive", "off",
		"tools.elevated.enabled", "true",
		"tools.elevated.allowFrom", `{"telegram": ["*"]}`,
		"agents.defaults.sandbox.mode", "off",
	)
	if err := os.Chmod(d.Config(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d.Root, 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestAuditFix: --fix repairs the safe findings, lists each change, never
// touches the bind or the token, and the audit after it no longer has them.
func TestAuditFix(t *testing.T) {
	d, home := newState(t)
	makeInsecure(t, d)
	o := testOptions(t, d, home)
	o.Fix = true
	rep := mustRun(t, o)
	changed := map[string]Change{}
	for _, c := range rep.Changes {
		if c.Error != "" {
			t.Errorf("change %+v failed", c)
		}
		changed[c.CheckID+" "+c.Subject] = c
	}
	for _, key := range []string{
		CheckControlUIInsecure + " gateway.controlUi.allowInsecureAuth",
		CheckRedaction + " logging.redactSensitive",
		CheckGroupPolicyOpen + " channels.telegram.groupPolicy",
		CheckConfigMode + " gatehouse.json",
		CheckStateDirMode + " .",
	} {
		if _, ok := changed[key]; !ok {
			t.Errorf("no change listed for %s; changes: %+v", key, rep.Changes)
		}
		if _, ok := findingsByKey(rep)[key]; ok {
			t.Errorf("%s still reported after --fix", key)
		}
	}
	if c := changed[CheckConfigMode+" gatehouse.json"]; c.Action != "mode 0644 → 0600" {
		t.Errorf("config mode change = %q", c.Action)
	}
	if c := changed[CheckGroupPolicyOpen+" channels.telegram.groupPolicy"]; c.Action != `"open" → "allowlist"` || !c.Config {
		t.Errorf("group policy change = %+v", c)
	}
	for _, key := range []string{CheckBindExposed + " gateway.bind", CheckTokenWeak + " gateway.auth.token", CheckDMPolicyOpen + " channels.telegram.dmPolicy"} {
		if _, ok := findingsByKey(rep)[key]; !ok {
			t.Errorf("%s is gone after --fix; it must be left to the owner", key)
		}
	}
	f, err := config.Load(d.Config())
	if err != nil {
		t.Fatal(err)
	}
	cfg := f.Config()
	if cfg.Gateway.Bind != "lan" || cfg.Gateway.Auth.Token.Plain != "abc" {
		t.Errorf("--fix changed bind %q or token", cfg.Gateway.Bind)
	}
	if cfg.Logging.RedactSensitive != "tools" || cfg.Gateway.ControlUI.AllowInsecureAuth || cfg.Channels.Telegram.GroupPolicy != "allowlist" {
		t.Errorf("config after fix: %+v %+v", cfg.Logging, cfg.Gateway.ControlUI)
	}
	for _, p := range []string{d.Root, d.Config()} {
		fi, _ := os.Stat(p)
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s mode %o after --fix", p, fi.Mode().Perm())
		}
	}
	// A second --fix finds nothing more to change.
	if rep := mustRun(t, o); len(rep.Changes) != 0 {
		t.Errorf("second --fix changed %+v", rep.Changes)
	}
}

// TestAuditFixLimitsAndMDNS covers the other config fixers.
func TestAuditFixLimitsAndMDNS(t *testing.T) {
	d, home := newState(t)
	setConfig(t, d, "discovery.mdns.mode", "full", "channels.slack.configWrites", "true",
		"agents.defaults.sandbox.backend", "docker", "agents.defaults.sandbox.limits.cpus", "0")
	o := testOptions(t, d, home)
	rep := mustRun(t, o)
	for _, key := range []string{CheckMDNS + " discovery.mdns.mode", CheckConfigWrites + " channels.slack.configWrites",
		CheckSandboxLimits + " agents.defaults.sandbox.limits.cpus"} {
		if f, ok := findingsByKey(rep)[key]; !ok || !f.Fixable {
			t.Errorf("%s: %+v, want a fixable finding\n%s", key, f, dump(rep))
		}
	}
	o.Fix = true
	rep = mustRun(t, o)
	if h := rep.Highest(); h.rank() > SeverityInfo.rank() {
		t.Errorf("after --fix highest = %s:\n%s", h, dump(rep))
	}
	f, _ := config.Load(d.Config())
	if f.Config().Agents.Defaults.Sandbox.Limits.CPUs != config.Default().Agents.Defaults.Sandbox.Limits.CPUs {
		t.Errorf("cpus limit not restored")
	}
}

// TestAuditInvalidConfigReadLeniently: a config the gateway refuses is
// still audited, and the refusal is a finding.
func TestAuditInvalidConfigReadLeniently(t *testing.T) {
	d, home := newState(t)
	doc := `{
  // the gateway refuses the unknown key and the bad enum value
  "gateway": {"bnd": "lan", "auth": {"mode": "token", "token": {"secret": "gateway.auth.token"}}},
  "logging": {"redactSensitive": "sometimes"},
  "channels": {"discord": {"dmPolicy": "open", "allowFrom": ["@someone"]}},
  "tools": {"elevated": {"enabled": true}},
}`
	if err := os.WriteFile(d.Config(), []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	o := testOptions(t, d, home)
	rep := mustRun(t, o)
	got := findingsByKey(rep)
	for key, sev := range map[string]Severity{
		CheckConfigInvalid + " gatehouse.json":                   SeverityWarn,
		CheckDMPolicyOpen + " channels.discord.dmPolicy":         SeverityCritical,
		CheckAllowFromMutable + " channels.discord.allowFrom[0]": SeverityCritical,
		CheckElevatedNoAllow + " tools.elevated.allowFrom":       SeverityWarn,
	} {
		if f, ok := got[key]; !ok || f.Severity != sev {
			t.Errorf("%s: %+v, want severity %s", key, f, sev)
		}
	}
	if f := got[CheckConfigInvalid+" gatehouse.json"]; !strings.Contains(f.Detail, "gateway.bnd") {
		t.Errorf("config.invalid detail %q does not name the bad key", f.Detail)
	}
	// Nothing in the file can be fixed while it does not validate.
	for _, f := range rep.Findings {
		if _, isConfig := configFixFor(f); isConfig && f.Fixable {
			t.Errorf("%s is marked fixable in an invalid config", f.CheckID)
		}
	}
}

func TestAuditUnreadableConfig(t *testing.T) {
	d, home := newState(t)
	if err := os.WriteFile(d.Config(), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chmod(d.Config(), 0o644)
	rep := mustRun(t, testOptions(t, d, home))
	got := findingsByKey(rep)
	if f, ok := got[CheckConfigUnreadable+" gatehouse.json"]; !ok || f.Severity != SeverityCritical {
		t.Errorf("config.unreadable = %+v\n%s", f, dump(rep))
	}
	if _, ok := got[CheckConfigMode+" gatehouse.json"]; !ok {
		t.Errorf("the file checks did not run without a config:\n%s", dump(rep))
	}
}

func TestAuditMissingStateDir(t *testing.T) {
	d := state.Dir{Root: filepath.Join(t.TempDir(), "nothing")}
	rep := mustRun(t, testOptions(t, d, t.TempDir()))
	if _, ok := findingsByKey(rep)[CheckStateDirMissing+" ."]; !ok {
		t.Errorf("findings:\n%s", dump(rep))
	}
	if _, err := os.Stat(d.Root); err == nil {
		t.Errorf("the audit created the state dir")
	}
}

// TestAuditReadOnly: without Fix the audit writes nothing, not even a
// secret key when the store is missing.
func TestAuditReadOnly(t *testing.T) {
	d, home := newState(t)
	os.Remove(d.SecretKey())
	os.Remove(d.Secrets())
	before := listTree(t, d.Root)
	rep := mustRun(t, testOptions(t, d, home))
	if after := listTree(t, d.Root); !slices.Equal(before, after) {
		t.Errorf("tree changed:\nbefore %v\nafter  %v", before, after)
	}
	if f, ok := findingsByKey(rep)[CheckTokenUnresolved+" gateway.auth.token"]; !ok || f.Severity != SeverityCritical {
		t.Errorf("token.unresolved = %+v", f)
	}
}

func listTree(t *testing.T, root string) []string {
	var out []string
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err == nil {
			out = append(out, p+" "+fi.Mode().String()+" "+fi.ModTime().String())
		}
		return nil
	})
	return out
}

func TestAuditSymlinkOutside(t *testing.T) {
	d, home := newState(t)
	if err := os.Symlink("/etc/hostname", filepath.Join(d.Root, "notes.txt")); err != nil {
		t.Fatal(err)
	}
	rep := mustRun(t, testOptions(t, d, home))
	if f, ok := findingsByKey(rep)[CheckSymlinkOutside+" notes.txt"]; !ok || f.Fixable {
		t.Errorf("symlink finding = %+v\n%s", f, dump(rep))
	}
}

// TestAuditOwnerAsRoot: run as root, the audit expects the state dir's
// owner, not root, and --fix gives a stray entry back to that owner.
func TestAuditOwnerAsRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown")
	}
	d, home := newState(t)
	const uid = 4242
	filepath.Walk(d.Root, func(p string, _ os.FileInfo, _ error) error { return os.Lchown(p, uid, uid) })
	if rep := mustRun(t, testOptions(t, d, home)); len(rep.FindingsOf(CheckOwner)) != 0 {
		t.Fatalf("a tree owned by one user reported: %+v", rep.FindingsOf(CheckOwner))
	}
	stray := filepath.Join(d.Root, "stray")
	os.WriteFile(stray, nil, 0o600) // created by root
	o := testOptions(t, d, home)
	rep := mustRun(t, o)
	if f, ok := findingsByKey(rep)[CheckOwner+" stray"]; !ok || !f.Fixable {
		t.Fatalf("stray = %+v\n%s", f, dump(rep))
	}
	o.Fix = true
	rep = mustRun(t, o)
	if len(rep.FindingsOf(CheckOwner)) != 0 {
		t.Errorf("owner findings after --fix: %+v", rep.FindingsOf(CheckOwner))
	}
	fi, _ := os.Lstat(stray)
	if u, _, _ := fileOwner(fi); u != uid {
		t.Errorf("stray owner = %d, want %d", u, uid)
	}
}

func TestAuditSoulMissingAndWritable(t *testing.T) {
	d, home := newState(t)
	soul := filepath.Join(d.Workspace(), "SOUL.md")
	os.Chmod(soul, 0o666)
	o := testOptions(t, d, home)
	if f, ok := findingsByKey(mustRun(t, o))[CheckSoulWritable+" workspace/SOUL.md"]; !ok || !f.Fixable {
		t.Errorf("writable SOUL.md = %+v", f)
	}
	o.Fix = true
	mustRun(t, o)
	if fi, _ := os.Stat(soul); fi.Mode().Perm() != 0o600 {
		t.Errorf("SOUL.md mode %o after --fix, want 600", fi.Mode().Perm())
	}
	os.Remove(soul)
	o.Fix = false
	if _, ok := findingsByKey(mustRun(t, o))[CheckSoulMissing+" workspace/SOUL.md"]; !ok {
		t.Errorf("missing SOUL.md not reported")
	}
}

func TestAuditWorkspaceOutsideWritable(t *testing.T) {
	d, home := newState(t)
	ws := filepath.Join(home, "agent")
	if _, err := workspace.Init(ws); err != nil {
		t.Fatal(err)
	}
	setConfig(t, d, "agents.defaults.workspace", ws)
	os.Chmod(ws, 0o777)
	os.Chmod(filepath.Join(ws, "AGENTS.md"), 0o666)
	o := testOptions(t, d, home)
	rep := mustRun(t, o)
	f, ok := findingsByKey(rep)[CheckWorkspaceWritable+" "+ws]
	if !ok || !strings.Contains(f.Detail, "2 entries") {
		t.Fatalf("workspace.writable = %+v\n%s", f, dump(rep))
	}
	o.Fix = true
	rep = mustRun(t, o)
	if len(rep.FindingsOf(CheckWorkspaceWritable)) != 0 {
		t.Errorf("still writable after --fix: %+v", rep.Changes)
	}
	if fi, _ := os.Stat(ws); fi.Mode().Perm() != 0o755 {
		t.Errorf("workspace mode %o, want 755 (only write access taken away)", fi.Mode().Perm())
	}
}

func TestAuditSandboxSettings(t *testing.T) {
	d, home := newState(t)
	secretDir := filepath.Join(home, ".ssh")
	os.MkdirAll(secretDir, 0o700)
	data := filepath.Join(home, "data")
	os.MkdirAll(data, 0o700)
	setConfig(t, d,
		"agents.defaults.sandbox.backend", "docker",
		"agents.defaults.sandbox.docker.network", "bridge",
		"agents.defaults.sandbox.docker.readOnlyRoot", "false",
		"agents.defaults.sandbox.workspaceAccess", "rw",
		"agents.defaults.sandbox.docker.binds", `["`+secretDir+`:/keys", "`+data+`:/data:rw", "/nonexistent/x:/x"]`,
		"agents.defaults.sandbox.native.allowWithout", `["seccomp"]`,
		"agents.defaults.sandbox.scope", "shared",
	)
	rep := mustRun(t, testOptions(t, d, home))
	got := findingsByKey(rep)
	for key, sev := range map[string]Severity{
		CheckSandboxNetwork + " agents.defaults.sandbox.docker.network":        SeverityWarn,
		CheckSandboxRootRW + " agents.defaults.sandbox.docker.readOnlyRoot":    SeverityWarn,
		CheckSandboxWorkspaceRW + " agents.defaults.sandbox.workspaceAccess":   SeverityWarn,
		CheckSandboxBindDanger + " agents.defaults.sandbox.docker.binds[0]":    SeverityCritical,
		CheckSandboxBindRW + " agents.defaults.sandbox.docker.binds[1]":        SeverityWarn,
		CheckSandboxBindInvalid + " agents.defaults.sandbox.docker.binds[2]":   SeverityWarn,
		CheckSandboxWaived + " agents.defaults.sandbox.native.allowWithout[0]": SeverityWarn,
		CheckSandboxShared + " agents.defaults.sandbox.scope":                  SeverityInfo,
	} {
		if f, ok := got[key]; !ok || f.Severity != sev {
			t.Errorf("%s = %+v, want %s", key, f, sev)
		}
	}
	if t.Failed() {
		t.Log(dump(rep))
	}
}

func TestAuditModelsAndBudget(t *testing.T) {
	d, home := newState(t)
	setConfig(t, d, "agents.defaults.model.primary", "anthropic/claude-sonnet-4-5",
		"agents.defaults.model.fallbacks", `["openai/gpt-4o"]`,
		"models.providers.anthropic.apiKey", "sk-ant-"+strings.Repeat("x", 40))
	rep := mustRun(t, testOptions(t, d, home))
	got := findingsByKey(rep)
	if f, ok := got[CheckBudgetUnset+" agents.defaults.budget"]; !ok || f.Severity != SeverityWarn {
		t.Errorf("budget = %+v", f)
	}
	if _, ok := got[CheckModelUnconfigured+" agents.defaults.model.fallbacks[0]"]; !ok {
		t.Errorf("the unconfigured fallback is not reported:\n%s", dump(rep))
	}
	if _, ok := got[CheckModelUnconfigured+" agents.defaults.model.primary"]; ok {
		t.Errorf("the configured primary is reported")
	}
	if f, ok := got[CheckPlaintextSecrets+" models.providers.anthropic.apiKey"]; !ok || strings.Contains(f.Detail, "sk-ant") {
		t.Errorf("plaintext secret = %+v", f)
	}
}

func TestAuditTokenAge(t *testing.T) {
	d, home := newState(t)
	old := time.Now().Add(-100 * 24 * time.Hour)
	os.Chtimes(d.Secrets(), old, old)
	rep := mustRun(t, testOptions(t, d, home))
	if f, ok := findingsByKey(rep)[CheckTokenAge+" gateway.auth.token"]; !ok || f.Severity != SeverityWarn {
		t.Errorf("token age = %+v", f)
	}
	o := testOptions(t, d, home)
	o.TokenSetAt = time.Now().Add(-24 * time.Hour)
	if c, _ := mustRun(t, o).Check(CheckTokenAge); c.Status != StatusPass {
		t.Errorf("token set yesterday: %+v", c)
	}
}

func TestDiff(t *testing.T) {
	prev := &Report{Findings: []Finding{
		{CheckID: CheckRedaction, Subject: "logging.redactSensitive", Severity: SeverityWarn},
		{CheckID: CheckBudgetUnset, Subject: "agents.defaults.budget", Severity: SeverityInfo},
	}}
	cur := &Report{Findings: []Finding{
		{CheckID: CheckRedaction, Subject: "logging.redactSensitive", Severity: SeverityWarn},
		{CheckID: CheckBudgetUnset, Subject: "agents.defaults.budget", Severity: SeverityWarn},
		{CheckID: CheckDMPolicyOpen, Subject: "channels.telegram.dmPolicy", Severity: SeverityCritical},
	}}
	var keys []string
	for _, f := range Diff(prev, cur) {
		keys = append(keys, f.Key())
	}
	want := []string{CheckBudgetUnset + " agents.defaults.budget", CheckDMPolicyOpen + " channels.telegram.dmPolicy"}
	if !slices.Equal(keys, want) {
		t.Errorf("Diff = %v, want %v", keys, want)
	}
	if n := len(Diff(nil, cur)); n != 3 {
		t.Errorf("Diff(nil) = %d findings, want 3", n)
	}
}

// TestAuditStableKeys: two runs of the same state give the same keys, so
// the gateway's self-audit reports nothing twice.
func TestAuditStableKeys(t *testing.T) {
	d, home := newState(t)
	makeInsecure(t, d)
	a := mustRun(t, testOptions(t, d, home))
	b := mustRun(t, testOptions(t, d, home))
	if n := Diff(a, b); len(n) != 0 {
		t.Errorf("new findings on an unchanged state: %+v", n)
	}
}

func TestRunNeedsStateDir(t *testing.T) {
	if _, err := Run(context.Background(), Options{}); err == nil {
		t.Error("Run without a state dir succeeded")
	}
}
