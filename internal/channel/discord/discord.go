package discord

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"gatehouse/internal/channel"
)

// Name is the channel's name in config and in channel.Inbound.
const Name = "discord"

// MaxMessageLen is the longest content a message takes, in characters.
const MaxMessageLen = 2000

// DefaultAPIBaseURL is the HTTP API's address, version 10.
const DefaultAPIBaseURL = "https://discord.com/api/v10"

// maxDMs bounds the remembered user → DM channel map.
const maxDMs = 4096

// errUnknownChannel is Discord's JSON error code 10003.
const errUnknownChannel = 10003

// Options configure an Adapter.
type Options struct {
	// Token is the bot token from the Developer Portal (Bot → Token).
	Token string
	// APIBaseURL is channels.discord.apiBaseUrl; "" means
	// DefaultAPIBaseURL. It must be https, or http on a loopback host.
	APIBaseURL string
	// GatewayURL is the gateway's WebSocket address, for tests; "" means
	// the one GET /gateway/bot answers. It must be wss, or ws on a
	// loopback host.
	GatewayURL string
	// HTTPClient is the client for the HTTP API and the gateway's
	// WebSocket handshake; nil means a new one.
	HTTPClient *http.Client
	// Logger receives the adapter's events; nil discards them.
	Logger *slog.Logger
	// Account names the bot among several; "" for the default.
	Account string
}

// Adapter is a Discord bot, a channel.Channel. Send and Typing may be
// called while Run runs.
type Adapter struct {
	token      string
	base       string
	gatewayURL string
	account    string
	http       *http.Client
	log        *slog.Logger

	// Waits, which tests shorten: minBackoff and maxBackoff bound the wait
	// before a reconnection that follows a failed one; reidentifyWait is
	// the most to wait before a fresh IDENTIFY after INVALID_SESSION
	// (Discord asks for a random 1–5 s); helloTimeout bounds the wait for
	// HELLO and for the answer to IDENTIFY or RESUME.
	minBackoff, maxBackoff time.Duration
	reidentifyWait         time.Duration
	helloTimeout           time.Duration

	health channel.Health // connection state for Status

	mu  sync.Mutex        // guards dms
	dms map[string]string // user id → DM channel id, learned from MESSAGE_CREATE
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
		return nil, fmt.Errorf("%s: no bot token: %s", label(opts.Account), tokenHint)
	}
	if strings.ContainsAny(opts.Token, " \t\r\n") || strings.HasPrefix(opts.Token, "Bot ") {
		return nil, fmt.Errorf("%s: the bot token is malformed (it has spaces, or a \"Bot \" prefix): %s", label(opts.Account), tokenHint)
	}
	base := opts.APIBaseURL
	if base == "" {
		base = DefaultAPIBaseURL
	}
	if err := checkURL(base, "https", "http"); err != nil {
		return nil, fmt.Errorf("%s: channels.discord.apiBaseUrl %q: %v: set it to %s or remove it", label(opts.Account), base, err, DefaultAPIBaseURL)
	}
	if opts.GatewayURL != "" {
		if err := checkURL(opts.GatewayURL, "wss", "ws"); err != nil {
			return nil, fmt.Errorf("%s: gateway URL %q: %v: leave it empty to ask Discord", label(opts.Account), opts.GatewayURL, err)
		}
	}
	a := &Adapter{
		token:          opts.Token,
		base:           strings.TrimRight(base, "/"),
		gatewayURL:     opts.GatewayURL,
		account:        opts.Account,
		http:           opts.HTTPClient,
		log:            opts.Logger,
		minBackoff:     time.Second,
		maxBackoff:     60 * time.Second,
		reidentifyWait: 5 * time.Second,
		helloTimeout:   30 * time.Second,
		dms:            make(map[string]string),
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
	return a, nil
}

// checkURL accepts an absolute URL with the secure scheme, or the
// insecure one on a loopback host only: the token must not cross a network
// in clear text.
func checkURL(raw, secure, insecure string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" {
		return fmt.Errorf("not an absolute %s URL", secure)
	}
	switch u.Scheme {
	case secure:
		return nil
	case insecure:
		if h := u.Hostname(); h == "localhost" || net.ParseIP(h).IsLoopback() {
			return nil
		}
		return fmt.Errorf("%s is allowed on a loopback host only (the token would travel in clear text)", insecure)
	}
	return fmt.Errorf("the scheme must be %s", secure)
}

