package access

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/store"
)

// Chat types of a [Request].
const (
	Direct = "direct"
	Group  = "group"
)

// Request is what the gate needs to know about one inbound message. It has
// no text: who may talk never depends on what they say.
type Request struct {
	Channel  string // channel name: "telegram", "discord", "slack", "webchat"
	Account  string // the channel account (bot) it arrived on; "" for the default
	SenderID string // the sender's immutable platform id, exactly as the platform sent it
	ChatID   string // the chat: the DM, group or (Discord, Slack) channel id
	ChatType string // Direct or Group
	// GuildID is the Discord guild (server) of a guild channel, else "".
	GuildID string
	// ThreadID is the thread inside ChatID, if any. Threads follow their
	// chat's rules; the gate does not look at it.
	ThreadID  string
	Mentioned bool // the bot was mentioned (or replied to) in a group
}

// Verdict is what to do with a message. The zero Verdict is Deny, so a
// Decision left unset fails closed.
type Verdict int

const (
	// Deny means ignore the message silently.
	Deny Verdict = iota
	// Allow means pass the message on to the inbox.
	Allow
	// Pair means the sender is an unknown DM sender under the pairing
	// policy: answer with a pairing code from [Gate.PairingCode] and pass
	// nothing on.
	Pair
)

func (v Verdict) String() string {
	switch v {
	case Deny:
		return "deny"
	case Allow:
		return "allow"
	case Pair:
		return "pair"
	}
	return fmt.Sprintf("Verdict(%d)", int(v))
}

// Decision is the gate's answer to a [Request].
type Decision struct {
	Verdict Verdict
	// Owner reports that the sender is the channel account's owner: the
	// first sender approved by pairing (see [Gate.Approve]) or, while the
	// channel account has no such owner, the first allowFrom entry usable
	// on the channel. It is set only with Allow, in DMs and groups alike.
	// Only the owner's own DMs may carry /approve (see [ParseApprove]).
	Owner bool
	// Reason says why, for logs: "dm policy disabled", "not mentioned", …
	Reason string
}

// Options configures a [Gate]. The zero value of each field means its
// default.
type Options struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand is the source of pairing codes; nil means crypto/rand.
	Rand io.Reader
	// PendingTTL is how long a pairing code stays valid; 0 means 1h.
	PendingTTL time.Duration
	// MaxPending is the most pending pairing requests per channel account;
	// 0 means 3.
	MaxPending int
	// RatePerMinute is the most messages one sender may send per rolling
	// minute (see [Gate.Limit]); 0 means 20.
	RatePerMinute int
}

// Defaults of [Options].
const (
	DefaultPendingTTL    = time.Hour
	DefaultMaxPending    = 3
	DefaultRatePerMinute = 20
)

// Gate decides who may talk to the agent. Make one with [New]; it is safe
// for concurrent use.
type Gate struct {
	db         *sql.DB
	now        func() time.Time
	rand       io.Reader
	pendingTTL time.Duration
	maxPending int

	limiter limiter

	// randMu serialises reads of rand, which need not be safe for
	// concurrent use when injected.
	randMu sync.Mutex
}

// New returns a Gate that keeps pairing state in db. It does no I/O.
func New(db *store.DB, opts Options) (*Gate, error) {
	if db == nil {
		return nil, errors.New("access: store is nil")
	}
	switch {
	case opts.PendingTTL < 0:
		return nil, fmt.Errorf("access: PendingTTL %v is negative: use 0 for the default %v", opts.PendingTTL, DefaultPendingTTL)
	case opts.MaxPending < 0:
		return nil, fmt.Errorf("access: MaxPending %d is negative: use 0 for the default %d", opts.MaxPending, DefaultMaxPending)
	case opts.RatePerMinute < 0:
		return nil, fmt.Errorf("access: RatePerMinute %d is negative: use 0 for the default %d", opts.RatePerMinute, DefaultRatePerMinute)
	}
	g := &Gate{
		db:         db.SQL(),
		now:        opts.Now,
		rand:       opts.Rand,
		pendingTTL: orDefault(opts.PendingTTL, DefaultPendingTTL),
		maxPending: orDefault(opts.MaxPending, DefaultMaxPending),
	}
	if g.now == nil {
		g.now = time.Now
	}
	if g.rand == nil {
		g.rand = rand.Reader
	}
	g.limiter = limiter{
		now:        g.now,
		rate:       orDefault(opts.RatePerMinute, DefaultRatePerMinute),
		maxSenders: defaultMaxSenders,
		senders:    make(map[limitKey]*senderWindow),
	}
	return g, nil
}

