package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"gatehouse/internal/agent"
	"gatehouse/internal/llm"
	"gatehouse/internal/rpc"
)

// Agent is what the gateway needs of the agent runtime.
type Agent interface {
	Turn(ctx context.Context, in agent.Inbound, onDelta func(string)) (*agent.TurnResult, error)
	Sessions(ctx context.Context) ([]agent.SessionInfo, error)
	Session(ctx context.Context, key string) (*agent.SessionDetail, error)
	Reset(ctx context.Context, key string) error
	Usage(ctx context.Context, day string) (*agent.UsageReport, error)
}

// Channel names of the gateway's own doors into the agent.
const (
	channelCLI    = "cli"
	channelOpenAI = "openai-api"
	ownerPeer     = "owner"
)

// agentOrErr returns the agent, or the error that says how to get one.
func (s *Server) agentOrErr() (Agent, error) {
	if a := s.agentNow(); a != nil {
		return a, nil
	}
	return nil, &rpc.Error{Code: rpc.CodeNoModel, Message: s.noAgentReason()}
}

func (s *Server) agentNow() Agent {
	if p := s.agent.Load(); p != nil {
		return *p
	}
	return nil
}

func (s *Server) noAgentReason() string {
	if p := s.agentErr.Load(); p != nil && *p != "" {
		return *p
	}
	return "no model is configured: run gatehouse config set agents.defaults.model.primary PROVIDER/MODEL"
}

// SetAgent installs (or, with nil, removes) the agent the chat methods and
// the OpenAI-compatible API use. why explains a nil agent to callers.
func (s *Server) SetAgent(a Agent, why string) {
	if a == nil {
		s.agent.Store(nil)
	} else {
		s.agent.Store(&a)
	}
	s.agentErr.Store(&why)
}

func newRunID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "run_" + hex.EncodeToString(b)
}

// turnError turns an agent error into one a client may see: rebuilt, with
// a code to branch on, never a provider's raw text.
func turnError(err error) *rpc.Error {
	var be *agent.BudgetError
	if errors.As(err, &be) {
		return &rpc.Error{Code: rpc.CodeBudgetExhausted, Message: be.Error()}
	}
	var le *llm.Error
	if errors.As(err, &le) {
		return &rpc.Error{Code: rpc.CodeModelError, Message: le.Error()}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &rpc.Error{Code: rpc.CodeModelError, Message: "the turn ran out of time (agents.defaults.timeoutSeconds)"}
	}
	if errors.Is(err, context.Canceled) {
		return &rpc.Error{Code: rpc.CodeModelError, Message: "the turn was stopped"}
	}
	return nil
}

// chatSend runs one agent turn as the owner, streaming chat.delta events
// on the connection and answering with the final text (also sent as a
// chat.final event, after every delta).
func (s *Server) chatSend(ctx context.Context, req *request) (any, error) {
	var p rpc.ChatSendParams
	if err := decodeParams(req.params, &p); err != nil {
		return nil, invalidParams(rpc.MethodChatSend, err)
	}
	if p.Message == "" {
		return nil, invalidParams(rpc.MethodChatSend, errors.New("message is empty"))
	}
	if len(p.Message) > maxMessageBytes {
		return nil, invalidParams(rpc.MethodChatSend, fmt.Errorf("message is longer than %d bytes", maxMessageBytes))
	}
	a, err := s.agentOrErr()
	if err != nil {
		return nil, err
	}
	runID := p.RunID
	if runID == "" {
		runID = newRunID()
	}
	in := agent.Inbound{Channel: channelCLI, PeerID: ownerPeer, ChatType: "direct", Owner: true, SessionKey: p.SessionKey, Text: p.Message}
	if in.SessionKey == "" {
		in.SessionKey = agent.SessionKey(s.auth.Load().cfg.Session.DMScope, in)
	}
	sessionKey := in.SessionKey
	in.Say = func(_ context.Context, text string) error {
		return req.conn.sendEvent(rpc.EventChatDelta, rpc.ChatDelta{RunID: runID, SessionKey: sessionKey, Delta: text + "\n\n"})
	}
	res, err := a.Turn(ctx, in, func(delta string) {
		req.conn.sendEvent(rpc.EventChatDelta, rpc.ChatDelta{RunID: runID, SessionKey: sessionKey, Delta: delta})
	})
	if err != nil {
		if re := turnError(err); re != nil {
			return nil, re
		}
		return nil, err
	}
	final := rpc.ChatFinal{
		RunID: runID, SessionKey: res.SessionKey, Text: res.Text, Model: res.Model,
		InputTokens: res.Usage.InputTokens, OutputTokens: res.Usage.OutputTokens,
		CostUSD: res.CostUSD, ToolCalls: res.ToolCalls, Command: res.Command,
	}
	if err := req.conn.sendEvent(rpc.EventChatFinal, final); err != nil {
		return nil, err
	}
	return final, nil
}

// maxMessageBytes bounds one inbound message.
const maxMessageBytes = 256 << 10

func (s *Server) sessionsList(ctx context.Context, req *request) (any, error) {
	a, err := s.agentOrErr()
	if err != nil {
		return nil, err
	}
	list, err := a.Sessions(ctx)
	if err != nil {
		return nil, err
	}
	if list == nil {
		list = []agent.SessionInfo{}
	}
	return map[string]any{"sessions": list}, nil
}

func (s *Server) sessionsShow(ctx context.Context, req *request) (any, error) {
	var p rpc.SessionKeyParams
	if err := decodeParams(req.params, &p); err != nil || p.Key == "" {
		return nil, invalidParams(rpc.MethodSessionsShow, errors.Join(err, errors.New("key is required")))
	}
	a, err := s.agentOrErr()
	if err != nil {
		return nil, err
	}
	d, err := a.Session(ctx, p.Key)
	if errors.Is(err, agent.ErrNoSession) {
		return nil, &rpc.Error{Code: rpc.CodeNotFound, Message: fmt.Sprintf("no session %q: see gatehouse sessions list", p.Key)}
	}
	return d, err
}

func (s *Server) sessionsReset(ctx context.Context, req *request) (any, error) {
	var p rpc.SessionKeyParams
	if err := decodeParams(req.params, &p); err != nil || p.Key == "" {
		return nil, invalidParams(rpc.MethodSessionsReset, errors.Join(err, errors.New("key is required")))
	}
	a, err := s.agentOrErr()
	if err != nil {
		return nil, err
	}
	if err := a.Reset(ctx, p.Key); err != nil {
		if errors.Is(err, agent.ErrNoSession) {
			return nil, &rpc.Error{Code: rpc.CodeNotFound, Message: fmt.Sprintf("no session %q: see gatehouse sessions list", p.Key)}
		}
		return nil, err
	}
	return map[string]any{"reset": p.Key}, nil
}

func (s *Server) usageGet(ctx context.Context, req *request) (any, error) {
	var p rpc.UsageParams
	if err := decodeParams(req.params, &p); err != nil {
		return nil, invalidParams(rpc.MethodUsageGet, err)
	}
	if p.Day != "" {
		if _, err := time.Parse(time.DateOnly, p.Day); err != nil {
			return nil, invalidParams(rpc.MethodUsageGet, errors.New("day is YYYY-MM-DD"))
		}
	}
	a, err := s.agentOrErr()
	if err != nil {
		return nil, err
	}
	return a.Usage(ctx, p.Day)
}

func (s *Server) modelsStatus(ctx context.Context, req *request) (any, error) {
	if s.models == nil {
		return map[string]any{"providers": []any{}}, nil
	}
	return s.models(), nil
}
