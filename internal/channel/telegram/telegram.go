package telegram

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"gatehouse/internal/channel"
)

// Name is the channel's name in config and in channel.Inbound.
const Name = "telegram"

// MaxMessageLen is the longest text sendMessage takes.
const MaxMessageLen = 4096

// DefaultAPIBaseURL is the Bot API's address.
const DefaultAPIBaseURL = "https://api.telegram.org"

const (
	defaultPollTimeout = 25 * time.Second
	maxRetryWait       = 60 * time.Second
)

// OffsetStore keeps the next getUpdates offset, so that a restart neither
// asks for what was acknowledged nor skips what was not.
// *channel.Queue implements it.
type OffsetStore interface {
	LoadOffset(ctx context.Context, channel, account string) (int64, error)
	SaveOffset(ctx context.Context, channel, account string, offset int64) error
}

// Options configure an Adapter.
type Options struct {
	// Token is the bot token from BotFather.
	Token string
	// APIBaseURL is channels.telegram.apiBaseUrl; "" means
	// DefaultAPIBaseURL.
	APIBaseURL string
	// HTTPClient is the client for the Bot API; nil means a new one. Its
	// Timeout, if any, must exceed PollTimeout.
	HTTPClient *http.Client
	// Logger receives the adapter's events; nil discards them.
	Logger *slog.Logger
	// Account names the bot among several; "" for the default.
	Account string
	// Offsets keeps the getUpdates offset across restarts; nil keeps it in
	// memory only (the inbox's dedup then absorbs Telegram's re-deliveries).
	Offsets OffsetStore
	// PollTimeout is getUpdates' long-poll timeout; zero means 25 s.
	PollTimeout time.Duration
	// IdleWait is the least time between two polls that came back empty
	// at once, which a server without long polling does; zero means 1 s.
	IdleWait time.Duration
}

// Adapter is a Telegram bot, a channel.Channel.
type Adapter struct {
	token       string
	base        string
	account     string
	http        *http.Client
	log         *slog.Logger
	offsets     OffsetStore
	pollTimeout time.Duration
	idleWait    time.Duration

	health channel.Health // connection state for Status
}

var (
	_ channel.Channel  = (*Adapter)(nil)
	_ channel.Typer    = (*Adapter)(nil)
	_ channel.Limits   = (*Adapter)(nil)
	_ channel.Statuser = (*Adapter)(nil)
)