// orDefault returns v, or def if v is the zero value.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Decide answers req under cfg, the configuration of req.Channel. It fails
// closed: any error comes with a Deny.
//
// DMs follow the DM policy (see [EffectiveDM] for dmPolicy against the
// nested dm form): disabled denies; open allows anyone; allowlist allows
// senders in allowFrom or approved by pairing; pairing (the default) does
// the same, and answers everyone else with Pair.
//
// Groups follow groupPolicy: disabled (the default) denies; allowlist
// allows only the groups in groups, or the Discord guilds in guilds (and,
// if the guild rule lists channels, only those channels), and only the
// senders in the rule's allowFrom if it has one; open allows any group,
// still honouring a rule that exists for it. Then, unless mentioned, the
// message is denied when requireMention is in effect: the channel rule's,
// else the guild or group rule's, else the channel's, else true.
func (g *Gate) Decide(ctx context.Context, cfg *config.Channel, req Request) (Decision, error) {
	if cfg == nil {
		return Decision{Reason: "channel not configured"}, nil
	}
	if cfg.Enabled != nil && !*cfg.Enabled {
		return Decision{Reason: "channel disabled"}, nil
	}
	if req.Channel == "" {
		return Decision{Reason: "no channel"}, nil
	}
	if req.SenderID == "" {
		return Decision{Reason: "no sender id"}, nil
	}
	var d draft
	switch req.ChatType {
	case Direct:
		d = decideDM(cfg, req)
	case Group:
		d = decideGroup(cfg, req)
	default:
		return Decision{Reason: fmt.Sprintf("unknown chat type %q", req.ChatType)}, nil
	}
	if !d.needsStore() {
		return d.Decision, nil
	}
	st, err := g.senderState(ctx, req)
	if err != nil {
		return Decision{Reason: "store error"}, fmt.Errorf("decide on %s sender %s: %w", req.Channel, req.SenderID, err)
	}
	return d.resolve(st, ownerFromConfig(cfg, req)), nil
}

// draft is a decision that may still depend on the store.
type draft struct {
	Decision
	// approvedAllows: an approved sender is allowed (else, Decision stands).
	approvedAllows bool
}

func (p draft) needsStore() bool {
	return p.Verdict == Allow || p.approvedAllows
}

// resolve completes p with the sender's stored state. ownerByConfig is
// whether the sender is the first usable allowFrom entry.
func (p draft) resolve(st senderState, ownerByConfig bool) Decision {
	d := p.Decision
	if d.Verdict != Allow && p.approvedAllows && st.approved {
		d = Decision{Verdict: Allow, Reason: "sender approved"}
	}
	if d.Verdict != Allow {
		return d
	}
	d.Owner = st.owner || (!st.ownerExists && ownerByConfig)
	return d
}

func decideDM(cfg *config.Channel, req Request) draft {
	dm := EffectiveDM(cfg)
	switch dm.Policy {
	case "disabled":
		return draft{Decision: Decision{Reason: "dm policy disabled"}}
	case "open":
		return draft{Decision: Decision{Verdict: Allow, Reason: "dm policy open"}}
	case "allowlist", "pairing":
		if matchAny(dm.AllowFrom, req.Channel, req.SenderID) {
			return draft{Decision: Decision{Verdict: Allow, Reason: "sender in allowFrom"}}
		}
		if dm.Policy == "pairing" {
			return draft{Decision: Decision{Verdict: Pair, Reason: "unknown sender: pairing"}, approvedAllows: true}
		}
		return draft{Decision: Decision{Reason: "sender not allowlisted"}, approvedAllows: true}
	}
	// Config validation rejects other values; fail closed if one slips by.
	return draft{Decision: Decision{Reason: fmt.Sprintf("unknown dm policy %q", dm.Policy)}}
}

