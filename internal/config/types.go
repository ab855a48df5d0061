package config

// This file is the schema: every key a gatehouse.json may hold. Struct tags
// drive strict decoding, validation, `config schema` and secure defaults:
//
//	json:"name"            the key (always camelCase, as in the seed guides)
//	enum:"a,b,c"           allowed string values
//	doc:"..."              description shown by `config schema`
//	min:"N" max:"N"        numeric bounds
//
// Defaults live in Default(), not in tags, so that they are ordinary Go.
// Keys keep OpenClaw's names wherever the seed guides use them.

// Config is the whole gateway configuration.
type Config struct {
	// Schema lets editors find the JSON Schema; it is ignored otherwise.
	Schema    string    `json:"$schema,omitempty" doc:"Path or URL of the JSON Schema, for editors. Ignored by the gateway."`
	Gateway   Gateway   `json:"gateway" doc:"The gateway process: listener, authentication, control UI."`
	Discovery Discovery `json:"discovery" doc:"Network discovery. Off: Gatehouse never advertises itself."`
	Logging   Logging   `json:"logging" doc:"Log level and redaction."`
	Agents    Agents    `json:"agents" doc:"Agent defaults: model, workspace, sandbox."`
	Tools     Tools     `json:"tools" doc:"Tool policy for the agent."`
	Channels  Channels  `json:"channels" doc:"Chat channels and who may talk to the agent through them."`
	Models    Models    `json:"models" doc:"LLM providers."`
	Plugins   Plugins   `json:"plugins" doc:"Bundled plugins (channels, auth helpers) and whether each is enabled."`
	Session   Session   `json:"session" doc:"How conversations map to sessions."`
}

// Session configures how inbound messages map to sessions.
type Session struct {
	DMScope string `json:"dmScope" enum:"main,per-peer,per-channel-peer,per-account-channel-peer" doc:"Which DMs share a history. per-channel-peer (default): each sender on each channel has its own; main: every DM shares one session (only for a single owner)."`
}

// Gateway configures the listener and its authentication.
type Gateway struct {
	Mode           string        `json:"mode" enum:"local,remote" doc:"local: this host runs the gateway. remote: the CLI talks to gateway.remote.url."`
	Bind           string        `json:"bind" enum:"loopback,lan,tailnet,custom" doc:"Where to listen. loopback (127.0.0.1) is the default; anything else needs token auth with at least 128 bits of secret."`
	CustomBindHost string        `json:"customBindHost,omitempty" doc:"IP address to listen on when gateway.bind is custom."`
	Port           int           `json:"port" min:"1" max:"65535" doc:"TCP port for HTTP, WebSocket RPC and the health check."`
	AllowedHosts   []string      `json:"allowedHosts,omitempty" doc:"Extra Host names a loopback-bound gateway answers to, e.g. the name Tailscale Serve forwards (myhost.tailnet.ts.net). Others get 403, against DNS rebinding."`
	Auth           GatewayAuth   `json:"auth" doc:"How clients authenticate. Every route but /healthz requires it."`
	Remote         GatewayRemote `json:"remote" doc:"A gateway on another host, for the CLI. Leave empty for the local gateway: the CLI then reads the same token the gateway uses."`
	ControlUI      ControlUI     `json:"controlUi" doc:"The browser control UI."`
	HTTP           GatewayHTTP   `json:"http" doc:"Optional HTTP APIs on the gateway port."`
}

// GatewayAuth is the gateway's client authentication.
type GatewayAuth struct {
	Mode     string `json:"mode" enum:"token,password,none" doc:"token (default): a random bearer token made at onboarding. password: a secret you choose. none: refused; the gateway will not start without auth."`
	Token    Secret `json:"token,omitzero" doc:"The bearer token, as a secret reference {\"secret\": \"NAME\"}, an environment reference \"${VAR}\", or (discouraged) plaintext."`
	Password Secret `json:"password,omitzero" doc:"The password when gateway.auth.mode is password."`
}

// GatewayRemote points the CLI at a gateway on another host.
type GatewayRemote struct {
	URL   string `json:"url,omitempty" doc:"ws:// or wss:// URL of a remote gateway. Empty: the local gateway."`
	Token Secret `json:"token,omitzero" doc:"Token of the remote gateway. Ignored when gateway.remote.url is empty: the local CLI always uses gateway.auth.token."`
}

