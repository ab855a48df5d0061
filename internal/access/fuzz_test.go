package access

import (
	"slices"
	"strings"
	"testing"

	"gatehouse/internal/config"
)

// FuzzDecide throws allowFrom entries and ids at the gate: it must not
// panic, a "*" must never admit anyone unless the DM policy is open, an
// admitted sender must be named by an entry, and a group rule's allowFrom
// must hold the same way.
func FuzzDecide(f *testing.F) {
	seeds := []struct {
		e1, e2, channel, sender string
		policy                  uint8
	}{
		{"123", "", "telegram", "123", 0},
		{"*", "", "telegram", "999", 1},
		{"*", "*", "telegram", "*", 2},
		{"telegram:123", "discord:987", "discord", "987", 1},
		{"discord:123", "", "telegram", "123", 0},
		{"@alice", "telegram:@alice", "telegram", "@alice", 1},
		{" 123 ", "", "telegram", "123 ", 1},
		{"１２３", "123\u200b", "telegram", "123", 1},
		{"telеgram:123", "", "telegram", "123", 1},
		{"telegram:a:b", "a:b", "telegram", "a:b", 0},
		{":", "::", "", ":", 3},
		{"slack:U01ABC", "", "slack", "u01abc", 1},
		{"", "", "telegram", "", 2},
	}
	for _, s := range seeds {
		f.Add(s.e1, s.e2, s.channel, s.sender, s.policy)
	}
	policies := []string{"pairing", "allowlist", "open", "disabled", "", "bogus"}
	// One gate for every input: Decide never writes, so the store stays
	// empty and no input sees another's approvals.
	g, _ := newGate(f, Options{})
	f.Fuzz(func(t *testing.T, e1, e2, channel, sender string, policy uint8) {
		ctx := t.Context()
		pol := policies[int(policy)%len(policies)]
		entries := []string{e1, e2}
		decide := func(cfg *config.Channel, req Request) Decision {
			t.Helper()
			d, err := g.Decide(ctx, cfg, req)
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			return d
		}
		req := dm(channel, sender)
		cfg := &config.Channel{DMPolicy: pol, AllowFrom: entries}
		got := decide(cfg, req)

		if pol != "open" {
			// Stars never admit: adding some changes nothing, and a list
			// of stars admits nobody.
			starred := &config.Channel{DMPolicy: pol, AllowFrom: append(slices.Clone(entries), "*", " * ", channel+":*")}
			if d := decide(starred, req); d.Verdict != got.Verdict {
				t.Errorf("adding \"*\" under %q changed %v to %v", pol, got.Verdict, d.Verdict)
			}
			if d := decide(&config.Channel{DMPolicy: pol, AllowFrom: []string{"*"}}, req); d.Verdict == Allow {
				t.Errorf("allowFrom [\"*\"] under %q admitted %q", pol, sender)
			}
			if got.Verdict == Allow && !named(entries, channel, sender) {
				t.Errorf("%q on %s admitted under %q by %q, which do not name it", sender, channel, pol, entries)
			}
		}
		if got.Verdict == Allow && sender == "" {
			t.Error("empty sender id admitted")
		}

		// Group rule allowFrom: the same matcher, the same promises.
		gcfg := &config.Channel{GroupPolicy: "allowlist", RequireMention: new(false),
			Groups: map[string]config.GroupRule{"g": {AllowFrom: append(slices.Clone(entries), "*")}}}
		greq := Request{Channel: channel, SenderID: sender, ChatID: "g", ChatType: Group}
		if d := decide(gcfg, greq); d.Verdict == Allow && !named(entries, channel, sender) {
			t.Errorf("%q on %s admitted to a group by %q, which do not name it", sender, channel, entries)
		}
		for _, p := range Validate(channel, cfg) {
			if p.Path == "" || p.Message == "" {
				t.Errorf("Validate gave an empty problem: %+v", p)
			}
		}
	})
}

// named is a looser, independent statement of matching, which every
// admission must satisfy: some entry, trimmed, is the sender's id, or
// starts with the channel and a colon and ends with the id. Ids are never
// empty, "*" or "@…".
func named(entries []string, channel, sender string) bool {
	if sender == "" || sender == "*" || strings.HasPrefix(sender, "@") {
		return false
	}
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if e == sender && !strings.Contains(e, ":") {
			return true
		}
		if channel == "" || len(e) < len(channel)+len(sender) ||
			!strings.HasPrefix(e, channel) || !strings.HasSuffix(e, sender) {
			continue
		}
		if mid := e[len(channel) : len(e)-len(sender)]; strings.TrimSpace(mid) == ":" {
			return true
		}
	}
	return false
}
