package gateway

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"gatehouse/internal/access"
	"gatehouse/internal/agent"
	"gatehouse/internal/channel"
	"gatehouse/internal/channel/discord"
	"gatehouse/internal/channel/slack"
	"gatehouse/internal/channel/telegram"
	"gatehouse/internal/config"
	"gatehouse/internal/store"
)

// router is the main job of the gateway, as ARCHITECTURE.md draws it:
// platform → adapter → inbox (recorded before the platform is acked) →
// access gate → agent → outbox (retried, never sent twice) → adapter.
//
// Inbound messages are processed by a fixed set of workers; a chat always
// maps to the same worker, so its messages are answered in order.
type router struct {
	log      *slog.Logger
	queue    *channel.Queue
	gate     *access.Gate
	agent    func() *agent.Agent
	cfg      func() *config.Config
	channels map[string]channel.Channel
	manager  *channel.Manager

	wake chan struct{}

	// mu guards inflight: inbound messages handed to a worker and not
	// yet completed, so a rescan does not hand them out twice.
	mu       sync.Mutex
	inflight map[string]bool
}

// routerWorkers is how many inbound messages are handled at once.
const routerWorkers = 8

// channelConfigs lists the configured and enabled channels.
func channelConfigs(cfg *config.Config) map[string]*config.Channel {
	out := map[string]*config.Channel{}
	for name, ch := range map[string]*config.Channel{
		"telegram": cfg.Channels.Telegram, "discord": cfg.Channels.Discord,
		"slack": cfg.Channels.Slack, "webchat": cfg.Channels.Webchat,
	} {
		if ch == nil || (ch.Enabled != nil && !*ch.Enabled) {
			continue
		}
		if p, ok := cfg.Plugins.Entries[name]; ok && !p.Enabled {
			continue // "plugins disable NAME" keeps the config, stops the channel
		}
		out[name] = ch
	}
	return out
}

// newRouter builds the adapters of the configured channels. A channel this
// build cannot run yet is logged and skipped; the others still start.
func newRouter(ctx context.Context, o RunOptions, db *store.DB, log *slog.Logger, cfg func() *config.Config,
	agentNow func() *agent.Agent, resolve func(config.Secret) (string, error)) (*router, error) {
	gate, err := access.New(db, access.Options{})
	if err != nil {
		return nil, err
	}
	r := &router{
		log:      log.With(keyComponent, "router"),
		queue:    newQueue(db, log),
		gate:     gate,
		agent:    agentNow,
		cfg:      cfg,
		channels: map[string]channel.Channel{},
		wake:     make(chan struct{}, 1),
		inflight: map[string]bool{},
	}
	var list []channel.Channel
	for name, ch := range channelConfigs(cfg()) {
		switch name {
		case "telegram":
			tok, err := resolve(ch.Token)
			if err != nil {
				log.Error("telegram: no usable bot token; the channel is off", "err", err,
					"fix", "gatehouse channels add --channel telegram --token TOKEN")
				continue
			}
			a, err := telegram.New(telegram.Options{
				Token: tok, APIBaseURL: ch.APIBaseURL, Logger: log.With(keyComponent, "telegram"),
				Offsets: r.queue, HTTPClient: &http.Client{Timeout: 60 * time.Second},
			})
			if err != nil {
				log.Error("telegram: the channel is off", "err", err)
				continue
			}
			r.channels[name] = a
			list = append(list, a)
		case "discord":
			tok, err := resolve(ch.Token)
			if err != nil {
				log.Error("discord: no usable bot token; the channel is off", "err", err,
					"fix", "gatehouse channels add --channel discord --token -")
				continue
			}
			a, err := discord.New(discord.Options{Token: tok, APIBaseURL: ch.APIBaseURL, Logger: log.With(keyComponent, "discord")})
			if err != nil {
				log.Error("discord: the channel is off", "err", err)
				continue
			}
			r.channels[name] = a
			list = append(list, a)
		case "slack":
			bot, err := resolve(ch.Token)
			if err == nil {
				var app string
				if app, err = resolve(ch.AppToken); err == nil {
					var a *slack.Adapter
					if a, err = slack.New(slack.Options{BotToken: bot, AppToken: app, APIBaseURL: ch.APIBaseURL, Logger: log.With(keyComponent, "slack")}); err == nil {
						r.channels[name] = a
						list = append(list, a)
						continue
					}
				}
			}
			log.Error("slack: the channel is off", "err", err,
				"fix", "gatehouse channels add --channel slack --token xoxb-… --app-token xapp-…")
		default:
			log.Warn("this channel is configured but not available in this version; it stays off", "channel", name)
		}
	}
	// Long replies are split into one outbox row per platform message, so a
	// retry never re-sends a part that already went out.
	r.queue.MaxLen = func(name string) int {
		if l, ok := r.channels[name].(channel.Limits); ok {
			return l.MaxMessageLen()
		}
		return 0
	}
	r.manager = channel.NewManager(log.With(keyComponent, "channels"), r.sink, list...)
	return r, nil
}