// ControlUI configures the browser control UI.
type ControlUI struct {
	Enabled           bool `json:"enabled" doc:"Serve the browser control UI."`
	AllowInsecureAuth bool `json:"allowInsecureAuth" doc:"Allow token-only browser login without device pairing. Dangerous; the audit reports it as critical."`
}

// GatewayHTTP holds optional HTTP APIs.
type GatewayHTTP struct {
	OpenAI GatewayOpenAI `json:"openai" doc:"OpenAI-compatible API (/v1/chat/completions)."`
}

// GatewayOpenAI toggles the OpenAI-compatible API.
type GatewayOpenAI struct {
	Enabled bool `json:"enabled" doc:"Serve /v1/chat/completions and /v1/models behind the gateway token."`
}

// Discovery configures network discovery.
type Discovery struct {
	MDNS MDNS `json:"mdns" doc:"mDNS / Bonjour advertisement."`
}

// MDNS configures mDNS advertisement.
type MDNS struct {
	Mode string `json:"mode" enum:"off,minimal,full" doc:"Gatehouse has no discovery; off is the only behaviour. Other values are accepted for compatibility and reported by the audit."`
}

// Logging configures logs.
type Logging struct {
	Level           string `json:"level" enum:"debug,info,warn,error" doc:"Minimum level written to the log."`
	RedactSensitive string `json:"redactSensitive" enum:"off,tools" doc:"Known secrets and credential patterns are always removed from logs, transcripts and errors. tools (default) also redacts credential patterns in tool output summaries."`
}

// Agents holds agent configuration.
type Agents struct {
	Defaults AgentDefaults `json:"defaults" doc:"Settings every agent starts from."`
	List     []AgentEntry  `json:"list,omitempty" doc:"Per-agent overrides by agent id. The gateway runs one agent, id main."`
}

// AgentEntry overrides the defaults for one agent.
type AgentEntry struct {
	ID    string      `json:"id" doc:"Agent id (main is the gateway's agent)."`
	Tools *AgentTools `json:"tools,omitempty" doc:"Tool policy for this agent, replacing tools.profile/allow and adding to tools.deny."`
}

// AgentTools is a per-agent tool policy.
type AgentTools struct {
	Profile string   `json:"profile,omitempty" enum:"minimal,messaging,coding,full" doc:"Base set of tools for this agent."`
	Allow   []string `json:"allow,omitempty" doc:"Tools to add to the profile."`
	Deny    []string `json:"deny,omitempty" doc:"Tools this agent never gets, in addition to tools.deny."`
}

// AgentDefaults are the defaults for every agent.
type AgentDefaults struct {
	Workspace string         `json:"workspace,omitempty" doc:"Agent workspace directory (SOUL.md, AGENTS.md, USER.md). Default: <state dir>/workspace."`
	Model     ModelSelection `json:"model" doc:"Which model the agent uses."`
	Sandbox   Sandbox        `json:"sandbox" doc:"Where and how tools run."`
	Budget    Budget         `json:"budget" doc:"Daily spend limits, enforced before every model call."`
	// MaxToolRounds bounds the model calls of one turn.
	MaxToolRounds  int `json:"maxToolRounds" min:"1" max:"200" doc:"Most tool rounds (model calls) in one turn."`
	TimeoutSeconds int `json:"timeoutSeconds" min:"1" max:"86400" doc:"Wall-clock limit of one turn, tools included."`
	ContextTokens  int `json:"contextTokens" min:"1024" max:"10000000" doc:"Token budget of the prompt; older history is summarised (compacted) past about 60% of it."`
}

// Budget limits daily spend. Zero means no limit of that kind.
type Budget struct {
	DailyUSD    float64 `json:"dailyUsd,omitempty" min:"0" doc:"Most US dollars spent on models per UTC day; turns past it are refused. 0: no limit."`
	DailyTokens int     `json:"dailyTokens,omitempty" min:"0" doc:"Most tokens (input + output) per UTC day. 0: no limit."`
}

// ModelSelection picks the primary model and its fallbacks.
type ModelSelection struct {
	Primary   string   `json:"primary,omitempty" doc:"Model reference provider/model, e.g. anthropic/claude-sonnet-4-5."`
	Fallbacks []string `json:"fallbacks,omitempty" doc:"Models tried in order when the primary fails."`
}