func decideGroup(cfg *config.Channel, req Request) draft {
	policy := orDefault(cfg.GroupPolicy, "disabled")
	switch policy {
	case "disabled":
		return draft{Decision: Decision{Reason: "group policy disabled"}}
	case "allowlist", "open":
	default:
		return draft{Decision: Decision{Reason: fmt.Sprintf("unknown group policy %q", policy)}}
	}
	rule, found, reason := groupRule(cfg, req)
	if reason != "" {
		return draft{Decision: Decision{Reason: reason}}
	}
	if !found && policy == "allowlist" {
		return draft{Decision: Decision{Reason: "group not allowlisted"}}
	}
	if len(rule.allowFrom) > 0 && !matchAny(rule.allowFrom, req.Channel, req.SenderID) {
		return draft{Decision: Decision{Reason: "sender not in group allowFrom"}}
	}
	mention := true
	for _, m := range []*bool{rule.requireMention, cfg.RequireMention} {
		if m != nil {
			mention = *m
			break
		}
	}
	if mention && !req.Mentioned {
		return draft{Decision: Decision{Reason: "not mentioned"}}
	}
	if found {
		return draft{Decision: Decision{Verdict: Allow, Reason: "group allowlisted"}}
	}
	return draft{Decision: Decision{Verdict: Allow, Reason: "group policy open"}}
}

// effectiveRule is the group, guild and guild channel rules of one chat,
// merged: the most specific setting wins.
type effectiveRule struct {
	requireMention *bool
	allowFrom      []string
}

// groupRule finds the rule for req's chat. found reports that a rule names
// it; a non-empty reason means a rule (or its absence in a guild that lists
// channels) denies it.
func groupRule(cfg *config.Channel, req Request) (r effectiveRule, found bool, reason string) {
	var chain []config.GroupRule
	guild, inGuild := config.GroupRule{}, false
	if req.GuildID != "" {
		guild, inGuild = cfg.Guilds[req.GuildID]
		if !inGuild {
			guild, inGuild = cfg.Groups[req.GuildID]
		}
	}
	// A chat in a guild or workspace (Discord guild, Slack team) that no
	// rule names may still be allowlisted by its own id in groups, as a
	// Slack channel is: groups: {"C0123": {}}.
	if inGuild {
		if guild.Enabled != nil && !*guild.Enabled {
			return r, false, "guild disabled"
		}
		chain = append(chain, guild)
		if len(guild.Channels) > 0 {
			ch, ok := guild.Channels[req.ChatID]
			if !ok {
				return r, false, "guild channel not allowlisted"
			}
			if ch.Enabled != nil && !*ch.Enabled {
				return r, false, "guild channel disabled"
			}
			chain = append(chain, ch)
		}
	} else {
		group, ok := cfg.Groups[req.ChatID]
		if !ok {
			return r, false, ""
		}
		if group.Enabled != nil && !*group.Enabled {
			return r, false, "group disabled"
		}
		chain = append(chain, group)
	}
	for _, rule := range chain { // outer to inner: inner wins
		if rule.RequireMention != nil {
			r.requireMention = rule.RequireMention
		}
		if len(rule.AllowFrom) > 0 {
			r.allowFrom = rule.AllowFrom
		}
	}
	return r, true, ""
}

// senderState is what the store knows of one sender.
type senderState struct {
	approved    bool // in allowed_senders
	owner       bool // the channel account's owner
	ownerExists bool // the channel account has an owner in the store
}

func (g *Gate) senderState(ctx context.Context, req Request) (senderState, error) {
	var st senderState
	err := g.db.QueryRowContext(ctx, `SELECT
		EXISTS (SELECT 1 FROM allowed_senders WHERE channel = ?1 AND account = ?2 AND sender_id = ?3),
		EXISTS (SELECT 1 FROM allowed_senders WHERE channel = ?1 AND account = ?2 AND sender_id = ?3 AND owner = 1),
		EXISTS (SELECT 1 FROM allowed_senders WHERE channel = ?1 AND account = ?2 AND owner = 1)`,
		req.Channel, req.Account, req.SenderID).Scan(&st.approved, &st.owner, &st.ownerExists)
	return st, err
}
