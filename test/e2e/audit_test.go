package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// auditReport is the part of `security audit --json` these tests read.
type auditReport struct {
	SchemaVersion int  `json:"schemaVersion"`
	Deep          bool `json:"deep"`
	Findings      []struct {
		CheckID     string `json:"checkId"`
		Subject     string `json:"subject"`
		Severity    string `json:"severity"`
		Remediation string `json:"remediation"`
		Fixable     bool   `json:"fixable"`
	} `json:"findings"`
	Checks []struct {
		CheckID string `json:"checkId"`
		Status  string `json:"status"`
		Reason  string `json:"reason"`
	} `json:"checks"`
	Probes []struct {
		CheckID string `json:"checkId"`
		Request string `json:"request"`
		Source  string `json:"source"`
		Result  string `json:"result"`
		Secure  bool   `json:"secure"`
	} `json:"probes"`
	Changes []struct {
		CheckID string `json:"checkId"`
		Subject string `json:"subject"`
		Action  string `json:"action"`
		Error   string `json:"error"`
	} `json:"changes"`
}

// audit runs `security audit --json` with extra flags and returns the
// report and the exit status.
func (in *instance) audit(flags ...string) (auditReport, int) {
	in.t.Helper()
	out, errs, code := in.run(append([]string{"security", "audit", "--json"}, flags...)...)
	var rep auditReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		in.t.Fatalf("security audit %v: exit %d, not JSON: %v\nstdout: %s\nstderr: %s", flags, code, err, out, errs)
	}
	if rep.SchemaVersion != 1 {
		in.t.Errorf("schemaVersion = %d, want 1", rep.SchemaVersion)
	}
	return rep, code
}

func (r auditReport) severity(checkID, subject string) string {
	for _, f := range r.Findings {
		if f.CheckID == checkID && (subject == "" || f.Subject == subject) {
			return f.Severity
		}
	}
	return ""
}

func (r auditReport) status(checkID string) string {
	for _, c := range r.Checks {
		if c.CheckID == checkID {
			return c.Status
		}
	}
	return ""
}

func (r auditReport) String() string {
	var b strings.Builder
	for _, f := range r.Findings {
		b.WriteString("  " + f.Severity + " " + f.CheckID + " " + f.Subject + "\n")
	}
	return b.String()
}

// TestAuditDefaultClean: the onboarded defaults audit with exit 0, no
// warning for the defaults themselves.
func TestAuditDefaultClean(t *testing.T) {
	in := newInstance(t)
	in.onboard()
	rep, code := in.audit()
	if code != 0 {
		t.Fatalf("security audit exit %d, want 0:\n%s", code, rep)
	}
	for _, f := range rep.Findings {
		if f.Severity != "info" {
			t.Errorf("default config: %s %s %s", f.Severity, f.CheckID, f.Subject)
		}
	}
	out := in.must("security", "audit")
	if !strings.Contains(out, "0 critical, 0 warn") {
		t.Errorf("text report = %q", out)
	}
	var cat []map[string]any
	if err := json.Unmarshal([]byte(in.must("security", "checks", "--json")), &cat); err != nil || len(cat) < 50 {
		t.Errorf("security checks --json: %d checks, %v", len(cat), err)
	}
}