// Sandbox configures tool isolation.
type Sandbox struct {
	Mode            string        `json:"mode" enum:"all,non-main,off" doc:"all (default): every session's tools run sandboxed. non-main is accepted for OpenClaw configs and also sandboxes every session, the main one included. off: no sandbox, and exec runs only as an elevated command when tools.elevated allows it."`
	Scope           string        `json:"scope" enum:"session,agent,shared" doc:"How sandboxes are shared: one per session (default), per agent, or one for all."`
	Backend         string        `json:"backend" enum:"auto,native,docker" doc:"auto: native Linux sandbox unless docker is configured; native: namespaces, Landlock, seccomp; docker: Docker Engine API (Podman works)."`
	WorkspaceAccess string        `json:"workspaceAccess" enum:"none,ro,rw" doc:"How the sandbox sees the workspace: not at all, read-only (default) or read-write."`
	Limits          SandboxLimits `json:"limits" doc:"Resource limits of every sandboxed command, on both backends."`
	Native          SandboxNative `json:"native" doc:"Settings of the native Linux sandbox."`
	Docker          SandboxDocker `json:"docker" doc:"Container settings for the docker backend."`
}

// SandboxLimits bounds what one sandbox may use.
type SandboxLimits struct {
	MemoryMB       int     `json:"memoryMb" min:"16" max:"1048576" doc:"Memory limit in MiB (cgroup or container; address-space rlimit where cgroups are not delegated)."`
	Pids           int     `json:"pids" min:"4" max:"65536" doc:"Most processes and threads at once (stops fork bombs)."`
	CPUs           float64 `json:"cpus" min:"0" max:"1024" doc:"CPU cores a container may use (docker backend); 0: no limit."`
	CPUSeconds     int     `json:"cpuSeconds" min:"1" max:"86400" doc:"CPU time limit of one command, in seconds (RLIMIT_CPU)."`
	OpenFiles      int     `json:"openFiles" min:"16" max:"1048576" doc:"Most open files per process (RLIMIT_NOFILE)."`
	FileSizeMB     int     `json:"fileSizeMb" min:"1" max:"1048576" doc:"Largest file a command may write, in MiB (RLIMIT_FSIZE)."`
	TmpfsMB        int     `json:"tmpfsMb" min:"1" max:"1048576" doc:"Size of the private /tmp, in MiB."`
	TimeoutSeconds int     `json:"timeoutSeconds" min:"1" max:"86400" doc:"Wall-clock limit of one command; it and all its children are killed past it."`
}

// SandboxNative configures the native backend.
type SandboxNative struct {
	AllowWithout []string `json:"allowWithout,omitempty" doc:"Layers the sandbox may run without when this host cannot apply them (landlock, landlock-net, seccomp, cgroups, cgroupns). Empty (default): a missing layer stops the sandbox. The audit reports every entry."`
}

// SandboxDocker configures sandbox containers.
type SandboxDocker struct {
	Image             string   `json:"image,omitempty" doc:"Container image. Default: gatehouse-sandbox:bookworm-slim, built by gatehouse sandbox build."`
	Network           string   `json:"network" doc:"Container network. none (default) means no network at all."`
	ReadOnlyRoot      bool     `json:"readOnlyRoot" doc:"Mount the container's root filesystem read-only (default true)."`
	Host              string   `json:"host,omitempty" doc:"Docker Engine API endpoint, e.g. unix:///run/podman/podman.sock. Default: DOCKER_HOST, else the Docker or Podman socket found on this host."`
	User              string   `json:"user,omitempty" doc:"uid:gid the sandboxed commands run as. Default 65534:65534 (nobody); root is refused."`
	Binds             []string `json:"binds,omitempty" doc:"Extra host paths to mount, host:container[:ro|rw] (ro by default). Sensitive sources (docker.sock, /etc, /proc, /sys, /dev, /root, ~/.ssh, ~/.aws, ~/.config, ~/.gnupg, the state dir) are refused."`
	PruneAfterMinutes int      `json:"pruneAfterMinutes" min:"1" max:"10080" doc:"Remove a sandbox container idle this long."`
}

// Tools is the agent's tool policy.
type Tools struct {
	Profile  string        `json:"profile" enum:"minimal,messaging,coding,full" doc:"Base set of tools the agent gets."`
	Allow    []string      `json:"allow,omitempty" doc:"Tools to add to the profile."`
	Deny     []string      `json:"deny" doc:"Tools the agent never gets. Deny wins over allow."`
	Elevated ToolsElevated `json:"elevated" doc:"Host execution outside the sandbox."`
	Web      ToolsWeb      `json:"web" doc:"web_fetch and web_search."`
}

