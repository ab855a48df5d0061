package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"gatehouse/internal/llm"
	"gatehouse/internal/tool"
)

// maxToolResult caps one tool result in the conversation.
const maxToolResult = 64 << 10

// TurnResult is what a turn produced.
type TurnResult struct {
	SessionKey string `json:"sessionKey"`
	// Text is the reply, redacted.
	Text string `json:"text"`
	// Model is the provider/model that answered last.
	Model string    `json:"model,omitempty"`
	Usage llm.Usage `json:"usage"`
	// CostUSD is the cost of the turn's model calls, compaction included.
	CostUSD   float64 `json:"costUsd"`
	ToolCalls int     `json:"toolCalls"`
	// Command reports that the message was a chat command (/new, /reset,
	// /status, /stop), answered without a model.
	Command bool `json:"command,omitempty"`
}

// Turn answers one inbound message: a chat command directly, anything
// else with the model and tools. Turns of one session run one at a time,
// in the order they get the session; a waiting turn gives up when ctx
// ends. onDelta, if not nil, gets the reply's text as it streams.
//
// The turn runs under agents.defaults.timeoutSeconds and at most
// agents.defaults.maxToolRounds model calls. A turn stopped by /stop
// returns ErrStopped; one past its deadline an error wrapping
// context.DeadlineExceeded; one refused by the daily budget a
// *BudgetError. Whatever ends it, the messages of the turn's completed
// model calls and their usage are stored, in one transaction.
func (a *Agent) Turn(ctx context.Context, in Inbound, onDelta func(text string)) (*TurnResult, error) {
	if err := in.validate(); err != nil {
		return nil, err
	}
	st := a.settings()
	key := in.SessionKey
	if key == "" {
		key = SessionKey(st.dmScope, in)
	}
	text := a.redactor.Redact(cleanInbound(in.Text))
	if cmd, ok := parseCommand(text); ok {
		return a.command(ctx, st, key, cmd)
	}
	if strings.TrimSpace(text) == "" {
		return nil, errors.New("message is empty")
	}

	s, err := a.acquire(ctx, key)
	if err != nil {
		return nil, err
	}
	defer a.release(key, s)

	tctx, cancelTimeout := context.WithTimeoutCause(ctx, st.timeout, &timeoutError{st.timeout})
	defer cancelTimeout()
	tctx, stop := context.WithCancelCause(tctx)
	defer stop(nil)
	a.setStop(s, stop)
	defer a.setStop(s, nil)

	t := &turn{a: a, st: st, in: in, key: key, nonce: newNonce(), onDelta: onDelta}
	reply, err := t.run(tctx, text)
	if err != nil && tctx.Err() != nil {
		// The turn's context ended: say why in the error.
		if cause := context.Cause(tctx); cause != nil {
			err = cause
		}
	}
	rec := &record{key: key, in: in, model: t.model, usage: t.usage, at: a.now()}
	if t.answered {
		rec.messages = t.pending
	}
	if perr := a.persist(context.WithoutCancel(ctx), rec); perr != nil {
		// The reply exists but will be missing from the history: the
		// owner must hear of a database that refuses writes.
		a.log.Error("turn not stored", keySession, key, keyErr, perr)
		if err == nil {
			err = perr
		}
	}
	if err != nil {
		return nil, err
	}
	res := &TurnResult{SessionKey: key, Text: reply, Model: t.model, ToolCalls: t.toolCalls}
	for _, u := range t.usage {
		res.Usage = res.Usage.Add(u.usage)
		res.CostUSD += u.cost
	}
	a.log.Debug("turn done", keySession, key, keyModel, res.Model, keyTokens, res.Usage.Total(), keyToolCalls, res.ToolCalls)
	return res, nil
}

// clip shortens a model-chosen string for a log line.
func clip(s string) string {
	if len(s) > 64 {
		return strings.ToValidUTF8(s[:64], "") + "…"
	}
	return s
}

// turn is the state of one running turn.
type turn struct {
	a       *Agent
	st      settings
	in      Inbound
	key     string
	nonce   string
	onDelta func(string)

	summary string
	history []stored      // stored messages, oldest first
	pending []llm.Message // this turn's messages, redacted, to store
	usage   []usageRec    // this turn's model calls, to store

	model     string // provider/model that answered last
	answered  bool   // a model call of the conversation succeeded
	toolCalls int
	offered   map[string]bool
}

