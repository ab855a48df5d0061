package access

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"gatehouse/internal/config"
)

// Severity grades a [Problem].
type Severity string

const (
	// SeverityWarn: a setting that does nothing, or not what it seems.
	SeverityWarn Severity = "warn"
	// SeverityCritical: strangers can reach the agent, or an entry looks
	// like it admits someone and never will.
	SeverityCritical Severity = "critical"
)

// Problem is one finding of [Validate].
type Problem struct {
	Path     string   `json:"path"` // dotted config path, e.g. channels.telegram.allowFrom[0]
	Severity Severity `json:"severity"`
	Message  string   `json:"message"`
}

func (p Problem) String() string { return fmt.Sprintf("%s: %s: %s", p.Severity, p.Path, p.Message) }

// Validate reports the access settings of channels.<channel> that are
// risky or cannot work: an open DM or group policy, "*" in allowFrom
// (critical with the open policy, ignored otherwise), "@username" entries,
// entries for another channel or with invisible or look-alike characters,
// dmPolicy and the nested dm form disagreeing, and configWrites true.
// Problems come in a stable order.
func Validate(channel string, cfg *config.Channel) []Problem {
	if cfg == nil {
		return nil
	}
	v := validator{channel: channel, base: "channels." + channel}
	v.dm(cfg)
	v.groups(cfg)
	if cfg.ConfigWrites {
		v.add(".configWrites", SeverityWarn,
			"has no effect (gatehouse has no chat path to configuration) but reads as if chat could change it: set it to false")
	}
	return v.problems
}

type validator struct {
	channel  string
	base     string
	problems []Problem
}

func (v *validator) add(path string, sev Severity, format string, args ...any) {
	v.problems = append(v.problems, Problem{Path: v.base + path, Severity: sev, Message: fmt.Sprintf(format, args...)})
}

func (v *validator) dm(cfg *config.Channel) {
	dm := EffectiveDM(cfg)
	policyPath, allowPath := ".dmPolicy", ".allowFrom"
	if n := cfg.DM; n != nil {
		if n.Policy != "" {
			policyPath = ".dm.policy"
			if cfg.DMPolicy != "" && cfg.DMPolicy != n.Policy {
				v.add(".dmPolicy", SeverityWarn, "ignored: dm.policy %q wins over dmPolicy %q; keep one of them", n.Policy, cfg.DMPolicy)
			}
		}
		if len(n.AllowFrom) > 0 {
			allowPath = ".dm.allowFrom"
			if len(cfg.AllowFrom) > 0 && !slices.Equal(cfg.AllowFrom, n.AllowFrom) {
				v.add(".allowFrom", SeverityWarn, "ignored: dm.allowFrom replaces it (the lists are not merged); keep one of them")
			}
		}
		if n.Enabled != nil && !*n.Enabled && n.Policy != "" && n.Policy != "disabled" {
			v.add(".dm.enabled", SeverityWarn, "false disables DMs whatever dm.policy %q says", n.Policy)
		}
	}
	open := dm.Policy == "open"
	switch dm.Policy {
	case "open":
		v.add(policyPath, SeverityCritical,
			"open: anyone who finds the bot can talk to the agent and use its tools: run gatehouse config set %s.dmPolicy pairing", v.base)
	case "pairing", "allowlist", "disabled":
	default:
		v.add(policyPath, SeverityCritical, "unknown policy %q, treated as disabled: use pairing, allowlist, open or disabled", dm.Policy)
	}
	v.entries(allowPath, dm.AllowFrom, func(i int) {
		if open {
			v.add(fmt.Sprintf("%s[%d]", allowPath, i), SeverityCritical, `"*" with dmPolicy open admits anyone: list your own user id and use pairing`)
			return
		}
		v.add(fmt.Sprintf("%s[%d]", allowPath, i), SeverityWarn, `"*" is ignored unless dmPolicy is open: remove it`)
	})
}

func (v *validator) groups(cfg *config.Channel) {
	switch policy := orDefault(cfg.GroupPolicy, "disabled"); policy {
	case "open":
		v.add(".groupPolicy", SeverityCritical,
			"open: any group the bot is added to can talk to the agent: use allowlist and list the groups in %s.groups (or guilds)", v.base)
	case "disabled", "allowlist":
	default:
		v.add(".groupPolicy", SeverityCritical, "unknown policy %q, treated as disabled: use disabled, allowlist or open", policy)
	}
	for _, kind := range []string{"groups", "guilds"} {
		m := cfg.Groups
		if kind == "guilds" {
			m = cfg.Guilds
		}
		for _, id := range slices.Sorted(maps.Keys(m)) {
			v.rule(fmt.Sprintf(".%s.%s", kind, id), m[id])
		}
	}
}

func (v *validator) rule(path string, r config.GroupRule) {
	allowPath := path + ".allowFrom"
	v.entries(allowPath, r.AllowFrom, func(i int) {
		v.add(fmt.Sprintf("%s[%d]", allowPath, i), SeverityWarn,
			`"*" matches nobody in a rule's allowFrom: leave allowFrom out to let every member in`)
	})
	for _, id := range slices.Sorted(maps.Keys(r.Channels)) {
		v.rule(fmt.Sprintf("%s.channels.%s", path, id), r.Channels[id])
	}
}

// entries checks each allowFrom entry; star reports a "*" at index i.
func (v *validator) entries(path string, list []string, star func(i int)) {
	for i, raw := range list {
		at := fmt.Sprintf("%s[%d]", path, i)
		e := strings.TrimSpace(raw)
		id := e
		if prefix, rest, ok := strings.Cut(e, ":"); ok {
			prefix, id = strings.TrimSpace(prefix), strings.TrimSpace(rest)
			switch {
			case prefix == v.channel:
			case strings.EqualFold(prefix, v.channel):
				v.add(at, SeverityWarn, "%q never matches: the channel prefix is case-sensitive, write %s:%s", raw, v.channel, id)
				continue
			default:
				v.add(at, SeverityWarn, "%q is for channel %q and never matches on %s: move it to channels.%s", raw, prefix, v.channel, prefix)
				continue
			}
		}
		switch {
		case id == "*":
			star(i)
		case id == "":
			v.add(at, SeverityWarn, "empty entry matches nobody: remove it")
		case strings.HasPrefix(id, "@"):
			v.add(at, SeverityCritical,
				"%q is a username, which can change hands, and is never matched: use the numeric user id instead (Telegram: ask @userinfobot; Discord: Copy User ID; Slack: Copy member ID)", raw)
		case !printableASCII(id):
			v.add(at, SeverityWarn,
				"%q has a space, an invisible character or a look-alike outside ASCII, and never matches a platform id: retype the id", raw)
		}
	}
}

// printableASCII reports whether s is all printable ASCII without spaces,
// which every platform's user ids are.
func printableASCII(s string) bool {
	for i := range len(s) {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}