// ToolsElevated configures host execution.
type ToolsElevated struct {
	Enabled                bool                `json:"enabled" doc:"Allow elevated (host) execution. Off by default."`
	AllowFrom              map[string][]string `json:"allowFrom,omitempty" doc:"Per channel, the sender ids who may ask for elevated execution."`
	ApprovalTimeoutSeconds int                 `json:"approvalTimeoutSeconds" min:"10" max:"86400" doc:"How long an elevated command waits for the owner's approval before it is refused."`
}

// ToolsWeb configures the web tools, which run in the gateway through the egress guard.
type ToolsWeb struct {
	Fetch  WebFetch  `json:"fetch" doc:"web_fetch: get a page as markdown."`
	Search WebSearch `json:"search" doc:"web_search: absent unless a provider is configured."`
}

// WebFetch configures web_fetch.
type WebFetch struct {
	MaxBytes       int      `json:"maxBytes" min:"1024" max:"104857600" doc:"Largest response body read, in bytes."`
	TimeoutSeconds int      `json:"timeoutSeconds" min:"1" max:"600" doc:"Time limit of one fetch, redirects included."`
	MaxRedirects   int      `json:"maxRedirects" min:"0" max:"20" doc:"Most redirects followed; each is checked like the first request."`
	AllowPrivate   []string `json:"allowPrivate,omitempty" doc:"Private or loopback networks (CIDR, e.g. 192.168.1.0/24) web_fetch may reach, such as a LAN wiki. Link-local and cloud metadata addresses are refused whatever this says."`
}

// WebSearch configures web_search.
type WebSearch struct {
	Provider   string `json:"provider,omitempty" enum:"brave,tavily,searxng" doc:"Search provider. Empty (default): no web_search tool."`
	APIKey     Secret `json:"apiKey,omitzero" doc:"API key of Brave or Tavily (secret reference preferred)."`
	BaseURL    string `json:"baseUrl,omitempty" doc:"Base URL of the provider's API; required for searxng (your instance)."`
	MaxResults int    `json:"maxResults" min:"1" max:"20" doc:"Results returned per search."`
}

// Channels configures each chat platform.
type Channels struct {
	Telegram *Channel `json:"telegram,omitempty" doc:"Telegram bot."`
	Discord  *Channel `json:"discord,omitempty" doc:"Discord bot."`
	Slack    *Channel `json:"slack,omitempty" doc:"Slack app (Socket Mode)."`
	Webchat  *Channel `json:"webchat,omitempty" doc:"Web chat on the gateway port."`
}

// Channel configures one chat platform.
type Channel struct {
	Enabled        *bool                `json:"enabled,omitempty" doc:"Run this channel. Default true once configured."`
	Token          Secret               `json:"token,omitzero" doc:"Bot token (secret reference preferred)."`
	AppToken       Secret               `json:"appToken,omitzero" doc:"Slack app-level token for Socket Mode."`
	APIBaseURL     string               `json:"apiBaseUrl,omitempty" doc:"Platform API base URL, for self-hosted servers and tests."`
	DMPolicy       string               `json:"dmPolicy,omitempty" enum:"pairing,allowlist,open,disabled" doc:"Who may DM the bot: pairing (default), allowlist, open, disabled."`
	DM             *ChannelDM           `json:"dm,omitempty" doc:"Nested form of dmPolicy/allowFrom, as older guides write it."`
	AllowFrom      []string             `json:"allowFrom,omitempty" doc:"Sender ids allowed to DM the bot (immutable platform ids; channel:id accepted)."`
	GroupPolicy    string               `json:"groupPolicy,omitempty" enum:"disabled,allowlist,open" doc:"Group chats: disabled (default), allowlist, open."`
	Groups         map[string]GroupRule `json:"groups,omitempty" doc:"Allowed groups by id when groupPolicy is allowlist."`
	Guilds         map[string]GroupRule `json:"guilds,omitempty" doc:"Allowed Discord guilds by id when groupPolicy is allowlist."`
	RequireMention *bool                `json:"requireMention,omitempty" doc:"In groups, answer only when mentioned (default true)."`
	ConfigWrites   bool                 `json:"configWrites" doc:"Allow chat messages to change configuration. Always false in effect: Gatehouse has no chat path to configuration; true is reported by the audit."`
}

