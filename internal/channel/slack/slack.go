package slack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"gatehouse/internal/channel"
)

// Name is the channel's name in config and in channel.Inbound.
const Name = "slack"

// MaxMessageLen is the longest text Send puts in one message. Slack
// truncates a message's text past 40,000 characters and asks for at most
// 4,000 for readability; 4,000 also keeps a part under the hard limit
// after escaping (at most five characters for one).
const MaxMessageLen = 4000

// DefaultAPIBaseURL is the Web API's address.
const DefaultAPIBaseURL = "https://slack.com/api/"

const (
	defaultPingInterval = 30 * time.Second
	minRetryWait        = time.Second
	maxRetryWait        = 60 * time.Second
)

// Options configure an Adapter.
type Options struct {
	// BotToken is the Bot User OAuth Token (xoxb-…) from the app's OAuth &
	// Permissions page; it needs the chat:write scope, and the app's event
	// subscriptions the history scopes of the conversations it reads.
	BotToken string
	// AppToken is an app-level token (xapp-…) with the connections:write
	// scope, for Socket Mode.
	AppToken string
	// APIBaseURL is channels.slack.apiBaseUrl; "" means DefaultAPIBaseURL.
	APIBaseURL string
	// HTTPClient is the client for the Web API and the Socket Mode
	// WebSocket; nil means a new one.
	HTTPClient *http.Client
	// Logger receives the adapter's events; nil discards them.
	Logger *slog.Logger
	// Account names the app among several; "" for the default.
	Account string
	// PingInterval is how often Run pings Slack over the WebSocket, and
	// how long it waits for the answer before it reconnects; zero means
	// 30 s.
	PingInterval time.Duration
}

// Adapter is a Slack app in Socket Mode, a channel.Channel. It does not
// implement channel.Typer: Slack shows no typing indicator for a bot that
// is not on the legacy RTM API.
type Adapter struct {
	botToken     string
	appToken     string
	base         string // ends in "/"
	account      string
	http         *http.Client
	log          *slog.Logger
	pingInterval time.Duration

	health channel.Health // connection state for Status
}

var (
	_ channel.Channel  = (*Adapter)(nil)
	_ channel.Limits   = (*Adapter)(nil)
	_ channel.Statuser = (*Adapter)(nil)
)

