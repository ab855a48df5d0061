package audit

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"gatehouse/internal/access"
	"gatehouse/internal/config"
	"gatehouse/internal/llm/providers"
	"gatehouse/internal/sandbox/backend"
	"gatehouse/internal/sandbox/docker"
	"gatehouse/internal/secret"
	"gatehouse/internal/tool"
)

// MinExposedSecretBits is the least entropy, in bits, of the secret of a
// gateway that listens beyond loopback: the gateway refuses to start with
// less (gateway.MinExposedSecretBits; a test keeps the two equal).
const MinExposedSecretBits = 128

// MaxTokenAge is how old the gateway token may get before the audit asks
// for a rotation, as the seed guides' rotation schedule does.
const MaxTokenAge = 90 * 24 * time.Hour

func (a *auditor) configChecks(ctx context.Context, r *results, e *configEnv) {
	a.checkGateway(r, e)
	a.checkChannels(r, e)
	a.checkTools(r, e)
	a.checkSandbox(r, e)
	a.checkModels(r, e)
	a.checkPlaintext(r, e)
}

// exposure describes where cfg's gateway listens, and whether that is
// beyond this host.
func exposure(cfg *config.Config) (exposed bool, where string) {
	g := cfg.Gateway
	switch g.Bind {
	case "loopback":
		return false, "127.0.0.1 (loopback)"
	case "lan":
		return true, "every address of this host (0.0.0.0)"
	case "tailnet":
		return true, "this host's Tailscale address"
	case "custom":
		ip, err := netip.ParseAddr(g.CustomBindHost)
		if err == nil && ip.Unmap().IsLoopback() {
			return false, g.CustomBindHost + " (loopback)"
		}
		return true, strconv.Quote(g.CustomBindHost)
	}
	return true, fmt.Sprintf("an unknown bind %q", g.Bind)
}