// run is the loop: compact if needed, then call the model, run the tools
// it asks for, and call it again with their results, until it answers
// without tools or the round limit is reached.
func (t *turn) run(ctx context.Context, text string) (string, error) {
	a := t.a
	var err error
	t.summary, t.history, err = a.loadSession(ctx, t.key)
	if err != nil {
		return "", err
	}
	t.pending = append(t.pending, llm.Message{Role: llm.RoleUser, Content: text})
	if err := t.maybeCompact(ctx); err != nil {
		return "", err
	}

	specs := t.st.tools.Specs(t.st.policy.Allows)
	t.offered = make(map[string]bool, len(specs))
	for _, s := range specs {
		t.offered[s.Name] = true
	}
	system := a.systemPrompt(promptInput{
		workspace: t.st.workspace, owner: t.in.Owner, chatType: t.in.ChatType,
		now: a.now(), nonce: t.nonce, summary: t.summary, tools: specs,
	})
	past := make([]llm.Message, 0, len(t.history)+8)
	for _, s := range t.history {
		past = append(past, t.forModel(s.msg))
	}
	var onDelta func(string)
	if t.onDelta != nil {
		onDelta = func(d string) { t.onDelta(a.redactor.Redact(d)) }
	}

	for round := 1; ; round++ {
		if err := a.checkBudget(ctx, t.st, t.usage); err != nil {
			return "", err
		}
		msgs := past
		for _, m := range t.pending {
			msgs = append(msgs, t.forModel(m))
		}
		req := &llm.Request{System: system, Messages: msgs, Tools: specs}
		resp, ref, err := a.models.Chat(ctx, req, onDelta)
		if err != nil {
			return "", fmt.Errorf("model call %d: %w", round, err)
		}
		if resp == nil {
			return "", fmt.Errorf("model call %d: no response and no error", round)
		}
		t.recordUsage(ref, resp.Usage)
		t.answered = true
		msg := resp.Message
		msg.Role = llm.RoleAssistant
		calls := msg.ToolCalls
		for i := range calls {
			if calls[i].ID == "" {
				calls[i].ID = fmt.Sprintf("call_%d_%d", round, i)
			}
		}
		red := a.redactMessage(msg)
		t.pending = append(t.pending, red)
		if len(calls) == 0 {
			return red.Content, nil
		}
		if round >= t.st.maxToolRounds {
			for _, c := range calls {
				t.toolCalls++
				t.pending = append(t.pending, toolMessage(c, tool.Errorf("not run: this turn reached its limit of %d model calls", t.st.maxToolRounds)))
			}
			a.log.Info("turn stopped at the tool round limit", keySession, t.key, keyRounds, round)
			note := fmt.Sprintf("(I stopped after %d rounds of tool calls, the limit for one message. Say \"continue\" to let me go on.)", round)
			if strings.TrimSpace(red.Content) != "" {
				return red.Content + "\n\n" + note, nil
			}
			return note, nil
		}
		for _, c := range calls {
			t.pending = append(t.pending, t.runTool(ctx, c))
		}
		if err := ctx.Err(); err != nil {
			return "", err
		}
	}
}

// forModel returns m as the model sees it: tool results fenced with this
// turn's nonce.
func (t *turn) forModel(m llm.Message) llm.Message {
	if m.Role == llm.RoleTool {
		m.Content = fence(t.nonce, "tool:"+m.ToolName, m.Content)
	}
	return m
}

func (t *turn) recordUsage(ref llm.Ref, u llm.Usage) {
	t.usage = append(t.usage, usageRec{at: t.a.now(), ref: ref, usage: u, cost: t.a.models.Cost(ref, u)})
	t.model = ref.String()
}

// runTool runs one call through the policy and returns its result
// message, redacted. Every call gets a result, so that a call and its
// result are never apart in the history.
func (t *turn) runTool(ctx context.Context, c llm.ToolCall) llm.Message {
	a := t.a
	t.toolCalls++
	if !t.offered[c.Name] || !t.st.policy.Allows(c.Name) {
		// A call to a tool the request did not offer is forged (or
		// hallucinated): refuse it without looking it up.
		a.log.Warn("tool call refused: not offered", keySession, t.key, keyTool, clip(c.Name))
		return toolMessage(c, tool.Errorf("tool %q is not available in this conversation", c.Name))
	}
	tl, ok := t.st.tools.Lookup(c.Name)
	if !ok {
		return toolMessage(c, tool.Errorf("tool %q is not available in this conversation", c.Name))
	}
	if ctx.Err() != nil {
		return toolMessage(c, tool.Errorf("not run: the turn was stopped"))
	}
	res, err := runRecover(ctx, tl, tool.Call{
		SessionKey: t.key, Args: c.Arguments, Owner: t.in.Owner, Status: a,
		Channel: t.in.Channel, SenderID: t.in.PeerID, ChatType: t.in.ChatType, Say: t.in.Say,
	})
	if err != nil {
		a.log.Warn("tool failed", keySession, t.key, keyTool, c.Name, keyErr, err)
		res = tool.Errorf("tool %s failed; the details are in the gateway log", c.Name)
	}
	if len(res.Text) > maxToolResult {
		res.Text = strings.ToValidUTF8(res.Text[:maxToolResult], "") + "\n[… cut at 64 KiB]"
	}
	res.Text = a.redactor.Redact(res.Text)
	return toolMessage(c, res)
}

// runRecover runs tl, turning a panic into an error: a broken tool must
// not take the gateway down.
func runRecover(ctx context.Context, tl tool.Tool, call tool.Call) (res tool.Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("tool panicked: %v", p)
		}
	}()
	return tl.Run(ctx, call)
}

func toolMessage(c llm.ToolCall, r tool.Result) llm.Message {
	return llm.Message{Role: llm.RoleTool, Content: r.Text, ToolCallID: c.ID, ToolName: c.Name, IsError: r.IsError}
}
