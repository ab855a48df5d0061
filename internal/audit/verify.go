package audit

import (
	"context"
	"errors"
	"fmt"
	"gatehouse/internal/service"
	"runtime"
	"slices"
	"strings"
	"time"

	"gatehouse/internal/access"
)

// Checklist results.
const (
	ResultPass = "PASS"
	ResultFail = "FAIL"
	ResultSkip = "SKIP"
)

// Row is one line of the seed guides' verification checklist.
type Row struct {
	// Check names the row as the seed guides do ("Port binding").
	Check string `json:"check"`
	// Command is what the seed guide runs for it, or what the audit read.
	Command string `json:"command"`
	// Expected is what the row must show to pass.
	Expected string `json:"expected"`
	// Result is PASS, FAIL or SKIP.
	Result string `json:"result"`
	// Evidence is what this host and gateway showed.
	Evidence string `json:"evidence,omitempty"`
	// Reason says why a row failed or was skipped, and what to run.
	Reason string `json:"reason,omitempty"`
}

// ChecklistSummary counts a checklist's results.
type ChecklistSummary struct {
	Pass int `json:"pass"`
	Fail int `json:"fail"`
	Skip int `json:"skip"`
}

// Checklist is the verification checklist of one host and gateway. Its
// JSON form is versioned by SchemaVersion, like [Report]'s.
type Checklist struct {
	SchemaVersion int              `json:"schemaVersion"`
	GeneratedAt   time.Time        `json:"generatedAt"`
	StateDir      string           `json:"stateDir"`
	Rows          []Row            `json:"rows"`
	Summary       ChecklistSummary `json:"summary"`
	// Audit summarises the deep audit the rows are built on.
	Audit Summary `json:"audit"`
}

// Failed reports whether any row failed.
func (c *Checklist) Failed() bool { return c.Summary.Fail > 0 }

// VerifyOptions configures [Verify].
type VerifyOptions struct {
	// Options are the audit's; Deep is always on and Fix always off.
	Options
	// Version is this binary's version.
	Version string
	// GatewayVersion asks the running gateway for its version. Nil: the
	// row compares nothing.
	GatewayVersion func(ctx context.Context) (string, error)
	// ApprovedSenders counts the senders approved by pairing on a channel.
	// Nil: only allowFrom entries count.
	ApprovedSenders func(ctx context.Context, channel string) (int, error)
}

// Verify runs the deep audit and lays its results out as the seed guides'
// verification checklist, with the rows that a static Go binary replaces
// (Node.js) skipped with the reason.
func Verify(ctx context.Context, o VerifyOptions) (*Checklist, error) {
	ao := o.Options
	ao.Deep, ao.Fix = true, false
	rep, err := Run(ctx, ao)
	if err != nil {
		return nil, err
	}
	a := newAuditor(ao)
	env := a.load(newResults())
	cl := &Checklist{SchemaVersion: SchemaVersion, GeneratedAt: rep.GeneratedAt, StateDir: rep.StateDir, Audit: rep.Summary}
	v := verifier{a: a, rep: rep, env: env, o: o}
	cl.Rows = []Row{
		v.version(ctx),
		{Check: "Node.js version", Command: "node --version", Expected: ">= v22.12.0 (seed guide)", Result: ResultSkip,
			Reason: "not applicable: Gatehouse is one static Go binary (" + runtime.Version() + ") and runs no Node.js"},
		v.fromChecks(Row{Check: "Firewall active", Command: "sudo ufw status verbose", Expected: "deny incoming by default, allow tailscale0"}, false, CheckFirewall),
		v.fromChecks(Row{Check: "DOCKER-USER chain", Command: "sudo iptables -S DOCKER-USER", Expected: "ends in DROP"}, false, CheckDockerUser),
		v.serviceRunning(),
		v.gatewayRunning(),
		v.fromChecks(Row{Check: "Port binding", Command: fmt.Sprintf("sudo ss -tlnp | grep %d", v.port()), Expected: "127.0.0.1 only"}, false, CheckListen),
		v.fromChecks(Row{Check: "Security score", Command: "systemd-analyze security --offline=true gatehouse.service",
			Expected: fmt.Sprintf("exposure <= %.1f system unit, %.1f with the native sandbox (seed guide: <= 5.8)", service.MaxExposure(service.ModeSystem, service.SandboxNone), service.MaxExposure(service.ModeSystem, service.SandboxNative))}, false, CheckSystemdScore),
		v.auditRow(),
		v.soulRow(),
		v.channelRow(ctx),
		v.fromChecks(Row{Check: "Funnel off", Command: "tailscale funnel status", Expected: "No serve config / no funnels"}, false, CheckTailscaleFunnel),
		v.fail2ban(ctx),
		v.fromChecks(Row{Check: "Gateway bound to loopback", Command: a.cmd + " config get gateway.bind", Expected: "loopback"}, false, CheckBindExposed),
		v.fromChecks(Row{Check: "Gateway token", Command: a.cmd + " doctor", Expected: "token auth, >= 128 bits, in the secret store"}, true,
			CheckAuthNone, CheckAuthPassword, CheckTokenUnresolved, CheckTokenWeak, CheckTokenPlaintext, CheckTokenAge),
		v.fromChecks(Row{Check: "File permissions", Command: "find " + rep.StateDir + ` -printf '%m %u %p\n'`, Expected: "directories 700, files 600, owned by the gateway's user"}, false,
			CheckStateDirMissing, CheckStateDirMode, CheckConfigMode, CheckDatabaseMode, CheckSecretsMode, CheckLogsMode, CheckWorkspaceMode, CheckOtherMode, CheckOwner, CheckSymlinkOutside),
		v.fromChecks(Row{Check: "DM and group policies", Command: a.cmd + " config get channels", Expected: "DMs by pairing or allowlist, groups disabled or allowlisted, numeric ids"}, true,
			CheckDMPolicyOpen, CheckGroupPolicyOpen, CheckAllowFromWildcard, CheckAllowFromMutable, CheckConfigWrites, CheckChannelAccess),
		v.fromChecks(Row{Check: "Service user", Command: "ps -o user= -p $(pgrep -f 'gatehouse gateway run')", Expected: "a dedicated non-root user"}, false, CheckServiceUser),
	}
	for _, r := range cl.Rows {
		switch r.Result {
		case ResultPass:
			cl.Summary.Pass++
		case ResultFail:
			cl.Summary.Fail++
		default:
			cl.Summary.Skip++
		}
	}
	return cl, nil
}