func (a *auditor) checkGateway(r *results, e *configEnv) {
	cfg := e.cfg
	g := cfg.Gateway
	exposed, where := exposure(cfg)

	// Bind.
	if exposed {
		sev := SeverityWarn
		if g.Bind == "tailnet" {
			sev = SeverityInfo
		}
		r.add(Finding{CheckID: CheckBindExposed, Subject: "gateway.bind", Severity: sev,
			Detail:      fmt.Sprintf("gateway.bind %q listens on %s; the seed guides keep the gateway on loopback and reach it through Tailscale", g.Bind, where),
			Remediation: a.cmd + " config set gateway.bind loopback (then reach it with tailscale serve or an SSH tunnel)"})
	} else {
		r.pass(CheckBindExposed, "listens on "+where)
	}

	// Auth mode.
	secretPath := "gateway.auth.token"
	s := g.Auth.Token
	switch g.Auth.Mode {
	case "token":
		r.pass(CheckAuthNone, "token auth")
		r.pass(CheckAuthPassword, "")
	case "password":
		r.pass(CheckAuthNone, "password auth")
		r.add(Finding{CheckID: CheckAuthPassword, Subject: "gateway.auth.mode", Severity: SeverityWarn,
			Detail:      "a chosen password is usually weaker than the random 256-bit token onboarding makes",
			Remediation: a.cmd + " config set gateway.auth.mode token, then " + a.cmd + " token rotate"})
		secretPath, s = "gateway.auth.password", g.Auth.Password
	default:
		r.add(Finding{CheckID: CheckAuthNone, Subject: "gateway.auth.mode", Severity: SeverityCritical,
			Detail:      fmt.Sprintf("gateway.auth.mode %q: every route but /healthz needs authentication, and the gateway refuses to start without it", g.Auth.Mode),
			Remediation: a.cmd + " config set gateway.auth.mode token, then " + a.cmd + " token rotate"})
		for _, id := range []string{CheckAuthPassword, CheckTokenUnresolved, CheckTokenWeak, CheckTokenPlaintext, CheckTokenEnv, CheckTokenAge} {
			r.skip(id, "gateway authentication is off")
		}
		s = config.Secret{}
	}
	if g.Auth.Mode == "token" || g.Auth.Mode == "password" {
		a.checkSecret(r, e, secretPath, s, exposed)
	}

	// Remote URL.
	if u, err := url.Parse(g.Remote.URL); g.Remote.URL != "" && err == nil && u.Scheme == "ws" && !isLoopbackHost(u.Hostname()) {
		r.add(Finding{CheckID: CheckRemoteInsecure, Subject: "gateway.remote.url", Severity: SeverityWarn,
			Detail:      fmt.Sprintf("%s is not encrypted: the RPC session to %s travels in the clear", u.Redacted(), u.Hostname()),
			Remediation: a.cmd + " config set gateway.remote.url wss://" + u.Host + u.Path})
	} else {
		r.pass(CheckRemoteInsecure, "")
	}

	// Control UI.
	if g.ControlUI.AllowInsecureAuth {
		detail := "browsers may log in with the token alone, without pairing a device key: anyone who intercepts the token gets full control"
		if !g.ControlUI.Enabled {
			detail += " (the control UI is disabled now, but the setting applies as soon as it is enabled)"
		}
		r.add(Finding{CheckID: CheckControlUIInsecure, Subject: "gateway.controlUi.allowInsecureAuth", Severity: SeverityCritical,
			Detail: detail, Remediation: a.cmd + " config set gateway.controlUi.allowInsecureAuth false", Fixable: e.file != nil})
	} else {
		r.pass(CheckControlUIInsecure, "")
	}

	// OpenAI-compatible API.
	if g.HTTP.OpenAI.Enabled {
		f := Finding{CheckID: CheckOpenAIAPI, Subject: "gateway.http.openai.enabled", Severity: SeverityInfo,
			Detail:      "/v1/chat/completions and /v1/models answer behind the gateway token on loopback",
			Remediation: a.cmd + " config set gateway.http.openai.enabled false"}
		if exposed {
			f.Severity = SeverityWarn
			f.Detail = "/v1/chat/completions and /v1/models answer on " + where + ": anyone who can reach the port can try the token against the agent"
		}
		r.add(f)
	} else {
		r.pass(CheckOpenAIAPI, "off")
	}

	if m := cfg.Discovery.MDNS.Mode; m != "off" {
		r.add(Finding{CheckID: CheckMDNS, Subject: "discovery.mdns.mode", Severity: SeverityWarn,
			Detail:      fmt.Sprintf("discovery.mdns.mode %q: Gatehouse never advertises itself, but the setting reads as if it did and would if a future version honoured it", m),
			Remediation: a.cmd + " config set discovery.mdns.mode off", Fixable: e.file != nil})
	} else {
		r.pass(CheckMDNS, "off")
	}
	if cfg.Logging.RedactSensitive == "off" {
		r.add(Finding{CheckID: CheckRedaction, Subject: "logging.redactSensitive", Severity: SeverityWarn,
			Detail:      "credential patterns in tool output summaries reach the logs and transcripts unredacted (known secrets are always removed)",
			Remediation: a.cmd + " config set logging.redactSensitive tools", Fixable: e.file != nil})
	} else {
		r.pass(CheckRedaction, "redactSensitive "+cfg.Logging.RedactSensitive)
	}
}