// ChannelDM is the nested DM policy form (dm.enabled/policy/allowFrom).
type ChannelDM struct {
	Enabled   *bool    `json:"enabled,omitempty" doc:"Accept DMs at all."`
	Policy    string   `json:"policy,omitempty" enum:"pairing,allowlist,open,disabled" doc:"Same as dmPolicy."`
	AllowFrom []string `json:"allowFrom,omitempty" doc:"Same as allowFrom."`
}

// GroupRule allows one group, guild or channel.
type GroupRule struct {
	Enabled        *bool                `json:"enabled,omitempty" doc:"Allow this group."`
	RequireMention *bool                `json:"requireMention,omitempty" doc:"Answer only when mentioned (default true)."`
	AllowFrom      []string             `json:"allowFrom,omitempty" doc:"Only these senders within the group."`
	Channels       map[string]GroupRule `json:"channels,omitempty" doc:"Per-channel rules inside a guild."`
}

// Models configures LLM providers.
type Models struct {
	Providers map[string]Provider `json:"providers,omitempty" doc:"Provider settings by name (openai, anthropic, gemini, or a custom OpenAI-compatible name)."`
	Pricing   map[string]Price    `json:"pricing,omitempty" doc:"Prices by model reference (provider/model), overriding the built-in table, in US dollars per million tokens."`
}

// Price is what a model costs, in US dollars per million tokens.
type Price struct {
	Input      float64 `json:"input" min:"0" doc:"Per million input tokens."`
	Output     float64 `json:"output" min:"0" doc:"Per million output tokens."`
	CacheRead  float64 `json:"cacheRead,omitempty" min:"0" doc:"Per million cached input tokens read."`
	CacheWrite float64 `json:"cacheWrite,omitempty" min:"0" doc:"Per million input tokens written to the cache."`
}

// Provider configures one LLM provider.
type Provider struct {
	API     string `json:"api,omitempty" enum:"openai,anthropic,gemini,openai-compatible" doc:"Wire protocol. Defaults from the provider name."`
	BaseURL string `json:"baseUrl,omitempty" doc:"API base URL (Ollama, vLLM, llama.cpp, LM Studio, OpenRouter, or a proxy)."`
	APIKey  Secret `json:"apiKey,omitzero" doc:"API key (secret reference preferred)."`
}

// Plugins configures bundled plugins.
type Plugins struct {
	Entries map[string]PluginEntry `json:"entries,omitempty" doc:"Plugins by name."`
}

// PluginEntry toggles one plugin.
type PluginEntry struct {
	Enabled bool `json:"enabled" doc:"Whether the plugin is enabled."`
}

// Default returns the configuration a gateway runs with when its file says
// nothing: the secure defaults of the seed guides.
func Default() *Config {
	return &Config{
		Gateway: Gateway{
			Mode: "local",
			Bind: "loopback",
			Port: DefaultPort,
			Auth: GatewayAuth{Mode: "token"},
		},
		Discovery: Discovery{MDNS: MDNS{Mode: "off"}},
		Logging:   Logging{Level: "info", RedactSensitive: "tools"},
		Agents: Agents{Defaults: AgentDefaults{
			Sandbox: Sandbox{
				Mode:            "all",
				Scope:           "session",
				Backend:         "auto",
				WorkspaceAccess: "ro",
				Limits: SandboxLimits{
					MemoryMB: 512, Pids: 128, CPUs: 1, CPUSeconds: 120, OpenFiles: 256,
					FileSizeMB: 64, TmpfsMB: 64, TimeoutSeconds: 60,
				},
				Docker: SandboxDocker{Network: "none", ReadOnlyRoot: true, User: "65534:65534", PruneAfterMinutes: 30},
			},
			MaxToolRounds:  20,
			TimeoutSeconds: 600,
			ContextTokens:  100000,
		}},
		Session: Session{DMScope: "per-channel-peer"},
		Tools: Tools{
			Profile:  "coding",
			Deny:     []string{"gateway", "nodes"},
			Elevated: ToolsElevated{ApprovalTimeoutSeconds: 300},
			Web: ToolsWeb{
				Fetch:  WebFetch{MaxBytes: 2 << 20, TimeoutSeconds: 30, MaxRedirects: 5},
				Search: WebSearch{MaxResults: 5},
			},
		},
	}
}

// DefaultPort is the gateway's default TCP port, as OpenClaw's.
const DefaultPort = 18789
