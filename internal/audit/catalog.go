package audit

// Check is one entry of the catalog: what a check looks at, how bad its
// findings can be, and how to fix them.
type Check struct {
	// ID is stable: scripts, the gateway's self-audit and earlier reports
	// refer to it. An ID is never reused for another meaning.
	ID string `json:"checkId"`
	// Category is config, filesystem, gateway (probes of the running
	// gateway) or host.
	Category string `json:"category"`
	// Severity is the highest severity the check reports. Some findings
	// are graded lower by their context; Finding.Severity is exact.
	Severity Severity `json:"severity"`
	Title    string   `json:"title"`
	// Remediation is the command that fixes a finding, with <placeholders>
	// that each finding fills in.
	Remediation string `json:"remediation"`
	// Fixable reports that Options.Fix repairs the check's findings (for
	// fs.owner: only when the audit runs as root).
	Fixable bool `json:"fixable"`
	// Deep reports that the check runs only with Options.Deep.
	Deep bool `json:"deep"`
}

// Check IDs. The catalog ([Catalog]) describes each.
const (
	CheckConfigMissing    = "config.missing"
	CheckConfigInvalid    = "config.invalid"
	CheckConfigUnreadable = "config.unreadable"

	CheckBindExposed        = "gateway.bind.exposed"
	CheckAuthNone           = "gateway.auth.none"
	CheckAuthPassword       = "gateway.auth.password"
	CheckTokenUnresolved    = "gateway.token.unresolved"
	CheckTokenWeak          = "gateway.token.weak"
	CheckTokenPlaintext     = "gateway.token.plaintext"
	CheckTokenEnv           = "gateway.token.env"
	CheckTokenAge           = "gateway.token.age"
	CheckRemoteInsecure     = "gateway.remote.insecure"
	CheckControlUIInsecure  = "gateway.controlUi.insecureAuth"
	CheckOpenAIAPI          = "gateway.openai.enabled"
	CheckMDNS               = "discovery.mdns"
	CheckRedaction          = "logging.redaction"
	CheckDMPolicyOpen       = "channel.dmPolicy.open"
	CheckGroupPolicyOpen    = "channel.groupPolicy.open"
	CheckAllowFromWildcard  = "channel.allowFrom.wildcard"
	CheckAllowFromMutable   = "channel.allowFrom.mutable"
	CheckConfigWrites       = "channel.configWrites"
	CheckChannelAccess      = "channel.access"
	CheckExecUnsandboxed    = "tools.exec.unsandboxed"
	CheckElevatedEnabled    = "tools.elevated.enabled"
	CheckElevatedWildcard   = "tools.elevated.wildcard"
	CheckElevatedNoAllow    = "tools.elevated.allowFrom.empty"
	CheckSandboxOff         = "sandbox.off"
	CheckSandboxNetwork     = "sandbox.network"
	CheckSandboxRootRW      = "sandbox.readOnlyRoot"
	CheckSandboxWorkspaceRW = "sandbox.workspaceAccess.rw"
	CheckSandboxLimits      = "sandbox.limits"
	CheckSandboxBindDanger  = "sandbox.binds.dangerous"
	CheckSandboxBindInvalid = "sandbox.binds.invalid"
	CheckSandboxBindRW      = "sandbox.binds.rw"
	CheckSandboxWaived      = "sandbox.layers.waived"
	CheckSandboxShared      = "sandbox.scope.shared"
	CheckSandboxUserRoot    = "sandbox.user.root"
	CheckBudgetUnset        = "budget.unset"
	CheckModelUnconfigured  = "models.unconfigured"
	CheckPlaintextSecrets   = "secrets.plaintext"

	CheckStateDirMissing   = "fs.stateDir.missing"
	CheckStateDirMode      = "fs.stateDir.mode"
	CheckConfigMode        = "fs.config.mode"
	CheckDatabaseMode      = "fs.database.mode"
	CheckSecretsMode       = "fs.secrets.mode"
	CheckLogsMode          = "fs.logs.mode"
	CheckWorkspaceMode     = "fs.workspace.mode"
	CheckOtherMode         = "fs.mode"
	CheckOwner             = "fs.owner"
	CheckSymlinkOutside    = "fs.symlink.outside"
	CheckUnreadable        = "fs.unreadable"
	CheckWorkspaceWritable = "workspace.writable"
	CheckSoulMissing       = "soul.missing"
	CheckSoulWritable      = "soul.writable"
	CheckSoulUnlocked      = "soul.unlocked"
	CheckSoulIntegrity     = "soul.integrity"

	CheckGatewayRunning  = "gateway.running"
	CheckProbeUnauth     = "probe.unauthenticated"
	CheckProbeHost       = "probe.hostHeader"
	CheckProbeWSOrigin   = "probe.ws.origin"
	CheckProbeWSUnauth   = "probe.ws.unauthenticated"
	CheckProbeLockout    = "probe.lockout"
	CheckListen          = "net.listen"
	CheckSandboxLayers   = "sandbox.layers"
	CheckFirewall        = "host.firewall"
	CheckDockerUser      = "host.dockerUser"
	CheckSystemdScore    = "host.systemd.score"
	CheckSystemdActive   = "host.systemd.active"
	CheckTailscaleFunnel = "host.tailscale.funnel"
	CheckServiceUser     = "host.service.user"
)