// checkSecret checks the gateway's token or password.
func (a *auditor) checkSecret(r *results, e *configEnv, path string, s config.Secret, exposed bool) {
	remedy := a.cmd + " token rotate"
	if path == "gateway.auth.password" {
		remedy = a.cmd + " config set gateway.auth.mode token, then " + a.cmd + " token rotate"
	}
	skipRest := func(reason string) {
		r.skip(CheckTokenWeak, reason)
		r.skip(CheckTokenAge, reason)
	}
	switch {
	case s.IsZero():
		r.add(Finding{CheckID: CheckTokenUnresolved, Subject: path, Severity: SeverityCritical,
			Detail: path + " is not set: the gateway will not start", Remediation: a.cmd + " onboard --non-interactive"})
		r.pass(CheckTokenPlaintext, "")
		r.pass(CheckTokenEnv, "")
		skipRest(path + " is not set")
		return
	case s.IsPlaintext():
		r.add(Finding{CheckID: CheckTokenPlaintext, Subject: path, Severity: SeverityWarn,
			Detail:      path + " is written in the config file itself; the secret store keeps it encrypted at rest",
			Remediation: a.cmd + " secrets migrate"})
		r.pass(CheckTokenEnv, "")
	case s.Env != "":
		r.pass(CheckTokenPlaintext, "")
		r.add(Finding{CheckID: CheckTokenEnv, Subject: path, Severity: SeverityInfo,
			Detail:      fmt.Sprintf("%s comes from ${%s}; environment variables are visible to the gateway's child processes' parents and in /proc to the same user", path, s.Env),
			Remediation: a.cmd + " secrets migrate"})
	default:
		r.pass(CheckTokenPlaintext, "in the secret store")
		r.pass(CheckTokenEnv, "")
	}
	val, err := s.Resolve(e.lookup, a.lookup)
	if err != nil {
		r.add(Finding{CheckID: CheckTokenUnresolved, Subject: path, Severity: SeverityCritical,
			Detail:      fmt.Sprintf("%s cannot be read (%v): the gateway will not start and the CLI cannot authenticate", path, err),
			Remediation: a.cmd + " doctor, then " + a.cmd + " token rotate"})
		skipRest(path + " cannot be read")
		return
	}
	r.pass(CheckTokenUnresolved, "")
	bits := secret.EstimateBits(val)
	if bits < MinExposedSecretBits {
		f := Finding{CheckID: CheckTokenWeak, Subject: path, Severity: SeverityWarn,
			Detail:      fmt.Sprintf("%s has about %d bits (%d characters); at least %d are wanted, and the gateway refuses a non-loopback bind with less", path, bits, len([]rune(val)), MinExposedSecretBits),
			Remediation: remedy}
		if exposed {
			f.Severity = SeverityCritical
			f.Detail = fmt.Sprintf("%s has about %d bits (%d characters) while the gateway listens beyond loopback: it can be guessed, and the gateway refuses to start like this", path, bits, len([]rune(val)))
		}
		r.add(f)
	} else {
		r.pass(CheckTokenWeak, fmt.Sprintf("about %d bits", bits))
	}
	a.checkTokenAge(r, path, s)
}

// checkTokenAge bounds the token's age. The secret store keeps no dates:
// its file's modification time is the last change of any secret, so the
// token is at least that old, and exactly that old only if it was the
// last secret set.
func (a *auditor) checkTokenAge(r *results, path string, s config.Secret) {
	if t := a.opts.TokenSetAt; !t.IsZero() {
		age := a.now.Sub(t)
		if age > MaxTokenAge {
			r.add(Finding{CheckID: CheckTokenAge, Subject: path, Severity: SeverityWarn,
				Detail: fmt.Sprintf("%s was set %d days ago; rotate it every 90 days", path, days(age)), Remediation: a.cmd + " token rotate"})
			return
		}
		r.pass(CheckTokenAge, fmt.Sprintf("set %d days ago", days(age)))
		return
	}
	var where string
	switch {
	case s.Ref != "":
		where = a.dir.Secrets()
	case s.IsPlaintext():
		where = a.dir.Config()
	default:
		r.skip(CheckTokenAge, "the token comes from the environment, whose age the audit cannot see")
		return
	}
	fi, err := os.Stat(where)
	if err != nil {
		r.skip(CheckTokenAge, "cannot read "+where+": "+err.Error())
		return
	}
	age := a.now.Sub(fi.ModTime())
	if age > MaxTokenAge {
		r.add(Finding{CheckID: CheckTokenAge, Subject: path, Severity: SeverityWarn,
			Detail:      fmt.Sprintf("%s has not changed in %d days, so the token is at least that old; rotate it every 90 days", where, days(age)),
			Remediation: a.cmd + " token rotate"})
		return
	}
	r.skip(CheckTokenAge, fmt.Sprintf("age unknown: %s changed %d days ago, so the token is at least that old, but it may be older", where, days(age)))
}

func days(d time.Duration) int { return int(d / (24 * time.Hour)) }

// isLoopbackHost reports whether host is localhost or a loopback address.
func isLoopbackHost(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(strings.Trim(h, "[]"))
	return err == nil && ip.Unmap().IsLoopback()
}

// channels lists the configured channels by name, in a stable order.
func channels(c config.Channels) []struct {
	name string
	ch   *config.Channel
} {
	var out []struct {
		name string
		ch   *config.Channel
	}
	for _, x := range []struct {
		name string
		ch   *config.Channel
	}{{"telegram", c.Telegram}, {"discord", c.Discord}, {"slack", c.Slack}, {"webchat", c.Webchat}} {
		if x.ch != nil {
			out = append(out, x)
		}
	}
	return out
}

