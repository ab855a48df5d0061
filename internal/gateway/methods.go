package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/rpc"
)

// method is one RPC method: the function and the permission it needs.
type method struct {
	fn   func(ctx context.Context, req *request) (any, error)
	perm perm
}

// request is one call to a method.
type request struct {
	conn   *wsConn
	params json.RawMessage
	// after, when a method sets it, runs once the call is answered, with
	// whether the answer was sent; it starts what must follow the answer.
	after func(replied bool)
}

// methodTable is the RPC: every method the gateway serves.
func (s *Server) methodTable() map[string]method {
	return map[string]method{
		rpc.MethodHealth:    {fn: s.health, perm: permRead},
		rpc.MethodStatus:    {fn: s.status, perm: permRead},
		rpc.MethodConfigGet: {fn: s.configGet, perm: permAdmin},
		rpc.MethodLogsTail:  {fn: s.logsTail, perm: permAdmin},

		rpc.MethodChatSend:       {fn: s.chatSend, perm: permAdmin},
		rpc.MethodSessionsList:   {fn: s.sessionsList, perm: permAdmin},
		rpc.MethodSessionsShow:   {fn: s.sessionsShow, perm: permAdmin},
		rpc.MethodSessionsReset:  {fn: s.sessionsReset, perm: permAdmin},
		rpc.MethodUsageGet:       {fn: s.usageGet, perm: permAdmin},
		rpc.MethodModelsStatus:   {fn: s.modelsStatus, perm: permRead},
		rpc.MethodChannelsStatus: {fn: s.channelsStatus, perm: permRead},

		rpc.MethodApprovalsList:   {fn: s.approvalsList, perm: permAdmin},
		rpc.MethodApprovalsDecide: {fn: s.approvalsDecide, perm: permAdmin},
	}
}

func invalidParams(method string, err error) error {
	return &rpc.Error{Code: rpc.CodeInvalidParams, Message: fmt.Sprintf("invalid %s params: %v", method, err)}
}

func (s *Server) uptimeSeconds() int64 {
	return int64(s.now().Sub(s.started) / time.Second)
}

func (s *Server) health(ctx context.Context, req *request) (any, error) {
	return rpc.HealthResult{OK: true, Version: s.version, UptimeSeconds: s.uptimeSeconds()}, nil
}

func (s *Server) status(ctx context.Context, req *request) (any, error) {
	cfg := s.auth.Load().cfg
	res := rpc.StatusResult{
		Version:       s.version,
		PID:           os.Getpid(),
		UptimeSeconds: s.uptimeSeconds(),
		StartedAt:     s.started.UTC().Format(time.RFC3339Nano),
		Bind:          cfg.Gateway.Bind,
		Listen:        s.listenAddrs(),
		Port:          cfg.Gateway.Port,
		AuthMode:      cfg.Gateway.Auth.Mode,
		Mode:          cfg.Gateway.Mode,
		Channels:      configuredChannels(cfg.Channels),
	}
	if s.extra == nil {
		return res, nil
	}
	b, err := json.Marshal(res)
	if err != nil {
		return nil, err
	}
	out := make(map[string]any)
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	for k, v := range s.extra() {
		if _, builtin := out[k]; !builtin {
			out[k] = v
		}
	}
	return out, nil
}

// configuredChannels names the channels present in the config.
func configuredChannels(ch config.Channels) []string {
	out := []string{}
	for _, c := range []struct {
		name string
		ch   *config.Channel
	}{
		{"telegram", ch.Telegram},
		{"discord", ch.Discord},
		{"slack", ch.Slack},
		{"webchat", ch.Webchat},
	} {
		if c.ch != nil {
			out = append(out, c.name)
		}
	}
	return out
}

func (s *Server) configGet(ctx context.Context, req *request) (any, error) {
	b, err := json.Marshal(redactConfig(s.auth.Load().cfg))
	if err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	return rpc.ConfigGetResult{Config: b}, nil
}

func (s *Server) logsTail(ctx context.Context, req *request) (any, error) {
	var p rpc.LogsTailParams
	if err := decodeParams(req.params, &p); err != nil {
		return nil, invalidParams(rpc.MethodLogsTail, err)
	}
	if p.Lines < 0 {
		return nil, invalidParams(rpc.MethodLogsTail, fmt.Errorf("lines is %d, want 0 to %d", p.Lines, rpc.MaxTailLines))
	}
	n := min(p.Lines, rpc.MaxTailLines)
	if n == 0 {
		n = rpc.DefaultTailLines
	}
	if s.logs == nil {
		return nil, &rpc.Error{Code: rpc.CodeUnavailable, Message: "this gateway writes no log file"}
	}
	c := req.conn
	if !p.Follow || !c.following.CompareAndSwap(false, true) {
		// One follower per connection: a second follow only tails.
		lines, err := s.logs.Tail(n)
		if err != nil {
			return nil, err
		}
		return rpc.LogsTailResult{Lines: nonNil(lines)}, nil
	}
	lines, sub, cancel, err := s.logs.tailSubscribe(n)
	if err != nil {
		c.following.Store(false)
		return nil, err
	}
	req.after = func(replied bool) {
		if !replied {
			cancel()
			return
		}
		c.wg.Add(1) // the caller's call goroutine is counted, so Add is safe
		go c.follow(ctx, sub, cancel)
	}
	return rpc.LogsTailResult{Lines: nonNil(lines)}, nil
}

// follow sends a log event for each line until the connection ends.
func (c *wsConn) follow(ctx context.Context, lines <-chan string, cancel func()) {
	defer c.wg.Done()
	defer cancel()
	for {
		select {
		case <-ctx.Done():
			return
		case line, ok := <-lines:
			if !ok {
				return
			}
			if err := c.sendEvent(rpc.EventLog, rpc.LogEvent{Line: line}); err != nil {
				return
			}
		}
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (s *Server) channelsStatus(ctx context.Context, req *request) (any, error) {
	if s.channels == nil {
		return map[string]any{"channels": []any{}}, nil
	}
	return s.channels(), nil
}

func (s *Server) approvalsList(ctx context.Context, req *request) (any, error) {
	if s.approvals == nil {
		return map[string]any{"pending": []any{}}, nil
	}
	return map[string]any{"pending": s.approvals.List()}, nil
}

func (s *Server) approvalsDecide(ctx context.Context, req *request) (any, error) {
	var p rpc.ApprovalsDecideParams
	if err := decodeParams(req.params, &p); err != nil {
		return nil, invalidParams(rpc.MethodApprovalsDecide, err)
	}
	if s.approvals == nil {
		return nil, &rpc.Error{Code: rpc.CodeNotFound, Message: "no elevated command is waiting"}
	}
	r, err := s.approvals.Decide(p.ID, p.Digest, p.Approve)
	if err != nil {
		return nil, &rpc.Error{Code: rpc.CodeNotFound, Message: err.Error()}
	}
	verb := "denied"
	if p.Approve {
		verb = "approved"
	}
	s.log.Warn("elevated command "+verb+" by the owner", "approval", r.ID, "executable", r.Executable, "dir", r.Dir)
	return map[string]any{"decided": r, "approved": p.Approve}, nil
}