// Catalog returns every check, in the order reports list them. The slice
// is new on each call.
func Catalog() []Check {
	const (
		cfg  = "config"
		fsys = "filesystem"
		gw   = "gateway"
		host = "host"
	)
	return []Check{
		{CheckConfigMissing, cfg, SeverityWarn, "No config file: Gatehouse is not set up in this state directory", "<cmd> onboard --non-interactive", false, false},
		{CheckConfigUnreadable, cfg, SeverityCritical, "The config file cannot be read or parsed, so the gateway cannot start and its settings cannot be audited", "<cmd> config validate, then fix the file at the position shown", false, false},
		{CheckConfigInvalid, cfg, SeverityWarn, "The config file fails validation; it was audited as far as it could be read", "<cmd> config validate, then correct each key it names", false, false},

		{CheckBindExposed, cfg, SeverityWarn, "The gateway listens beyond loopback", "<cmd> config set gateway.bind loopback (reach it through Tailscale Serve or an SSH tunnel)", false, false},
		{CheckAuthNone, cfg, SeverityCritical, "Gateway authentication is off", "<cmd> config set gateway.auth.mode token, then <cmd> token rotate", false, false},
		{CheckAuthPassword, cfg, SeverityWarn, "The gateway uses a chosen password instead of a random token", "<cmd> config set gateway.auth.mode token, then <cmd> token rotate", false, false},
		{CheckTokenUnresolved, cfg, SeverityCritical, "The gateway secret is not set or cannot be read", "<cmd> onboard --non-interactive (or <cmd> token rotate)", false, false},
		{CheckTokenWeak, cfg, SeverityCritical, "The gateway secret is weak or short (under 128 bits); critical when the gateway listens beyond loopback", "<cmd> token rotate", false, false},
		{CheckTokenPlaintext, cfg, SeverityWarn, "The gateway secret is written in plaintext in the config instead of the secret store", "<cmd> secrets migrate", false, false},
		{CheckTokenEnv, cfg, SeverityInfo, "The gateway secret comes from an environment variable", "<cmd> secrets migrate (the secret store keeps it encrypted at rest)", false, false},
		{CheckTokenAge, cfg, SeverityWarn, "The gateway token is older than 90 days", "<cmd> token rotate", false, false},
		{CheckRemoteInsecure, cfg, SeverityWarn, "gateway.remote.url is an unencrypted ws:// URL to another host", "<cmd> config set gateway.remote.url wss://HOST/ws", false, false},
		{CheckControlUIInsecure, cfg, SeverityCritical, "gateway.controlUi.allowInsecureAuth allows token-only browser login without device pairing", "<cmd> config set gateway.controlUi.allowInsecureAuth false", true, false},
		{CheckOpenAIAPI, cfg, SeverityWarn, "The OpenAI-compatible API is on: a third door into the agent (warn when the gateway listens beyond loopback)", "<cmd> config set gateway.http.openai.enabled false", false, false},
		{CheckMDNS, cfg, SeverityWarn, "Discovery (mDNS) is not off", "<cmd> config set discovery.mdns.mode off", true, false},
		{CheckRedaction, cfg, SeverityWarn, "Redaction of credentials in tool output is off", "<cmd> config set logging.redactSensitive tools", true, false},
		{CheckDMPolicyOpen, cfg, SeverityCritical, "A channel's DM policy is open: anyone can talk to the agent", "<cmd> config set channels.<channel>.dmPolicy pairing", false, false},
		{CheckGroupPolicyOpen, cfg, SeverityCritical, "A channel's group policy is open: any group can talk to the agent", "<cmd> config set channels.<channel>.groupPolicy allowlist", true, false},
		{CheckAllowFromWildcard, cfg, SeverityCritical, `An allowFrom list holds "*"; critical with an open policy`, "remove the \"*\" entry and list user ids: <cmd> config set channels.<channel>.allowFrom '[\"ID\"]'", false, false},
		{CheckAllowFromMutable, cfg, SeverityCritical, "An allowFrom entry is a username, which can change hands, instead of a numeric user id", "replace it with the numeric id: <cmd> config set channels.<channel>.allowFrom '[\"ID\"]'", false, false},
		{CheckConfigWrites, cfg, SeverityWarn, "A channel has configWrites true", "<cmd> config set channels.<channel>.configWrites false", true, false},
		{CheckChannelAccess, cfg, SeverityCritical, "A channel's access settings do not work as written", "<cmd> config set channels.<channel>.<key> as the finding says", false, false},
		{CheckExecUnsandboxed, cfg, SeverityCritical, "The exec tool is allowed with the sandbox off: every command runs on the host", "<cmd> config set agents.defaults.sandbox.mode all", false, false},
		{CheckElevatedEnabled, cfg, SeverityInfo, "Elevated (host) execution is on, behind the owner's approval", "<cmd> config set tools.elevated.enabled false", false, false},
		{CheckElevatedWildcard, cfg, SeverityCritical, `tools.elevated.allowFrom holds "*": any sender may ask for host commands`, "<cmd> config set tools.elevated.allowFrom.<channel> '[\"YOUR_ID\"]' (or tools.elevated.enabled false)", false, false},
		{CheckElevatedNoAllow, cfg, SeverityWarn, "Elevated execution is on but tools.elevated.allowFrom names nobody", "<cmd> config set tools.elevated.enabled false, or list your own id in tools.elevated.allowFrom.<channel>", false, false},
		{CheckSandboxOff, cfg, SeverityWarn, "The sandbox is off", "<cmd> config set agents.defaults.sandbox.mode all", false, false},
		{CheckSandboxNetwork, cfg, SeverityWarn, "Sandbox containers have a network", "<cmd> config set agents.defaults.sandbox.docker.network none", false, false},
		{CheckSandboxRootRW, cfg, SeverityWarn, "Sandbox containers have a writable root filesystem", "<cmd> config set agents.defaults.sandbox.docker.readOnlyRoot true", false, false},
		{CheckSandboxWorkspaceRW, cfg, SeverityWarn, "The sandbox can write the workspace (SOUL.md, AGENTS.md and memory included)", "<cmd> config set agents.defaults.sandbox.workspaceAccess ro", false, false},
		{CheckSandboxLimits, cfg, SeverityWarn, "A sandbox resource limit is missing", "<cmd> config unset agents.defaults.sandbox.limits.<limit>", true, false},
		{CheckSandboxBindDanger, cfg, SeverityCritical, "A sandbox bind mounts a sensitive host path", "<cmd> config unset agents.defaults.sandbox.docker.binds", false, false},
		{CheckSandboxBindInvalid, cfg, SeverityWarn, "A sandbox bind is invalid and stops the sandbox from starting", "correct or remove it: <cmd> config set agents.defaults.sandbox.docker.binds '[...]'", false, false},
		{CheckSandboxBindRW, cfg, SeverityWarn, "A sandbox bind is writable", "mount it read-only: append :ro to the bind in agents.defaults.sandbox.docker.binds", false, false},
		{CheckSandboxWaived, cfg, SeverityWarn, "The native sandbox may run without an isolation layer", "<cmd> config unset agents.defaults.sandbox.native.allowWithout", false, false},
		{CheckSandboxShared, cfg, SeverityInfo, "Sandboxes are shared between sessions", "<cmd> config set agents.defaults.sandbox.scope session", false, false},
		{CheckSandboxUserRoot, cfg, SeverityCritical, "Sandboxed commands would run as root", "<cmd> config set agents.defaults.sandbox.docker.user 65534:65534", false, false},
		{CheckBudgetUnset, cfg, SeverityWarn, "No daily spend limit (warn once a model is configured)", "<cmd> config set agents.defaults.budget.dailyUsd 5", false, false},
		{CheckModelUnconfigured, cfg, SeverityWarn, "A model refers to a provider that is not configured", "<cmd> models status, then configure the provider or remove the model", false, false},
		{CheckPlaintextSecrets, cfg, SeverityWarn, "A secret is written in plaintext in the config", "<cmd> secrets migrate", false, false},

		{CheckStateDirMissing, fsys, SeverityWarn, "The state directory does not exist", "<cmd> onboard --non-interactive", false, false},
		{CheckStateDirMode, fsys, SeverityWarn, "The state directory is open to group or others", "chmod 700 <path>", true, false},
		{CheckConfigMode, fsys, SeverityCritical, "The config file is open to group or others (critical when it holds a plaintext secret)", "chmod 600 <path>", true, false},
		{CheckDatabaseMode, fsys, SeverityWarn, "The database (transcripts, pairing) is open to group or others", "chmod 600 <path>", true, false},
		{CheckSecretsMode, fsys, SeverityCritical, "The secret store or its key is open to group or others", "chmod 600 <path>", true, false},
		{CheckLogsMode, fsys, SeverityWarn, "The logs are open to group or others", "chmod -R go-rwx <path>", true, false},
		{CheckWorkspaceMode, fsys, SeverityWarn, "The workspace in the state directory is open to group or others", "chmod go-rwx <path>", true, false},
		{CheckOtherMode, fsys, SeverityWarn, "A file in the state directory is open to group or others", "chmod go-rwx <path>", true, false},
		{CheckOwner, fsys, SeverityCritical, "An entry in the state directory belongs to another user (critical for the directory itself)", "chown <user> <path> (as root)", true, false},
		{CheckSymlinkOutside, fsys, SeverityWarn, "A symlink in the state directory leads outside it", "rm <path> (or replace it with the file itself)", false, false},
		{CheckUnreadable, fsys, SeverityWarn, "An entry in the state directory cannot be read by the audit", "ls -la <path>, then fix its owner or mode", false, false},
		{CheckWorkspaceWritable, fsys, SeverityWarn, "The workspace is writable by group or others", "chmod -R go-w <path>", true, false},
		{CheckSoulMissing, fsys, SeverityWarn, "SOUL.md is missing", "<cmd> onboard --non-interactive", false, false},
		{CheckSoulWritable, fsys, SeverityWarn, "SOUL.md is writable by group or others (or, in the state directory, open to them without being locked)", "chmod go-w <path>, then sudo <cmd> soul lock", true, false},
		{CheckSoulUnlocked, fsys, SeverityWarn, "SOUL.md is not locked (read-only with a sha256 baseline; info until it was first locked, warn once a lock was undone)", "sudo <cmd> soul lock", false, false},
		{CheckSoulIntegrity, fsys, SeverityCritical, "SOUL.md no longer matches its integrity baseline", "review SOUL.md; if the change is yours: sudo <cmd> soul lock", false, false},

		{CheckGatewayRunning, gw, SeverityInfo, "A gateway answers on this state directory's address", "<cmd> gateway run", false, true},
		{CheckProbeUnauth, gw, SeverityCritical, "A route other than /healthz answers without credentials", "upgrade gatehouse; report the route as a security bug", false, true},
		{CheckProbeHost, gw, SeverityWarn, "A loopback gateway answers to a foreign Host header (DNS rebinding)", "upgrade gatehouse; report it as a security bug", false, true},
		{CheckProbeWSOrigin, gw, SeverityCritical, "The WebSocket accepts a foreign Origin (cross-site WebSocket hijacking)", "upgrade gatehouse; report it as a security bug", false, true},
		{CheckProbeWSUnauth, gw, SeverityCritical, "The WebSocket RPC answers before authentication", "upgrade gatehouse; report it as a security bug", false, true},
		{CheckProbeLockout, gw, SeverityWarn, "Ten wrong tokens do not lock the client out", "upgrade gatehouse; report it as a security bug", false, true},
		{CheckListen, gw, SeverityWarn, "The gateway listens on a non-loopback address", "<cmd> config set gateway.bind loopback, then <cmd> gateway restart", false, true},
		{CheckSandboxLayers, gw, SeverityWarn, "A sandbox isolation layer cannot be applied on this host, so sandboxed tools fail", "<cmd> sandbox status", false, true},
		{CheckFirewall, host, SeverityWarn, "The host firewall does not deny incoming connections by default", "sudo ufw default deny incoming && sudo ufw allow in on tailscale0 && sudo ufw enable", false, true},
		{CheckDockerUser, host, SeverityWarn, "The DOCKER-USER chain does not end in DROP, so published container ports bypass the firewall", "sudo iptables -A DOCKER-USER -j DROP (after the ACCEPT rules for lo and tailscale0; see the seed guide 1.6)", false, true},
		{CheckSystemdScore, host, SeverityWarn, "The gatehouse unit's systemd-analyze security exposure is above 1.5", "sudo <cmd> service install --system (renders the hardened unit)", false, true},
		{CheckSystemdActive, host, SeverityInfo, "The installed gatehouse unit is not active", "sudo systemctl start <unit>", false, true},
		{CheckTailscaleFunnel, host, SeverityCritical, "Tailscale Funnel publishes a service on this host to the internet", "tailscale funnel off (or tailscale funnel reset)", false, true},
		{CheckServiceUser, host, SeverityWarn, "The gateway does not run as a dedicated non-root user (warn for root)", "sudo <cmd> service install --system (runs it as a locked system user)", false, true},
	}
}

// lookupCheck finds the catalog entry of id.
func lookupCheck(id string) (Check, bool) {
	for _, c := range Catalog() {
		if c.ID == id {
			return c, true
		}
	}
	return Check{}, false
}

// catalogIndex orders checks as the catalog lists them.
func catalogIndex(id string) int {
	for i, c := range Catalog() {
		if c.ID == id {
			return i
		}
	}
	return len(Catalog())
}