func (a *auditor) checkChannels(r *results, e *configEnv) {
	ids := []string{CheckDMPolicyOpen, CheckGroupPolicyOpen, CheckAllowFromWildcard, CheckAllowFromMutable, CheckConfigWrites, CheckChannelAccess}
	list := channels(e.cfg.Channels)
	for _, id := range ids {
		if len(list) == 0 {
			r.pass(id, "no channel is configured")
		} else {
			r.pass(id, "")
		}
	}
	for _, c := range list {
		disabled := c.ch.Enabled != nil && !*c.ch.Enabled
		base := "channels." + c.name
		for _, p := range access.Validate(c.name, c.ch) {
			f := Finding{Subject: p.Path, Severity: Severity(p.Severity), Detail: p.Message}
			rel := strings.TrimPrefix(p.Path, base)
			dm := access.EffectiveDM(c.ch)
			switch entry, isEntry := allowEntry(c.ch, rel); {
			case (rel == ".dmPolicy" || rel == ".dm.policy") && dm.Policy == "open":
				f.CheckID = CheckDMPolicyOpen
				f.Remediation = a.cmd + " config set " + base + rel + " pairing"
			case rel == ".groupPolicy" && c.ch.GroupPolicy == "open":
				f.CheckID = CheckGroupPolicyOpen
				f.Remediation = a.cmd + " config set " + base + ".groupPolicy allowlist (then list the groups in " + base + ".groups)"
				f.Fixable = e.file != nil
			case rel == ".configWrites":
				f.CheckID = CheckConfigWrites
				f.Remediation = a.cmd + " config set " + base + ".configWrites false"
				f.Fixable = e.file != nil
			case isEntry && entryID(c.name, entry) == "*":
				f.CheckID = CheckAllowFromWildcard
				f.Remediation = "remove \"*\" and list user ids: " + a.cmd + " config set " + listPath(p.Path) + " '[\"ID\"]'"
			case isEntry && strings.HasPrefix(entryID(c.name, entry), "@"):
				f.CheckID = CheckAllowFromMutable
				f.Remediation = "replace it with the numeric user id: " + a.cmd + " config set " + listPath(p.Path) + " '[\"ID\"]'"
			default:
				f.CheckID = CheckChannelAccess
				f.Remediation = "edit " + p.Path + " as the detail says: " + a.cmd + " config set " + p.Path + " VALUE"
			}
			if disabled && f.Severity != SeverityInfo {
				f.Severity = SeverityInfo
				f.Detail += " (the channel is disabled; this applies once it is enabled)"
			}
			r.add(f)
		}
	}
}

// listPath is the list a path like channels.x.allowFrom[2] indexes.
func listPath(p string) string {
	if i := strings.LastIndex(p, "["); i > 0 {
		return p[:i]
	}
	return p
}

// allowEntry returns the allowFrom entry that rel (a path relative to the
// channel, such as .allowFrom[0] or .guilds.123.channels.456.allowFrom[1])
// names in ch.
func allowEntry(ch *config.Channel, rel string) (string, bool) {
	open, close := strings.LastIndex(rel, "["), strings.LastIndex(rel, "]")
	if open < 0 || close != len(rel)-1 {
		return "", false
	}
	i, err := strconv.Atoi(rel[open+1 : close])
	if err != nil || i < 0 {
		return "", false
	}
	segs := strings.Split(strings.TrimPrefix(rel[:open], "."), ".")
	var list []string
	switch {
	case len(segs) == 1 && segs[0] == "allowFrom":
		list = ch.AllowFrom
	case len(segs) == 2 && segs[0] == "dm" && segs[1] == "allowFrom" && ch.DM != nil:
		list = ch.DM.AllowFrom
	case len(segs) >= 3 && (segs[0] == "groups" || segs[0] == "guilds") && segs[len(segs)-1] == "allowFrom":
		m := ch.Groups
		if segs[0] == "guilds" {
			m = ch.Guilds
		}
		rule, ok := m[segs[1]]
		if !ok {
			return "", false
		}
		rest := segs[2 : len(segs)-1]
		for len(rest) >= 2 && rest[0] == "channels" {
			if rule, ok = rule.Channels[rest[1]]; !ok {
				return "", false
			}
			rest = rest[2:]
		}
		if len(rest) != 0 {
			return "", false
		}
		list = rule.AllowFrom
	}
	if i >= len(list) {
		return "", false
	}
	return list[i], true
}