// Name returns "discord".
func (a *Adapter) Name() string { return Name }

// MaxMessageLen returns 2000.
func (a *Adapter) MaxMessageLen() int { return MaxMessageLen }

// Status reports whether the gateway session is up (READY or RESUMED
// received, the connection not lost since), and the last error.
func (a *Adapter) Status() (bool, error) { return a.health.Status() }

// rememberDM records that user's DM channel is chat.
func (a *Adapter) rememberDM(user, chat string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.dms[user]; !ok && len(a.dms) >= maxDMs {
		clear(a.dms)
	}
	a.dms[user] = chat
}

// dmChannel returns the DM channel of the user id, or id itself.
func (a *Adapter) dmChannel(id string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if chat, ok := a.dms[id]; ok {
		return chat
	}
	return id
}

type createMessage struct {
	Content          string            `json:"content"`
	AllowedMentions  allowedMentions   `json:"allowed_mentions"`
	MessageReference *messageReference `json:"message_reference,omitempty"`
}

// allowedMentions with an empty Parse lets no mention in the content ping
// anyone: not @everyone, @here, a role or a user.
type allowedMentions struct {
	Parse       []string `json:"parse"`
	RepliedUser bool     `json:"replied_user"`
}

type messageReference struct {
	MessageID       string `json:"message_id"`
	FailIfNotExists bool   `json:"fail_if_not_exists"`
}

// Send posts out.Text to the channel out.ChatID (out.ThreadID, a thread's
// channel id, when set), in parts of at most 2000 characters, the first
// replying to out.ReplyTo when set. No mention in the text pings anyone.
// A ChatID that is a user id goes to that user's DM channel. Blank text
// sends nothing. Discord's 429 returns a *channel.RetryAfterError.
func (a *Adapter) Send(ctx context.Context, out channel.Outbound) error {
	chat := a.dmChannel(out.ChatID)
	if out.ThreadID != "" {
		chat = out.ThreadID
	}
	if !snowflake(chat) {
		return fmt.Errorf("discord: chat id %q is not a Discord channel or user id", chat)
	}
	parts := channel.Split(out.Text, MaxMessageLen)
	for i, part := range parts {
		m := createMessage{Content: part, AllowedMentions: allowedMentions{Parse: []string{}}}
		if i == 0 && snowflake(out.ReplyTo) {
			m.MessageReference = &messageReference{MessageID: out.ReplyTo}
		}
		err := a.call(ctx, "create message", http.MethodPost, "/channels/"+chat+"/messages", m, nil)
		var apiErr *APIError
		if i == 0 && errors.As(err, &apiErr) && apiErr.Code == errUnknownChannel && out.ThreadID == "" {
			// Not a channel: perhaps a user, whose DM channel we have not seen.
			if dm, dmErr := a.openDM(ctx, chat); dmErr == nil {
				chat = dm
				err = a.call(ctx, "create message", http.MethodPost, "/channels/"+chat+"/messages", m, nil)
			}
		}
		if err != nil {
			if i > 0 {
				return fmt.Errorf("discord: part %d of %d: %w", i+1, len(parts), err)
			}
			return err
		}
	}
	return nil
}

// openDM opens (or finds) the DM channel with user and remembers it.
func (a *Adapter) openDM(ctx context.Context, user string) (string, error) {
	var ch struct {
		ID string `json:"id"`
	}
	if err := a.call(ctx, "create DM", http.MethodPost, "/users/@me/channels", map[string]string{"recipient_id": user}, &ch); err != nil {
		return "", err
	}
	if !snowflake(ch.ID) {
		return "", fmt.Errorf("discord: create DM: answer without a channel id")
	}
	a.rememberDM(user, ch.ID)
	return ch.ID, nil
}

// Typing shows "typing…" in chatID for about ten seconds. It is best
// effort: an error answer or a rate limit is logged and returns nil.
func (a *Adapter) Typing(ctx context.Context, chatID string) error {
	chat := a.dmChannel(chatID)
	if !snowflake(chat) {
		return fmt.Errorf("discord: chat id %q is not a Discord channel id", chat)
	}
	err := a.call(ctx, "trigger typing", http.MethodPost, "/channels/"+chat+"/typing", nil, nil)
	var apiErr *APIError
	var ra *channel.RetryAfterError
	if errors.As(err, &apiErr) || errors.As(err, &ra) {
		a.log.Debug("typing indicator refused", logKeyError, err)
		return nil
	}
	return err
}