// verifier builds the rows from one deep audit.
type verifier struct {
	a   *auditor
	rep *Report
	env *configEnv
	o   VerifyOptions
}

func (v *verifier) port() int {
	if v.env != nil {
		return v.env.cfg.Gateway.Port
	}
	return 18789
}

// fromChecks fills row from the results of ids: FAIL when any has a
// finding (an info finding passes when infoPasses), SKIP when every one was
// skipped, PASS otherwise.
func (v *verifier) fromChecks(row Row, infoPasses bool, ids ...string) Row {
	var skipped, evidence, failures []string
	ran := 0
	for _, id := range ids {
		c, ok := v.rep.Check(id)
		if !ok {
			skipped = append(skipped, id+": not run")
			continue
		}
		if c.Command != "" {
			row.Command = c.Command
		}
		switch {
		case c.Status == StatusSkip:
			skipped = append(skipped, c.Reason)
			continue
		case c.Status == StatusFail && !(infoPasses && c.Severity == SeverityInfo):
			for _, f := range v.rep.FindingsOf(id) {
				if infoPasses && f.Severity == SeverityInfo {
					continue
				}
				failures = append(failures, fmt.Sprintf("%s (%s): %s; fix: %s", f.Subject, f.Severity, f.Detail, f.Remediation))
			}
		}
		ran++
		if ev := cmpOr(c.Evidence, c.Reason); ev != "" && !slices.Contains(evidence, ev) {
			evidence = append(evidence, ev)
		}
	}
	row.Evidence = strings.Join(evidence, "; ")
	switch {
	case len(failures) > 0:
		row.Result, row.Reason = ResultFail, strings.Join(first(failures, 3), " | ")
		if len(failures) > 3 {
			row.Reason += fmt.Sprintf(" | and %d more", len(failures)-3)
		}
	case ran == 0:
		row.Result, row.Reason = ResultSkip, strings.Join(skipped, "; ")
	default:
		row.Result = ResultPass
	}
	return row
}