// entryID is the sender id an allowFrom entry names, without its
// "channel:" prefix.
func entryID(channel, entry string) string {
	e := strings.TrimSpace(entry)
	if prefix, rest, ok := strings.Cut(e, ":"); ok && strings.EqualFold(strings.TrimSpace(prefix), channel) {
		return strings.TrimSpace(rest)
	}
	return e
}

func (a *auditor) checkTools(r *results, e *configEnv) {
	cfg := e.cfg
	sb := cfg.Agents.Defaults.Sandbox
	el := cfg.Tools.Elevated
	execAllowed := tool.NewPolicy(cfg, tool.DefaultAgentID).Allows(tool.NameExec)

	if sb.Mode == "off" && execAllowed && el.Enabled {
		r.add(Finding{CheckID: CheckExecUnsandboxed, Subject: "agents.defaults.sandbox.mode", Severity: SeverityCritical,
			Detail:      "tools.profile allows exec, the sandbox is off and elevated execution is on: every command the agent runs executes on this host, stopped only by the owner's approval",
			Remediation: a.cmd + " config set agents.defaults.sandbox.mode all"})
	} else {
		r.pass(CheckExecUnsandboxed, "")
	}

	if !el.Enabled {
		r.pass(CheckElevatedEnabled, "off")
		r.pass(CheckElevatedWildcard, "")
		r.pass(CheckElevatedNoAllow, "")
		return
	}
	r.add(Finding{CheckID: CheckElevatedEnabled, Subject: "tools.elevated.enabled", Severity: SeverityInfo,
		Detail:      "the agent may ask to run commands on this host; each one waits for the owner's approval",
		Remediation: a.cmd + " config set tools.elevated.enabled false"})
	ids := 0
	for _, ch := range sortedKeys(el.AllowFrom) {
		for i, id := range el.AllowFrom[ch] {
			id = strings.TrimSpace(id)
			if id == "" {
				continue
			}
			ids++
			if id == "*" {
				r.add(Finding{CheckID: CheckElevatedWildcard, Subject: fmt.Sprintf("tools.elevated.allowFrom.%s[%d]", ch, i), Severity: SeverityCritical,
					Detail:      fmt.Sprintf(`"*" lets every sender on %s ask for host commands; the owner's approval is then the only barrier`, ch),
					Remediation: a.cmd + " config set tools.elevated.allowFrom." + ch + ` '["YOUR_ID"]'`})
			}
		}
	}
	if ids == 0 {
		r.add(Finding{CheckID: CheckElevatedNoAllow, Subject: "tools.elevated.allowFrom", Severity: SeverityWarn,
			Detail:      "elevated execution is on but no sender may use it; turn it off or list your own user id",
			Remediation: a.cmd + " config set tools.elevated.enabled false"})
	} else {
		r.pass(CheckElevatedNoAllow, "")
	}
	r.pass(CheckElevatedWildcard, "")
}