// TestAuditInsecureConfig is the acceptance: every insecure
// setting the seeds warn about, each with its own check and severity, exit
// 2; --fix repairs the safe ones and lists what it changed.
func TestAuditInsecureConfig(t *testing.T) {
	in := newInstance(t)
	in.onboard()
	for _, kv := range [][]string{
		{"gateway.bind", "lan"},
		{"gateway.auth.token", "abc", "--plaintext"},
		{"channels.telegram.dmPolicy", "open"},
		{"channels.telegram.groupPolicy", "open"},
		{"channels.telegram.allowFrom", `["*"]`},
		{"gateway.controlUi.allowInsecureAuth", "true"},
		{"logging.redactSensitive", "off"},
		{"tools.elevated.enabled", "true"},
		{"tools.elevated.allowFrom", `{"telegram": ["*"]}`},
		{"agents.defaults.sandbox.mode", "off"},
	} {
		in.must(append([]string{"config", "set"}, kv...)...)
	}
	if err := os.Chmod(filepath.Join(in.state, "gatehouse.json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(in.state, 0o755); err != nil {
		t.Fatal(err)
	}

	rep, code := in.audit()
	if code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	want := []struct{ id, subject, sev string }{
		{"gateway.bind.exposed", "gateway.bind", "warn"},
		{"gateway.token.weak", "gateway.auth.token", "critical"},
		{"channel.dmPolicy.open", "channels.telegram.dmPolicy", "critical"},
		{"channel.groupPolicy.open", "channels.telegram.groupPolicy", "critical"},
		{"channel.allowFrom.wildcard", "channels.telegram.allowFrom[0]", "critical"},
		{"gateway.controlUi.insecureAuth", "gateway.controlUi.allowInsecureAuth", "critical"},
		{"logging.redaction", "logging.redactSensitive", "warn"},
		{"tools.elevated.wildcard", "tools.elevated.allowFrom.telegram[0]", "critical"},
		{"sandbox.off", "agents.defaults.sandbox.mode", "warn"},
		{"tools.exec.unsandboxed", "agents.defaults.sandbox.mode", "critical"},
		{"fs.config.mode", "gatehouse.json", "critical"},
		{"fs.stateDir.mode", ".", "warn"},
	}
	for _, w := range want {
		if got := rep.severity(w.id, w.subject); got != w.sev {
			t.Errorf("%s %s: severity %q, want %q", w.id, w.subject, got, w.sev)
		}
	}
	if t.Failed() {
		t.Fatalf("findings:\n%s", rep)
	}

	// --fix: the text lists each change; the safe findings are gone, the
	// rest stay for the owner, and the bind and the token are untouched.
	out, errs, code := in.run("security", "audit", "--fix")
	if code != 2 {
		t.Errorf("--fix exit %d, want 2 (the unfixable criticals remain)\n%s", code, errs)
	}
	for _, s := range []string{"Fixed:", "gatehouse.json", "mode 0644 → 0600", "logging.redactSensitive", "channels.telegram.groupPolicy", `"open" → "allowlist"`, "gateway.controlUi.allowInsecureAuth"} {
		if !strings.Contains(out, s) {
			t.Errorf("--fix output lacks %q:\n%s", s, out)
		}
	}
	rep, _ = in.audit()
	for _, gone := range []string{"gateway.controlUi.insecureAuth", "logging.redaction", "channel.groupPolicy.open", "fs.config.mode", "fs.stateDir.mode"} {
		if s := rep.severity(gone, ""); s != "" {
			t.Errorf("%s still reported (%s) after --fix", gone, s)
		}
	}
	for _, kept := range []string{"gateway.bind.exposed", "gateway.token.weak", "channel.dmPolicy.open", "tools.elevated.wildcard", "tools.exec.unsandboxed"} {
		if rep.severity(kept, "") == "" {
			t.Errorf("%s disappeared: --fix must leave it to the owner", kept)
		}
	}
	if got := strings.TrimSpace(in.must("config", "get", "gateway.bind")); got != "lan" {
		t.Errorf("gateway.bind = %q after --fix", got)
	}
	if got := strings.TrimSpace(in.must("config", "get", "gateway.auth.token", "--reveal")); got != "abc" {
		t.Errorf("the token changed after --fix")
	}
	assertPrivateTree(t, in.state)
}

// TestAuditDeep: the deep audit of a running, default gateway reports the
// probes it made, each refused, and the owner's CLI still works after the
// lockout probe.
func TestAuditDeep(t *testing.T) {
	in := newInstance(t)
	in.onboard()
	tok := in.token()
	g := in.start()
	in.waitHealthy(g)

	rep, code := in.audit("--deep")
	if code == 2 {
		t.Errorf("a default gateway has critical findings:\n%s", rep)
	}
	if !rep.Deep || len(rep.Probes) < 5 {
		t.Fatalf("deep %v, %d probes", rep.Deep, len(rep.Probes))
	}
	seen := map[string]bool{}
	for _, p := range rep.Probes {
		seen[p.CheckID] = true
		if !p.Secure {
			t.Errorf("probe %s: %s → %s, reported insecure", p.CheckID, p.Request, p.Result)
		}
		if !strings.Contains(p.Request, "127.0.0.1:"+strconv.Itoa(in.port)) {
			t.Errorf("probe %q is not aimed at the gateway on loopback", p.Request)
		}
	}
	for _, id := range []string{"probe.unauthenticated", "probe.hostHeader", "probe.ws.origin", "probe.ws.unauthenticated", "probe.lockout"} {
		if !seen[id] {
			t.Errorf("no %s probe", id)
		}
		if s := rep.status(id); s != "pass" {
			t.Errorf("%s = %s, want pass", id, s)
		}
	}
	for _, id := range []string{"gateway.running", "net.listen"} {
		if s := rep.status(id); s != "pass" {
			t.Errorf("%s = %s, want pass", id, s)
		}
	}
	// Host checks ran or say why not; none passes silently.
	for _, c := range rep.Checks {
		if c.Status == "skip" && c.Reason == "" {
			t.Errorf("%s skipped without a reason", c.CheckID)
		}
	}
	// The lockout probe locked out its own address, not the owner's.
	if got := in.get("/", tok).StatusCode; got != 200 {
		t.Errorf("owner's request after the deep audit = %d, want 200", got)
	}
	in.must("gateway", "call", "health")
	if !waitLog(g, "client locked out") {
		t.Errorf("the gateway did not log the probe's lockout")
	}

	// The text form lists the probes too.
	out, _, _ := in.run("security", "audit", "--deep")
	if !strings.Contains(out, "Probes of the running gateway") || !strings.Contains(out, "429") {
		t.Errorf("text report:\n%s", out)
	}
}

// TestAuditDeepInsecureGateway: a gateway started insecurely (on every
// address, the control UI's insecure auth on, the OpenAI API on) is caught
// by the deep audit from its sockets as well as from its config.
func TestAuditDeepInsecureGateway(t *testing.T) {
	in := newInstance(t)
	in.onboard()
	in.must("config", "set", "gateway.bind", "lan")
	in.must("config", "set", "gateway.controlUi.allowInsecureAuth", "true")
	in.must("config", "set", "gateway.http.openai.enabled", "true")
	g := in.start()
	in.waitHealthy(g)

	rep, code := in.audit("--deep")
	if code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	listen := false
	for _, f := range rep.Findings {
		if f.CheckID == "net.listen" && strings.HasSuffix(f.Subject, ":"+strconv.Itoa(in.port)) {
			listen = true
		}
	}
	if !listen {
		t.Errorf("the listener on every address was not reported:\n%s", rep)
	}
	for id, sev := range map[string]string{
		"gateway.bind.exposed":           "warn",
		"gateway.controlUi.insecureAuth": "critical",
		"gateway.openai.enabled":         "warn",
	} {
		if got := rep.severity(id, ""); got != sev {
			t.Errorf("%s = %q, want %q", id, got, sev)
		}
	}
	// The probes still ran, through loopback.
	if s := rep.status("probe.unauthenticated"); s != "pass" {
		t.Errorf("probe.unauthenticated = %q", s)
	}
	if s := rep.status("probe.hostHeader"); s != "skip" {
		t.Errorf("probe.hostHeader = %q, want skip on a lan bind", s)
	}
}

// TestVerify: the checklist on this machine, each row PASS, FAIL or SKIP,
// and every FAIL and SKIP with its reason.
func TestVerify(t *testing.T) {
	in := newInstance(t)
	in.onboard()
	g := in.start()
	in.waitHealthy(g)

	out, errs, code := in.run("verify", "--json")
	if code != 0 && code != 1 {
		t.Fatalf("verify exit %d: %s", code, errs)
	}
	var cl struct {
		SchemaVersion int `json:"schemaVersion"`
		Rows          []struct {
			Check, Command, Expected, Result, Evidence, Reason string
		} `json:"rows"`
		Summary struct{ Pass, Fail, Skip int } `json:"summary"`
	}
	if err := json.Unmarshal([]byte(out), &cl); err != nil {
		t.Fatalf("verify --json: %v\n%s", err, out)
	}
	rows := map[string]string{}
	for _, r := range cl.Rows {
		rows[r.Check] = r.Result
		switch r.Result {
		case "PASS":
		case "FAIL", "SKIP":
			if r.Reason == "" {
				t.Errorf("%s: %s without a reason", r.Check, r.Result)
			}
		default:
			t.Errorf("%s: result %q", r.Check, r.Result)
		}
		t.Logf("%-4s %-26s %s", r.Result, r.Check, r.Reason)
	}
	for _, name := range []string{"Firewall active", "DOCKER-USER chain", "Service running", "Port binding", "Security score",
		"Security audit", "SOUL.md locked", "Channel paired", "Funnel off"} {
		if rows[name] == "" {
			t.Errorf("no %q row", name)
		}
	}
	for name, want := range map[string]string{"Gateway answering": "PASS", "Port binding": "PASS", "Node.js version": "SKIP", "Gateway bound to loopback": "PASS"} {
		if rows[name] != want {
			t.Errorf("%s = %s, want %s", name, rows[name], want)
		}
	}
	if (cl.Summary.Fail > 0) != (code == 1) {
		t.Errorf("exit %d with %d failed rows", code, cl.Summary.Fail)
	}
	text, _, _ := in.run("verify")
	if !strings.Contains(text, "RESULT") || !strings.Contains(text, "Node.js version") {
		t.Errorf("verify text:\n%s", text)
	}
}