// sink records an inbound message in the inbox; only then may the adapter
// acknowledge it to the platform.
func (r *router) sink(ctx context.Context, in channel.Inbound) error {
	fresh, err := r.queue.Receive(ctx, in)
	if err != nil {
		return err
	}
	if fresh {
		r.poke()
	}
	return nil
}

func (r *router) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// States reports each channel's connection.
func (r *router) States() []channel.State { return r.manager.States() }

// Run runs the adapters, the inbound workers and the outbox sender until ctx
// ends. Messages left in the inbox by a crash are processed first.
func (r *router) Run(ctx context.Context) error {
	if len(r.channels) == 0 {
		<-ctx.Done()
		return nil
	}
	var wg sync.WaitGroup
	work := make([]chan channel.Inbound, routerWorkers)
	for i := range work {
		work[i] = make(chan channel.Inbound, 64)
		wg.Add(1)
		go func(ch chan channel.Inbound) {
			defer wg.Done()
			for in := range ch {
				r.handle(ctx, in)
				r.done(in)
			}
		}(work[i])
	}
	wg.Add(2)
	go func() { defer wg.Done(); r.manager.Run(ctx) }()
	go func() {
		defer wg.Done()
		r.queue.RunSender(ctx, func(ctx context.Context, out channel.Outbound) error {
			ch, ok := r.channels[out.Channel]
			if !ok {
				return fmt.Errorf("channel %s is not running", out.Channel)
			}
			return ch.Send(ctx, out)
		})
	}()

	r.poke() // the inbox may hold what a crash left
	for {
		select {
		case <-ctx.Done():
			for _, ch := range work {
				close(ch)
			}
			wg.Wait()
			return nil
		case <-r.wake:
		}
		pending, err := r.queue.Pending(ctx)
		if err != nil {
			if ctx.Err() == nil {
				r.log.Warn("read the inbox", keyErr, err)
			}
			continue
		}
		for _, in := range pending {
			if !r.claim(in) {
				continue
			}
			select {
			case work[workerOf(in)] <- in:
			case <-ctx.Done():
			}
		}
	}
}

func inboxKey(in channel.Inbound) string {
	return in.Channel + "\x00" + in.Account + "\x00" + in.MessageID
}

func workerOf(in channel.Inbound) int {
	h := fnv.New32a()
	h.Write([]byte(in.Channel + "\x00" + in.Account + "\x00" + in.ChatID))
	return int(h.Sum32() % routerWorkers)
}

func (r *router) claim(in channel.Inbound) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := inboxKey(in)
	if r.inflight[k] {
		return false
	}
	r.inflight[k] = true
	return true
}

func (r *router) done(in channel.Inbound) {
	r.mu.Lock()
	delete(r.inflight, inboxKey(in))
	r.mu.Unlock()
	r.poke()
}

// handle decides and answers one inbound message, then completes it in the
// inbox together with its replies. If ctx ends first it leaves the message
// pending, so the next start answers it.
func (r *router) handle(ctx context.Context, in channel.Inbound) {
	replies := r.answer(ctx, in)
	if ctx.Err() != nil {
		return
	}
	if err := r.queue.Complete(ctx, in, replies); err != nil && !errors.Is(err, channel.ErrCompleted) {
		r.log.Warn("complete an inbound message", keyErr, err, "channel", in.Channel)
	}
}

func reply(in channel.Inbound, text string) []channel.Outbound {
	return []channel.Outbound{{Channel: in.Channel, Account: in.Account, ChatID: in.ChatID, ThreadID: in.ThreadID, Text: text}}
}