func (a *auditor) checkSandbox(r *results, e *configEnv) {
	cfg := e.cfg
	sb := cfg.Agents.Defaults.Sandbox
	const p = "agents.defaults.sandbox"
	settings := []string{CheckSandboxNetwork, CheckSandboxRootRW, CheckSandboxWorkspaceRW, CheckSandboxLimits,
		CheckSandboxBindDanger, CheckSandboxBindInvalid, CheckSandboxBindRW, CheckSandboxWaived, CheckSandboxShared, CheckSandboxUserRoot}
	if sb.Mode == "off" {
		r.add(Finding{CheckID: CheckSandboxOff, Subject: p + ".mode", Severity: SeverityWarn,
			Detail:      "nothing the agent runs is isolated; exec exists only as an elevated command on the host",
			Remediation: a.cmd + " config set " + p + ".mode all"})
		for _, id := range settings {
			r.skip(id, "the sandbox is off")
		}
		return
	}
	r.pass(CheckSandboxOff, "mode "+sb.Mode)
	name := backend.Name(sb)

	if name == "docker" && sb.Docker.Network != "none" && sb.Docker.Network != "" {
		r.add(Finding{CheckID: CheckSandboxNetwork, Subject: p + ".docker.network", Severity: SeverityWarn,
			Detail:      fmt.Sprintf("sandbox containers join network %q: a command can reach the network directly, around the egress guard", sb.Docker.Network),
			Remediation: a.cmd + " config set " + p + ".docker.network none"})
	} else {
		r.pass(CheckSandboxNetwork, name+" backend: no network")
	}
	if name == "docker" && !sb.Docker.ReadOnlyRoot {
		r.add(Finding{CheckID: CheckSandboxRootRW, Subject: p + ".docker.readOnlyRoot", Severity: SeverityWarn,
			Detail:      "sandbox containers can change their own root filesystem, which persists for the container's life",
			Remediation: a.cmd + " config set " + p + ".docker.readOnlyRoot true"})
	} else {
		r.pass(CheckSandboxRootRW, "")
	}
	if sb.WorkspaceAccess == "rw" {
		r.add(Finding{CheckID: CheckSandboxWorkspaceRW, Subject: p + ".workspaceAccess", Severity: SeverityWarn,
			Detail:      "sandboxed commands can rewrite the workspace, AGENTS.md and MEMORY.md included, which shape every later conversation",
			Remediation: a.cmd + " config set " + p + ".workspaceAccess ro"})
	} else {
		r.pass(CheckSandboxWorkspaceRW, "workspace "+sb.WorkspaceAccess)
	}

	// Limits: the schema refuses zero for all but cpus; a config read
	// leniently may still hold zeros.
	l := sb.Limits
	missing := []struct {
		key string
		bad bool
	}{
		{"memoryMb", l.MemoryMB <= 0}, {"pids", l.Pids <= 0}, {"cpuSeconds", l.CPUSeconds <= 0},
		{"openFiles", l.OpenFiles <= 0}, {"fileSizeMb", l.FileSizeMB <= 0}, {"tmpfsMb", l.TmpfsMB <= 0},
		{"timeoutSeconds", l.TimeoutSeconds <= 0}, {"cpus", name == "docker" && l.CPUs <= 0},
	}
	n := 0
	for _, m := range missing {
		if !m.bad {
			continue
		}
		n++
		r.add(Finding{CheckID: CheckSandboxLimits, Subject: p + ".limits." + m.key, Severity: SeverityWarn,
			Detail:      fmt.Sprintf("%s.limits.%s is unset or zero: one command can take as much as the host gives", p, m.key),
			Remediation: a.cmd + " config unset " + p + ".limits." + m.key + " (restores the default)", Fixable: e.file != nil})
	}
	if n == 0 {
		r.pass(CheckSandboxLimits, fmt.Sprintf("memory %d MiB, %d processes, %d s CPU, timeout %d s", l.MemoryMB, l.Pids, l.CPUSeconds, l.TimeoutSeconds))
	}

	// Binds.
	for i, b := range sb.Docker.Binds {
		subject := fmt.Sprintf("%s.docker.binds[%d]", p, i)
		bind, err := docker.ParseBind(b, a.home, a.dir.Root)
		switch {
		case errors.Is(err, docker.ErrSensitiveBind):
			r.add(Finding{CheckID: CheckSandboxBindDanger, Subject: subject, Severity: SeverityCritical,
				Detail:      err.Error() + ": a sandboxed command could read or change it",
				Remediation: "remove it: " + a.cmd + " config set " + p + ".docker.binds '[...]' without " + strconv.Quote(b)})
		case err != nil:
			r.add(Finding{CheckID: CheckSandboxBindInvalid, Subject: subject, Severity: SeverityWarn,
				Detail:      err.Error() + ": the docker sandbox refuses to start with it",
				Remediation: "correct or remove it in " + p + ".docker.binds"})
		case !bind.ReadOnly:
			r.add(Finding{CheckID: CheckSandboxBindRW, Subject: subject, Severity: SeverityWarn,
				Detail:      fmt.Sprintf("%s is mounted read-write at %s", bind.Source, bind.Target),
				Remediation: "make it read-only: replace " + strconv.Quote(b) + " with " + strconv.Quote(strings.TrimSuffix(b, ":rw")+":ro") + " in " + p + ".docker.binds"})
		}
	}
	r.pass(CheckSandboxBindDanger, "")
	r.pass(CheckSandboxBindInvalid, "")
	r.pass(CheckSandboxBindRW, "")

	for i, l := range sb.Native.AllowWithout {
		r.add(Finding{CheckID: CheckSandboxWaived, Subject: fmt.Sprintf("%s.native.allowWithout[%d]", p, i), Severity: SeverityWarn,
			Detail:      fmt.Sprintf("the native sandbox runs without %s when this host cannot apply it", l),
			Remediation: a.cmd + " config unset " + p + ".native.allowWithout"})
	}
	r.pass(CheckSandboxWaived, "")
	if sb.Scope == "shared" {
		r.add(Finding{CheckID: CheckSandboxShared, Subject: p + ".scope", Severity: SeverityInfo,
			Detail:      "every session's commands run in one sandbox: files one conversation's commands leave are visible to the next",
			Remediation: a.cmd + " config set " + p + ".scope session"})
	} else {
		r.pass(CheckSandboxShared, "scope "+sb.Scope)
	}
	if u, _, _ := strings.Cut(strings.TrimSpace(sb.Docker.User), ":"); u == "0" || u == "root" {
		r.add(Finding{CheckID: CheckSandboxUserRoot, Subject: p + ".docker.user", Severity: SeverityCritical,
			Detail:      "sandboxed commands would run as root inside the container",
			Remediation: a.cmd + " config set " + p + ".docker.user 65534:65534"})
	} else {
		r.pass(CheckSandboxUserRoot, "")
	}
}