func (v *verifier) version(ctx context.Context) Row {
	row := Row{Check: "Gatehouse version", Command: v.a.cmd + " version", Expected: "a known build; the running gateway on the same version"}
	if v.o.Version == "" {
		row.Result, row.Reason = ResultSkip, "the caller did not say which version this is"
		return row
	}
	row.Evidence = "gatehouse " + v.o.Version
	row.Result = ResultPass
	if c, ok := v.rep.Check(CheckGatewayRunning); !ok || c.Status != StatusPass || v.o.GatewayVersion == nil {
		return row
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	gv, err := v.o.GatewayVersion(ctx)
	switch {
	case err != nil:
		row.Evidence += "; the gateway did not say its version: " + err.Error()
	case gv != v.o.Version:
		row.Evidence += "; gateway " + gv
		row.Result, row.Reason = ResultFail, fmt.Sprintf("the running gateway is version %s, this CLI %s: restart it (%s gateway restart)", gv, v.o.Version, v.a.cmd)
	default:
		row.Evidence += "; the gateway runs the same version"
	}
	return row
}

func (v *verifier) serviceRunning() Row {
	row := v.fromChecks(Row{Check: "Service running", Command: "systemctl status gatehouse", Expected: "active (running)"}, false, CheckSystemdActive)
	if row.Result == ResultSkip {
		if c, ok := v.rep.Check(CheckGatewayRunning); ok && c.Status == StatusPass {
			row.Reason += "; the gateway itself runs outside systemd (" + c.Reason + ")"
		}
	}
	return row
}

func (v *verifier) gatewayRunning() Row {
	row := Row{Check: "Gateway answering", Command: fmt.Sprintf("curl http://127.0.0.1:%d/healthz", v.port()), Expected: "200 OK"}
	c, ok := v.rep.Check(CheckGatewayRunning)
	switch {
	case !ok:
		row.Result, row.Reason = ResultSkip, "not run"
	case c.Status == StatusPass:
		row.Result, row.Evidence = ResultPass, cmpOr(c.Evidence, c.Reason)
		if c.Command != "" {
			row.Command = c.Command
		}
	case v.env == nil || v.env.cfg.Gateway.Remote.URL != "" || !probeable(v.env):
		row.Result, row.Reason = ResultSkip, c.Reason
	default:
		row.Result, row.Reason = ResultFail, c.Reason
	}
	return row
}

// probeable reports whether the audit can reach the configured gateway
// through loopback.
func probeable(e *configEnv) bool {
	switch e.cfg.Gateway.Bind {
	case "loopback", "lan":
		return true
	case "custom":
		h := e.cfg.Gateway.CustomBindHost
		return isLoopbackHost(h) || h == "0.0.0.0" || h == "::"
	}
	return false
}

func (v *verifier) auditRow() Row {
	s := v.rep.Summary
	row := Row{Check: "Security audit", Command: v.a.cmd + " security audit --deep", Expected: "0 critical, 0 warn",
		Evidence: fmt.Sprintf("%d critical, %d warn, %d info; %d checks, %d skipped", s.Critical, s.Warn, s.Info, s.Checks, s.Skipped)}
	if s.Critical == 0 && s.Warn == 0 {
		row.Result = ResultPass
		return row
	}
	var ids []string
	seen := map[string]bool{}
	for _, f := range v.rep.Findings {
		if f.Severity != SeverityInfo && !seen[f.CheckID] {
			seen[f.CheckID] = true
			ids = append(ids, f.CheckID)
		}
	}
	row.Result = ResultFail
	row.Reason = "findings: " + strings.Join(ids, ", ") + " (details: " + v.a.cmd + " security audit --deep)"
	return row
}

func (v *verifier) soulRow() Row {
	row := Row{Check: "SOUL.md locked", Command: "ls -la SOUL.md && " + v.a.cmd + " soul verify", Expected: "-r--r--r-- root, matching its sha256 baseline"}
	row = v.fromChecks(row, false, CheckSoulMissing, CheckSoulWritable, CheckSoulUnlocked, CheckSoulIntegrity)
	if row.Result == ResultPass {
		if c, ok := v.rep.Check(CheckSoulIntegrity); !ok || c.Status != StatusPass {
			row.Result, row.Reason = ResultFail, "no integrity baseline was verified: sudo "+v.a.cmd+" soul lock"
		}
	}
	return row
}

func (v *verifier) channelRow(ctx context.Context) Row {
	row := Row{Check: "Channel paired", Command: v.a.cmd + " pairing list CHANNEL", Expected: "an approved sender on every enabled channel (then send it a message: it answers)"}
	if v.env == nil {
		row.Result, row.Reason = ResultSkip, "the config could not be read"
		return row
	}
	var have, missing, errs []string
	for _, c := range channels(v.env.cfg.Channels) {
		if c.ch.Enabled != nil && !*c.ch.Enabled {
			continue
		}
		n := 0
		for _, id := range access.EffectiveDM(c.ch).AllowFrom {
			if id = strings.TrimSpace(id); id != "" && id != "*" {
				n++
			}
		}
		if v.o.ApprovedSenders != nil {
			k, err := v.o.ApprovedSenders(ctx, c.name)
			if err != nil {
				errs = append(errs, c.name+": "+err.Error())
			}
			n += k
		}
		if n > 0 {
			have = append(have, fmt.Sprintf("%s: %d", c.name, n))
		} else {
			missing = append(missing, c.name)
		}
	}
	row.Evidence = strings.Join(have, ", ")
	switch {
	case len(have) == 0 && len(missing) == 0:
		row.Result, row.Reason = ResultSkip, "no channel is enabled ("+v.a.cmd+" channels add)"
	case len(missing) > 0 && len(errs) > 0:
		row.Result, row.Reason = ResultSkip, "cannot read the approved senders: "+strings.Join(errs, "; ")
	case len(missing) > 0:
		row.Result = ResultFail
		row.Reason = fmt.Sprintf("no approved sender on %s: message the bot, then %s pairing approve CHANNEL CODE", strings.Join(missing, ", "), v.a.cmd)
	default:
		row.Result = ResultPass
	}
	return row
}

func (v *verifier) fail2ban(ctx context.Context) Row {
	row := Row{Check: "fail2ban (legacy)", Command: "sudo fail2ban-client status sshd", Expected: "optional: the sshd jail does nothing once sshd is off"}
	out, err := v.a.command(ctx, "fail2ban-client", "status", "sshd")
	switch {
	case errors.Is(err, ErrNotInstalled):
		row.Result, row.Reason = ResultSkip, "fail2ban not installed (optional in the seed guide)"
	case err != nil:
		row.Result, row.Reason = ResultSkip, "optional, and unreadable here: "+err.Error()
	default:
		row.Result, row.Evidence = ResultPass, firstLine(out)
	}
	return row
}