// New returns an Adapter. It does no I/O: Run checks the tokens.
func New(opts Options) (*Adapter, error) {
	if err := checkToken("bot", opts.BotToken, "xoxb-", "the Bot User OAuth Token from OAuth & Permissions"); err != nil {
		return nil, err
	}
	if err := checkToken("app", opts.AppToken, "xapp-", "an app-level token with the connections:write scope, from Basic Information"); err != nil {
		return nil, err
	}
	base := opts.APIBaseURL
	if base == "" {
		base = DefaultAPIBaseURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("slack: channels.slack.apiBaseUrl %q is not an http(s) URL: set it to %s or remove it", redactURL(base), DefaultAPIBaseURL)
	}
	a := &Adapter{
		botToken:     opts.BotToken,
		appToken:     opts.AppToken,
		base:         strings.TrimRight(base, "/") + "/",
		account:      opts.Account,
		http:         opts.HTTPClient,
		log:          opts.Logger,
		pingInterval: opts.PingInterval,
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
	if a.pingInterval <= 0 {
		a.pingInterval = defaultPingInterval
	}
	return a, nil
}

// checkToken checks a token's form without ever echoing it.
func checkToken(kind, token, prefix, where string) error {
	switch {
	case token == "":
		return fmt.Errorf("slack: no %s token: %s", kind, addHint)
	case !strings.HasPrefix(token, prefix):
		return fmt.Errorf("slack: the %s token does not start with %s: use %s and %s", kind, prefix, where, addHint)
	case strings.ContainsFunc(token, func(r rune) bool { return r <= ' ' || r >= 0x7f }):
		return fmt.Errorf("slack: the %s token holds spaces or other characters no token has: copy it again and %s", kind, addHint)
	}
	return nil
}

// redactURL is a URL for an error: without user info, query or fragment.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

// Name returns "slack".
func (a *Adapter) Name() string { return Name }

// MaxMessageLen returns 4000.
func (a *Adapter) MaxMessageLen() int { return MaxMessageLen }

// Status reports whether the Socket Mode connection is up (Slack said
// hello), and the last error.
func (a *Adapter) Status() (bool, error) { return a.health.Status() }

// Run checks the bot token with auth.test, then receives events over
// Socket Mode and hands each new message from a person to sink, until ctx
// ends. It acknowledges an envelope only after sink returned nil for its
// message; when sink fails, Slack delivers the envelope again. It
// reconnects by itself when the connection drops or Slack asks it to.
// Run returns an *AuthError when a token is refused, a *DisabledError when
// Socket Mode was turned off for the app, and nil when ctx ends.
func (a *Adapter) Run(ctx context.Context, sink channel.Sink) error {
	defer a.health.Set(false, nil)
	var me identity
	if err := a.retry(ctx, "auth.test", func() error { return a.call(ctx, "auth.test", tokenBot, nil, &me) }); err != nil {
		return channel.IgnoreCancel(ctx, err)
	}
	if me.UserID == "" {
		err := errors.New("slack: auth.test named no bot user: check that the bot token is the Bot User OAuth Token (xoxb-…)")
		a.health.Set(false, err)
		return err
	}
	a.log.Info("bot authenticated", logKeyBot, me.UserID, logKeyTeam, me.TeamID)
	wait := minRetryWait
	for {
		start := time.Now()
		err := a.session(ctx, sink, me)
		if ctx.Err() != nil {
			return nil
		}
		a.health.Set(false, err)
		var auth *AuthError
		var disabled *DisabledError
		if errors.As(err, &auth) || errors.As(err, &disabled) {
			return err
		}
		var dis *disconnectError
		if errors.As(err, &dis) && dis.refresh() {
			a.log.Info("slack asked to reconnect", logKeyReason, dis.Reason)
			wait = minRetryWait
			continue
		}
		if time.Since(start) > maxRetryWait {
			wait = minRetryWait
		}
		d := wait
		var ra *channel.RetryAfterError
		if errors.As(err, &ra) {
			d = ra.After
		} else {
			wait = min(2*wait, maxRetryWait)
		}
		a.log.Warn("socket mode connection lost", logKeyRetryIn, d, logKeyError, err)
		if !channel.Sleep(ctx, d) {
			return nil
		}
	}
}

// retry runs f until it succeeds, fails with an *AuthError, or ctx ends,
// waiting between attempts as Slack asks or with a growing backoff.
func (a *Adapter) retry(ctx context.Context, what string, f func() error) error {
	return channel.Retry{
		Health: &a.health, Log: a.log, Event: "web api request failed", MarkUp: false,
		Fatal: isAuthError,
	}.Do(ctx, what, f)
}

// Send posts out with chat.postMessage, in parts of at most MaxMessageLen
// characters, into out.ThreadID's thread when it is set. The text is
// escaped, so nothing the model writes becomes a mention or a link label,
// and links are not unfurled, so Slack fetches no URL the model wrote.
// Slack has no quoted replies: out.ReplyTo is not used. Blank text sends
// nothing. Slack's 429 returns a *channel.RetryAfterError.
func (a *Adapter) Send(ctx context.Context, out channel.Outbound) error {
	if out.ChatID == "" {
		return errors.New("slack: chat.postMessage: no channel id to send to")
	}
	parts := channel.Split(out.Text, MaxMessageLen)
	for i, part := range parts {
		form := url.Values{
			"channel":      {out.ChatID},
			"text":         {escape(part)},
			"unfurl_links": {"false"},
			"unfurl_media": {"false"},
		}
		if out.ThreadID != "" {
			form.Set("thread_ts", out.ThreadID)
		}
		if err := a.call(ctx, "chat.postMessage", tokenBot, form, nil); err != nil {
			if i > 0 {
				return fmt.Errorf("slack: part %d of %d: %w", i+1, len(parts), err)
			}
			return err
		}
	}
	return nil
}

// isAuthError reports a refused token: retrying cannot fix it.
func isAuthError(err error) bool {
	var auth *AuthError
	return errors.As(err, &auth)
}
