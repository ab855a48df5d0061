package agent

import (
	"context"
	"fmt"
	"strings"

	"gatehouse/internal/tool"
)

// Chat commands, answered without a model.
const (
	cmdNew    = "new"
	cmdReset  = "reset"
	cmdStatus = "status"
	cmdStop   = "stop"
)

// parseCommand recognises a chat command: the message's first word is
// /new, /reset, /status or /stop, in any case, optionally addressed to a
// bot as /new@name (Telegram groups). Words after it are ignored.
func parseCommand(text string) (string, bool) {
	f := strings.Fields(text)
	if len(f) == 0 || !strings.HasPrefix(f[0], "/") {
		return "", false
	}
	w, _, _ := strings.Cut(f[0][1:], "@")
	switch w = strings.ToLower(w); w {
	case cmdNew, cmdReset, cmdStatus, cmdStop:
		return w, true
	}
	return "", false
}

// command runs a chat command for the session key.
func (a *Agent) command(ctx context.Context, st settings, key, cmd string) (*TurnResult, error) {
	res := &TurnResult{SessionKey: key, Command: true}
	switch cmd {
	case cmdStop:
		// Not behind the session's queue: the point is to end the turn
		// that holds it.
		if a.stopRunning(key) {
			res.Text = "Stopped."
		} else {
			res.Text = "Nothing is running."
		}
	case cmdNew, cmdReset:
		if err := a.reset(ctx, key); err != nil {
			return nil, err
		}
		res.Text = "Started a new conversation: the earlier messages of this chat are forgotten."
	case cmdStatus:
		text, err := a.statusText(ctx, st, key)
		if err != nil {
			return nil, err
		}
		res.Text = text
	}
	return res, nil
}

// reset stops the running turn, waits for the session, and clears its
// history and summary.
func (a *Agent) reset(ctx context.Context, key string) error {
	a.stopRunning(key)
	s, err := a.acquire(ctx, key)
	if err != nil {
		return err
	}
	defer a.release(key, s)
	return a.resetSession(ctx, key)
}

// statusText answers /status.
func (a *Agent) statusText(ctx context.Context, st settings, key string) (string, error) {
	ss, err := a.SessionStatus(ctx, key)
	if err != nil {
		return "", err
	}
	model := ss.Model
	if model == "" {
		model = st.primary
	}
	if model == "" {
		model = "(none configured)"
	}
	usd, tokens, err := a.spentToday(ctx, dayOf(a.now()))
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Session: %s\nModel: %s\nMessages: %d\n", key, model, ss.Messages)
	fmt.Fprintf(&b, "Today (UTC), this session: %d tokens, $%s\n", ss.TokensToday, dollars(ss.CostTodayUSD))
	fmt.Fprintf(&b, "Today (UTC), all sessions: %d tokens, $%s\n", tokens, dollars(usd))
	if l := st.budget.DailyUSD; l > 0 {
		fmt.Fprintf(&b, "Budget left today: $%s of $%s\n", dollars(max(l-usd, 0)), dollars(l))
	}
	if l := st.budget.DailyTokens; l > 0 {
		fmt.Fprintf(&b, "Token budget left today: %d of %d\n", max(l-tokens, 0), l)
	}
	return strings.TrimRight(b.String(), "\n"), nil
}

var _ tool.StatusSource = (*Agent)(nil)