func (r *router) answer(ctx context.Context, in channel.Inbound) []channel.Outbound {
	chcfg := channelConfigs(r.cfg())[in.Channel]
	req := access.Request{Channel: in.Channel, Account: in.Account, SenderID: in.SenderID, ChatID: in.ChatID,
		ChatType: in.ChatType, GuildID: in.GuildID, ThreadID: in.ThreadID, Mentioned: in.Mentioned}
	dec, err := r.gate.Decide(ctx, chcfg, req)
	if err != nil {
		r.log.Warn("access decision failed; the message is ignored", keyErr, err, "channel", in.Channel)
		return nil
	}
	switch dec.Verdict {
	case access.Deny:
		r.log.Debug("message ignored", "channel", in.Channel, "reason", dec.Reason)
		return nil
	case access.Pair:
		if ok, _ := r.gate.Limit(req); !ok {
			return nil
		}
		code, fresh, err := r.gate.PairingCode(ctx, req)
		if errors.Is(err, access.ErrTooManyPending) {
			return reply(in, "This assistant is private, and too many people are waiting for approval right now. Please try again later.")
		}
		if err != nil {
			r.log.Warn("pairing code", keyErr, err)
			return nil
		}
		if fresh {
			r.log.Info("pairing requested", "channel", in.Channel, "sender", in.SenderID)
		}
		return reply(in, fmt.Sprintf("This assistant is private. Your pairing code is %s.\nAsk its owner to approve it with:\ngatehouse pairing approve %s %s", code, in.Channel, code))
	}

	allowed, notify := r.gate.Limit(req)
	if !allowed {
		if notify {
			return reply(in, "You are sending messages faster than I can answer. Please wait a minute.")
		}
		return nil
	}
	if code, ok := access.ParseApprove(in.Text); ok && dec.Owner && in.ChatType == access.Direct {
		a, err := r.gate.Approve(ctx, in.Channel, code)
		if err != nil {
			return reply(in, err.Error())
		}
		return reply(in, fmt.Sprintf("Approved sender %s on %s.", a.SenderID, a.Channel))
	}
	ag := r.agent()
	if ag == nil {
		if dec.Owner {
			return reply(in, "No model is configured yet: run gatehouse config set agents.defaults.model.primary PROVIDER/MODEL on the gateway host.")
		}
		return nil
	}
	// Messages the agent sends with the message tool go out with the
	// reply, in order, in the transaction that settles the inbound: a
	// crash never sends them twice.
	var said []channel.Outbound
	var saidMu sync.Mutex
	say := func(_ context.Context, text string) error {
		saidMu.Lock()
		defer saidMu.Unlock()
		if len(said) >= maxSaidPerTurn {
			return fmt.Errorf("at most %d messages per turn: put the rest in the reply", maxSaidPerTurn)
		}
		said = append(said, reply(in, text)...)
		return nil
	}
	res, err := ag.Turn(ctx, agent.Inbound{
		Channel: in.Channel, Account: in.Account, PeerID: in.SenderID, ChatID: in.ChatID,
		ChatType: in.ChatType, Owner: dec.Owner, Text: in.Text, Say: say,
	}, nil)
	saidMu.Lock()
	defer saidMu.Unlock()
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		var be *agent.BudgetError
		switch {
		case errors.As(err, &be) && dec.Owner:
			return reply(in, be.Error())
		case errors.Is(err, agent.ErrStopped):
			return nil
		}
		r.log.Warn("turn failed", keyErr, err, "channel", in.Channel)
		if dec.Owner {
			if re := turnError(err); re != nil {
				return reply(in, "The turn failed: "+re.Message)
			}
		}
		return reply(in, "Sorry, I could not answer that. The owner can see why in the gateway log.")
	}
	if res.Text == "" {
		return said
	}
	return append(said, reply(in, res.Text)...)
}

// maxSaidPerTurn bounds the messages one turn sends with the message tool.
const maxSaidPerTurn = 5

// notifyOwners sends text to the owner of every running channel, in their
// private chat (on Telegram the owner's user id is that chat's id).
func (r *router) notifyOwners(ctx context.Context, text string) {
	for name := range r.channels {
		owners, err := r.gate.Allowed(ctx, name)
		if err != nil {
			continue
		}
		for _, o := range owners {
			if !o.Owner {
				continue
			}
			if err := r.queue.Enqueue(ctx, channel.Outbound{Channel: name, Account: o.Account, ChatID: o.SenderID, Text: text}); err != nil {
				r.log.Warn("notify the owner", keyErr, err, "channel", name)
			}
		}
	}
}

// newQueue is the inbox and outbox on db, sharing the store's write lock
// with the agent.
func newQueue(db *store.DB, log *slog.Logger) *channel.Queue {
	q := channel.NewQueue(db.SQL(), log.With(keyComponent, "outbox"))
	q.WriteLock = db.WriteLock()
	return q
}