// New returns an Adapter. It does no I/O: Run checks the token.
func New(opts Options) (*Adapter, error) {
	if opts.Token == "" {
		return nil, errors.New("telegram: no bot token: run gatehouse channels add --channel telegram --token …")
	}
	if strings.ContainsAny(opts.Token, "/?#%@ \t\r\n") {
		return nil, errors.New("telegram: the bot token is malformed (it looks like 123456:ABC-DEF…): run gatehouse channels add --channel telegram --token …")
	}
	base := opts.APIBaseURL
	if base == "" {
		base = DefaultAPIBaseURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("telegram: channels.telegram.apiBaseUrl %q is not an http(s) URL: set it to %s or remove it", base, DefaultAPIBaseURL)
	}
	a := &Adapter{
		token:       opts.Token,
		base:        strings.TrimRight(base, "/"),
		account:     opts.Account,
		http:        opts.HTTPClient,
		log:         opts.Logger,
		offsets:     opts.Offsets,
		pollTimeout: opts.PollTimeout,
		idleWait:    opts.IdleWait,
	}
	if a.http == nil {
		a.http = &http.Client{}
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	a.log = a.log.With(logKeyComponent, Name)
	if a.account != "" {
		a.log = a.log.With(logKeyAccount, a.account)
	}
	if a.offsets == nil {
		a.offsets = &memOffsets{}
	}
	if a.pollTimeout <= 0 {
		a.pollTimeout = defaultPollTimeout
	}
	if a.idleWait <= 0 {
		a.idleWait = time.Second
	}
	return a, nil
}

// Name returns "telegram".
func (a *Adapter) Name() string { return Name }

// MaxMessageLen returns 4096.
func (a *Adapter) MaxMessageLen() int { return MaxMessageLen }

// Status reports whether the last Bot API poll succeeded, and the last
// error.
func (a *Adapter) Status() (bool, error) { return a.health.Status() }

// Run polls getUpdates and hands each text message to sink, in order,
// until ctx ends. It advances the offset past an update only once sink
// returned nil for it and for every update before it; it retries an update
// whose sink failed. Run returns an *AuthError when the token is refused,
// and nil when ctx ends.
func (a *Adapter) Run(ctx context.Context, sink channel.Sink) error {
	defer a.health.Set(false, nil)
	var me User
	if err := a.retry(ctx, "getMe", func() error { return a.call(ctx, "getMe", struct{}{}, &me) }); err != nil {
		return channel.IgnoreCancel(ctx, err)
	}
	a.log.Info("channel connected", logKeyBot, me.Username)
	var offset int64
	if err := a.retry(ctx, "load offset", func() (err error) {
		offset, err = a.offsets.LoadOffset(ctx, Name, a.account)
		return err
	}); err != nil {
		return channel.IgnoreCancel(ctx, err)
	}
	for {
		var batch []json.RawMessage
		start := time.Now()
		err := a.retry(ctx, "getUpdates", func() error {
			pctx, cancel := context.WithTimeout(ctx, a.pollTimeout+15*time.Second)
			defer cancel()
			batch = nil
			return a.call(pctx, "getUpdates", getUpdatesParams{
				Offset:         offset,
				Timeout:        int(a.pollTimeout / time.Second),
				AllowedUpdates: []string{"message"},
			}, &batch)
		})
		if err != nil {
			return channel.IgnoreCancel(ctx, err)
		}
		next, err := a.handle(ctx, sink, me, offset, batch)
		if next != offset {
			offset = next
			if err := a.offsets.SaveOffset(ctx, Name, a.account, offset); err != nil && ctx.Err() == nil {
				// Not fatal: Telegram re-delivers and the inbox deduplicates.
				a.log.Warn("offset not saved", logKeyError, err)
			}
		}
		if err != nil {
			return channel.IgnoreCancel(ctx, err)
		}
		if len(batch) == 0 && time.Since(start) < a.idleWait {
			if !channel.Sleep(ctx, a.idleWait) {
				return nil
			}
		}
	}
}

// handle gives batch's messages to sink in order and returns the offset
// past the last update handled. It returns early only when ctx ends.
func (a *Adapter) handle(ctx context.Context, sink channel.Sink, me User, offset int64, batch []json.RawMessage) (int64, error) {
	for _, raw := range batch {
		u, err := DecodeUpdate(raw)
		if err != nil {
			// Unreadable even for its id: the next update's offset
			// acknowledges it.
			a.log.Warn("update skipped", logKeyError, err)
			continue
		}
		if u.UpdateID < offset {
			continue // acknowledged before: a server ignoring offset sent it again
		}
		if in, ok := inbound(u, me, a.account); ok {
			if err := a.deliver(ctx, sink, in); err != nil {
				return offset, err
			}
		}
		offset = u.UpdateID + 1
	}
	return offset, nil
}

// deliver calls sink until it returns nil or ctx ends.
func (a *Adapter) deliver(ctx context.Context, sink channel.Sink, in channel.Inbound) error {
	wait := 100 * time.Millisecond
	for {
		err := sink(ctx, in)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		a.log.Warn("inbound message not recorded, retrying", logKeyUpdate, in.MessageID, logKeyRetryIn, wait, logKeyError, err)
		if !channel.Sleep(ctx, wait) {
			return ctx.Err()
		}
		wait = min(2*wait, maxRetryWait/2)
	}
}

// retry runs f until it succeeds, fails with an *AuthError, or ctx ends,
// waiting between attempts as Telegram asks or with a growing backoff.
func (a *Adapter) retry(ctx context.Context, what string, f func() error) error {
	return channel.Retry{
		Health: &a.health, Log: a.log, Event: "bot api request failed", MarkUp: true,
		Fatal: isAuthError,
	}.Do(ctx, what, f)
}

type getUpdatesParams struct {
	Offset         int64    `json:"offset,omitempty"`
	Timeout        int      `json:"timeout"`
	AllowedUpdates []string `json:"allowed_updates"`
}

type sendMessageParams struct {
	ChatID          any              `json:"chat_id"`
	MessageThreadID int64            `json:"message_thread_id,omitempty"`
	Text            string           `json:"text"`
	ReplyParameters *replyParameters `json:"reply_parameters,omitempty"`
}

type replyParameters struct {
	MessageID                int64 `json:"message_id"`
	AllowSendingWithoutReply bool  `json:"allow_sending_without_reply"`
}

// Send sends out as plain text (no parse_mode, so nothing the model writes
// is read as markup), in parts of at most 4096 characters. Text that is
// blank sends nothing. Telegram's 429 returns a *channel.RetryAfterError.
func (a *Adapter) Send(ctx context.Context, out channel.Outbound) error {
	parts := channel.Split(out.Text, MaxMessageLen)
	for i, part := range parts {
		p := sendMessageParams{ChatID: chatID(out.ChatID), Text: part}
		if out.ThreadID != "" {
			id, err := strconv.ParseInt(out.ThreadID, 10, 64)
			if err != nil {
				return fmt.Errorf("telegram: thread id %q is not a Telegram message_thread_id", out.ThreadID)
			}
			p.MessageThreadID = id
		}
		if id, err := strconv.ParseInt(out.ReplyTo, 10, 64); err == nil && i == 0 {
			p.ReplyParameters = &replyParameters{MessageID: id, AllowSendingWithoutReply: true}
		}
		if err := a.call(ctx, "sendMessage", p, nil); err != nil {
			if i > 0 {
				return fmt.Errorf("telegram: part %d of %d: %w", i+1, len(parts), err)
			}
			return err
		}
	}
	return nil
}

// Typing shows "typing…" in chatID. It is best effort: an error answer
// (Telegram's error JSON, or the HTTP 500 of test servers that lack
// sendChatAction) or a rate limit is logged and returns nil.
func (a *Adapter) Typing(ctx context.Context, chatIDText string) error {
	err := a.call(ctx, "sendChatAction", map[string]any{"chat_id": chatID(chatIDText), "action": "typing"}, nil)
	var apiErr *APIError
	var ra *channel.RetryAfterError
	if errors.As(err, &apiErr) || errors.As(err, &ra) {
		a.log.Debug("typing indicator refused", logKeyError, err)
		return nil
	}
	return err
}

// chatID is a chat id as the Bot API takes it: an integer, or an
// @channelusername string.
func chatID(s string) any {
	if id, err := strconv.ParseInt(s, 10, 64); err == nil {
		return id
	}
	return s
}

// memOffsets keeps the offset in memory.
type memOffsets struct {
	mu  sync.Mutex
	off int64
}

func (m *memOffsets) LoadOffset(context.Context, string, string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.off, nil
}

func (m *memOffsets) SaveOffset(_ context.Context, _, _ string, off int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.off = off
	return nil
}

// isAuthError reports a refused token: retrying cannot fix it.
func isAuthError(err error) bool {
	var auth *AuthError
	return errors.As(err, &auth)
}
