package access

import (
	"strings"

	"gatehouse/internal/config"
)

// DM is a channel's DM policy after merging dmPolicy and allowFrom with
// the nested dm form.
type DM struct {
	Policy    string   // pairing, allowlist, open or disabled
	AllowFrom []string // entries as written
}

// EffectiveDM merges cfg's two ways of writing the DM policy. The nested
// form (dm.enabled, dm.policy, dm.allowFrom, as older guides write it) wins
// field by field where it is set: dm.enabled false means disabled whatever
// the policy says; a non-empty dm.policy replaces dmPolicy; a non-empty
// dm.allowFrom replaces allowFrom (the lists are not merged). The policy
// defaults to pairing.
func EffectiveDM(cfg *config.Channel) DM {
	if cfg == nil {
		return DM{Policy: "disabled"}
	}
	dm := DM{Policy: cfg.DMPolicy, AllowFrom: cfg.AllowFrom}
	if n := cfg.DM; n != nil {
		if n.Policy != "" {
			dm.Policy = n.Policy
		}
		if len(n.AllowFrom) > 0 {
			dm.AllowFrom = n.AllowFrom
		}
		if n.Enabled != nil && !*n.Enabled {
			dm.Policy = "disabled"
		}
	}
	dm.Policy = orDefault(dm.Policy, "pairing")
	return dm
}

// entryID returns the sender id that the allowFrom entry names on channel,
// and whether it names one there at all.
//
// An entry is "ID" or "CHANNEL:ID", trimmed of surrounding spaces. An entry
// with a colon always has a channel prefix: the part before the first
// colon must equal channel exactly, so "discord:987" never matches on
// telegram (write "telegram:a:b" for an id that itself has a colon). "*",
// empty ids and "@usernames" name nobody.
func entryID(entry, channel string) (string, bool) {
	id := strings.TrimSpace(entry)
	if prefix, rest, ok := strings.Cut(id, ":"); ok {
		if strings.TrimSpace(prefix) != channel {
			return "", false
		}
		id = strings.TrimSpace(rest)
	}
	if id == "" || id == "*" || strings.HasPrefix(id, "@") {
		return "", false
	}
	return id, true
}

// matchAny reports whether an entry names sender on channel. The sender id
// is compared exactly as the platform sent it: it is neither trimmed nor
// folded, so "123 " is not "123".
func matchAny(entries []string, channel, sender string) bool {
	if sender == "" {
		return false
	}
	for _, e := range entries {
		if id, ok := entryID(e, channel); ok && id == sender {
			return true
		}
	}
	return false
}

// ownerFromConfig reports whether req's sender is the first allowFrom entry
// usable on req's channel, the owner while pairing has approved nobody.
func ownerFromConfig(cfg *config.Channel, req Request) bool {
	for _, e := range EffectiveDM(cfg).AllowFrom {
		if id, ok := entryID(e, req.Channel); ok {
			return req.SenderID != "" && id == req.SenderID
		}
	}
	return false
}
