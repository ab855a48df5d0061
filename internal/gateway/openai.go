package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"gatehouse/internal/agent"
)

// The OpenAI-compatible API: POST /v1/chat/completions and GET /v1/models,
// off unless gateway.http.openai.enabled, always behind the gateway token.
// Every request runs a normal agent turn (the agent's own model, tools,
// budget and fencing apply): the "model" a client names only selects the
// agent, so a client cannot pick a costlier model than the owner set.
//
// Sessions: a request with a "user" field continues that user's session
// (agent:main:openai-api:dm:USER) and sends only its last user message;
// without one, every request is a fresh session and the earlier messages
// of the request travel with the last one as context.

// openAIModelID is the model name clients use for the agent.
const openAIModelID = "gatehouse"

type oaMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
	Name    string          `json:"name,omitempty"`
}

type oaRequest struct {
	Model         string      `json:"model"`
	Messages      []oaMessage `json:"messages"`
	Stream        bool        `json:"stream"`
	User          string      `json:"user"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

// contentText flattens a message content: a string, or an array of parts of
// which the text parts count.
func contentText(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", errors.New("content is neither a string nor an array of parts")
	}
	var b strings.Builder
	for _, p := range parts {
		if p.Type == "text" {
			if b.Len() > 0 {
				b.WriteByte('\n')
			}
			b.WriteString(p.Text)
		}
	}
	return b.String(), nil
}

func writeOAError(w http.ResponseWriter, status int, typ, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"message": msg, "type": typ, "code": code}})
}

func (s *Server) openAIEnabled() bool {
	return s.auth.Load().cfg.Gateway.HTTP.OpenAI.Enabled
}

func (s *Server) serveOpenAIModels(w http.ResponseWriter, r *http.Request) {
	if !s.openAIEnabled() {
		s.serveOpenAIDisabled(w, r)
		return
	}
	created := s.started.Unix()
	data := []map[string]any{{"id": openAIModelID, "object": "model", "created": created, "owned_by": "gatehouse"}}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data})
}

func (s *Server) serveOpenAIDisabled(w http.ResponseWriter, r *http.Request) {
	writeOAError(w, http.StatusNotFound, "invalid_request_error", "api_disabled",
		"the OpenAI-compatible API is off: enable it with gatehouse config set gateway.http.openai.enabled true")
}

func (s *Server) serveChatCompletions(w http.ResponseWriter, r *http.Request) {
	if !s.openAIEnabled() {
		s.serveOpenAIDisabled(w, r)
		return
	}
	var req oaRequest
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(&req); err != nil {
		writeOAError(w, http.StatusBadRequest, "invalid_request_error", "invalid_json", "the body is not a chat completion request: "+err.Error())
		return
	}
	if len(req.Messages) == 0 {
		writeOAError(w, http.StatusBadRequest, "invalid_request_error", "messages_empty", "messages is empty")
		return
	}
	last := req.Messages[len(req.Messages)-1]
	if last.Role != "user" {
		writeOAError(w, http.StatusBadRequest, "invalid_request_error", "last_message_not_user", "the last message must be the user's")
		return
	}
	text, err := contentText(last.Content)
	if err != nil || strings.TrimSpace(text) == "" {
		writeOAError(w, http.StatusBadRequest, "invalid_request_error", "invalid_content", "the last user message has no text")
		return
	}
	a, aerr := s.agentOrErr()
	if aerr != nil {
		writeOAError(w, http.StatusServiceUnavailable, "server_error", "no_model", s.noAgentReason())
		return
	}
	in := agent.Inbound{Channel: channelOpenAI, ChatType: "direct", Owner: true, Text: text}
	if req.User != "" {
		in.PeerID = req.User
		in.SessionKey = agent.SessionKey(s.auth.Load().cfg.Session.DMScope, in)
	} else {
		in.PeerID = "req-" + strings.TrimPrefix(newRunID(), "run_")
		in.SessionKey = agent.SessionKey("per-channel-peer", in)
		if ctx := earlierContext(req.Messages[:len(req.Messages)-1]); ctx != "" {
			in.Text = ctx + "\n\n" + text
		}
	}
	id := "chatcmpl-" + strings.TrimPrefix(newRunID(), "run_")
	created := s.now().Unix()
	model := req.Model
	if model == "" {
		model = openAIModelID
	}

	if !req.Stream {
		res, err := a.Turn(r.Context(), in, nil)
		if err != nil {
			s.writeTurnError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"id": id, "object": "chat.completion", "created": created, "model": model,
			"choices": []map[string]any{{
				"index":         0,
				"message":       map[string]any{"role": "assistant", "content": res.Text},
				"finish_reason": "stop",
			}},
			"usage": oaUsage(res),
		})
		return
	}

	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	started := false
	send := func(v any) {
		b, _ := json.Marshal(v)
		rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		var buf bytes.Buffer
		buf.WriteString("data: ")
		buf.Write(b)
		buf.WriteString("\n\n")
		w.Write(buf.Bytes())
		rc.Flush()
	}
	chunk := func(delta map[string]any, finish any) map[string]any {
		return map[string]any{
			"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
			"choices": []map[string]any{{"index": 0, "delta": delta, "finish_reason": finish}},
		}
	}
	start := func() {
		if !started {
			started = true
			w.WriteHeader(http.StatusOK)
			send(chunk(map[string]any{"role": "assistant", "content": ""}, nil))
		}
	}
	res, err := a.Turn(r.Context(), in, func(d string) {
		start()
		send(chunk(map[string]any{"content": d}, nil))
	})
	if err != nil {
		if !started {
			s.writeTurnError(w, err)
			return
		}
		// Headers are gone: end the stream with an error event.
		re := turnError(err)
		msg := "the turn failed; see the gateway log"
		if re != nil {
			msg = re.Message
		}
		send(map[string]any{"error": map[string]any{"message": msg, "type": "server_error"}})
		w.Write([]byte("data: [DONE]\n\n"))
		rc.Flush()
		return
	}
	if !started {
		// Nothing streamed (a chat command, or a model that does not
		// stream): send the whole text as one delta.
		start()
		if res.Text != "" {
			send(chunk(map[string]any{"content": res.Text}, nil))
		}
	}
	send(chunk(map[string]any{}, "stop"))
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		send(map[string]any{"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
			"choices": []any{}, "usage": oaUsage(res)})
	}
	w.Write([]byte("data: [DONE]\n\n"))
	rc.Flush()
}

func oaUsage(res *agent.TurnResult) map[string]any {
	return map[string]any{
		"prompt_tokens":     res.Usage.InputTokens,
		"completion_tokens": res.Usage.OutputTokens,
		"total_tokens":      res.Usage.InputTokens + res.Usage.OutputTokens,
	}
}

// writeTurnError answers a failed turn in OpenAI's error shape.
func (s *Server) writeTurnError(w http.ResponseWriter, err error) {
	re := turnError(err)
	if re == nil {
		s.log.Warn("openai api turn failed", keyErr, err)
		writeOAError(w, http.StatusInternalServerError, "server_error", "internal", "the turn failed; see the gateway log")
		return
	}
	status := http.StatusBadGateway
	typ := "server_error"
	if re.Code == "budget_exhausted" {
		status, typ = http.StatusTooManyRequests, "insufficient_quota"
	}
	writeOAError(w, status, typ, re.Code, re.Message)
}

// earlierContext renders the request's earlier messages for a fresh
// session. They come from the authenticated client, but they are still
// quoted as a transcript rather than replayed as turns.
func earlierContext(msgs []oaMessage) string {
	var b strings.Builder
	for _, m := range msgs {
		t, err := contentText(m.Content)
		if err != nil || t == "" {
			continue
		}
		if b.Len() == 0 {
			b.WriteString("Earlier in this conversation:\n")
		}
		fmt.Fprintf(&b, "%s: %s\n", m.Role, t)
	}
	return b.String()
}
