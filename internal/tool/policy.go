package tool

import (
	"slices"
	"strings"

	"gatehouse/internal/config"
)

// Tool names of the built-in tools, as OpenClaw names them so that skills
// and prompts written for it carry over.
const (
	NameTimeNow       = "time_now"
	NameSessionStatus = "session_status"
	NameMessage       = "message"
	NameRead          = "read"
	NameWrite         = "write"
	NameEdit          = "edit"
	NameLs            = "ls"
	NameFind          = "find"
	NameGrep          = "grep"
	NameExec          = "exec"
	NameMemoryGet     = "memory_get"
	NameMemoryWrite   = "memory_write"
	NameWebFetch      = "web_fetch"
	NameWebSearch     = "web_search"
)

// groups are the tool groups tools.allow and tools.deny accept, as
// OpenClaw's "group:NAME" entries.
var groups = map[string][]string{
	"group:fs":        {NameRead, NameWrite, NameEdit, NameLs, NameFind, NameGrep},
	"group:runtime":   {NameExec},
	"group:web":       {NameWebFetch, NameWebSearch},
	"group:memory":    {NameMemoryGet, NameMemoryWrite},
	"group:messaging": {NameMessage},
	"group:sessions":  {NameSessionStatus},
}

// profiles are the base tool sets of tools.profile, each including the
// one before it. The web tools are only in full: fetched pages are the
// main road for prompt injection, so reaching the web is a choice.
var profiles = map[string][]string{
	"minimal":   {NameTimeNow, NameSessionStatus},
	"messaging": {NameTimeNow, NameSessionStatus, NameMessage},
	"coding": {NameTimeNow, NameSessionStatus, NameMessage,
		NameRead, NameWrite, NameEdit, NameLs, NameFind, NameGrep, NameExec, NameMemoryGet, NameMemoryWrite},
	"full": {NameTimeNow, NameSessionStatus, NameMessage,
		NameRead, NameWrite, NameEdit, NameLs, NameFind, NameGrep, NameExec, NameMemoryGet, NameMemoryWrite,
		NameWebFetch, NameWebSearch},
}

// ProfileTools returns the tools of a profile, nil for an unknown one.
func ProfileTools(profile string) []string {
	return slices.Clone(profiles[profile])
}

// DefaultAgentID is the id of the gateway's one agent, whose entry in
// agents.list overrides the tool policy.
const DefaultAgentID = "main"

// Policy decides which tools the agent may use: the profile's tools plus
// tools.allow, minus tools.deny. Deny always wins; the reserved
// gateway-control names are never allowed; unknown names in allow or deny
// are ignored (the seeds deny "gateway" and "nodes", which no Gatehouse
// tool is). A Policy is immutable.
type Policy struct {
	allow map[string]bool
	deny  map[string]bool
}

// NewPolicy returns the policy of cfg for the agent with id agentID: an
// agents.list entry for that id replaces the profile and allow list and
// adds its deny list to tools.deny.
func NewPolicy(cfg *config.Config, agentID string) Policy {
	t := cfg.Tools
	profile, allow, deny := t.Profile, t.Allow, slices.Clone(t.Deny)
	for _, e := range cfg.Agents.List {
		if e.ID != agentID || e.Tools == nil {
			continue
		}
		if e.Tools.Profile != "" {
			profile = e.Tools.Profile
		}
		if e.Tools.Allow != nil {
			allow = e.Tools.Allow
		}
		deny = append(deny, e.Tools.Deny...)
	}
	if profile == "" {
		profile = "coding"
	}
	p := Policy{allow: make(map[string]bool), deny: make(map[string]bool)}
	for _, n := range profiles[profile] {
		p.allow[n] = true
	}
	for _, n := range expand(allow) {
		p.allow[n] = true
	}
	for _, n := range expand(deny) {
		p.deny[n] = true
	}
	return p
}

// expand normalises names and replaces groups by their tools.
func expand(names []string) []string {
	var out []string
	for _, n := range names {
		n = strings.ToLower(strings.TrimSpace(n))
		if g, ok := groups[n]; ok {
			out = append(out, g...)
			continue
		}
		out = append(out, n)
	}
	return out
}

// Allows reports whether the agent may use the tool named name.
func (p Policy) Allows(name string) bool {
	if name == "" || IsReserved(name) || p.deny[name] {
		return false
	}
	return p.allow[name]
}

// Allowed reports whether the policy of cfg lets the default agent use the
// tool named name. It builds the policy on every call: hot paths keep a
// [Policy].
func Allowed(cfg *config.Config, name string) bool {
	return NewPolicy(cfg, DefaultAgentID).Allows(name)
}