func (a *auditor) checkModels(r *results, e *configEnv) {
	cfg := e.cfg
	m := cfg.Agents.Defaults.Model
	b := cfg.Agents.Defaults.Budget
	if b.DailyUSD <= 0 && b.DailyTokens <= 0 {
		f := Finding{CheckID: CheckBudgetUnset, Subject: "agents.defaults.budget", Severity: SeverityInfo,
			Detail:      "no daily spend limit; none is needed until a model is configured",
			Remediation: a.cmd + " config set agents.defaults.budget.dailyUsd 5"}
		if m.Primary != "" {
			f.Severity = SeverityWarn
			f.Detail = "no daily spend limit: a runaway loop or a stranger who reaches the agent can run up the provider bill"
		}
		r.add(f)
	} else {
		r.pass(CheckBudgetUnset, fmt.Sprintf("dailyUsd %g, dailyTokens %d", b.DailyUSD, b.DailyTokens))
	}

	refs := []struct{ path, ref string }{}
	if m.Primary != "" {
		refs = append(refs, struct{ path, ref string }{"agents.defaults.model.primary", m.Primary})
	}
	for i, f := range m.Fallbacks {
		refs = append(refs, struct{ path, ref string }{fmt.Sprintf("agents.defaults.model.fallbacks[%d]", i), f})
	}
	if len(refs) == 0 {
		r.pass(CheckModelUnconfigured, "no model is configured")
		return
	}
	status := map[string]providers.Status{}
	for _, s := range providers.Describe(cfg, e.lookup, a.lookup) {
		status[s.Provider] = s
	}
	for _, x := range refs {
		prov, _, _ := strings.Cut(x.ref, "/")
		st, ok := status[prov]
		if ok && st.Configured {
			continue
		}
		detail := fmt.Sprintf("%s %q needs provider %q, which is not configured", x.path, x.ref, prov)
		if st.Error != "" {
			detail += ": " + st.Error
		}
		if strings.Contains(x.path, "fallbacks") {
			detail += "; the failover would fail when it is needed"
		}
		r.add(Finding{CheckID: CheckModelUnconfigured, Subject: x.path, Severity: SeverityWarn, Detail: detail,
			Remediation: a.cmd + " models status, then store its key: " + a.cmd + " secrets set models.providers." + prov + ".apiKey"})
	}
	r.pass(CheckModelUnconfigured, "")
}

func (a *auditor) checkPlaintext(r *results, e *configEnv) {
	for _, p := range e.cfg.PlaintextSecrets() {
		if p == "gateway.auth.token" || p == "gateway.auth.password" {
			continue // CheckTokenPlaintext
		}
		r.add(Finding{CheckID: CheckPlaintextSecrets, Subject: p, Severity: SeverityWarn,
			Detail:      p + " is written in the config file itself; the secret store keeps it encrypted at rest",
			Remediation: a.cmd + " secrets migrate"})
	}
	r.pass(CheckPlaintextSecrets, "")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// hostPort joins host and port for a URL.
func hostPort(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }
