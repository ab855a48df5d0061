package rpc

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
)

// ProtocolVersion is the protocol this package speaks.
const ProtocolVersion = 1

// Method and event names.
const (
	MethodConnect   = "connect"
	MethodHealth    = "health"
	MethodStatus    = "status"
	MethodConfigGet = "config.get"
	MethodLogsTail  = "logs.tail"

	MethodChatSend        = "chat.send"
	MethodSessionsList    = "sessions.list"
	MethodSessionsShow    = "sessions.show"
	MethodSessionsReset   = "sessions.reset"
	MethodUsageGet        = "usage.get"
	MethodModelsStatus    = "models.status"
	MethodChannelsStatus  = "channels.status"
	MethodApprovalsList   = "approvals.list"
	MethodApprovalsDecide = "approvals.decide"

	EventChallenge = "connect.challenge"
	EventLog       = "log"
	EventChatDelta = "chat.delta"
	EventChatFinal = "chat.final"
)

// Error codes of the agent methods.
const (
	// CodeBudgetExhausted: the daily spend limit is reached.
	CodeBudgetExhausted = "budget_exhausted"
	// CodeModelError: every configured model failed.
	CodeModelError = "model_error"
	// CodeNoModel: no model is configured.
	CodeNoModel = "no_model"
)

// ChatSendParams asks for one agent turn. The caller is the owner: the
// turn runs in the owner's private session for the channel "cli" unless
// SessionKey names another.
type ChatSendParams struct {
	Message    string `json:"message"`
	SessionKey string `json:"sessionKey,omitempty"`
	// RunID lets the caller match events to its call; the gateway makes
	// one when it is empty.
	RunID string `json:"runId,omitempty"`
}

// ChatDelta is the payload of a chat.delta event: text as it streams.
type ChatDelta struct {
	RunID      string `json:"runId"`
	SessionKey string `json:"sessionKey"`
	Delta      string `json:"delta"`
}

// ChatFinal is the payload of a chat.final event and the result of
// chat.send.
type ChatFinal struct {
	RunID        string  `json:"runId"`
	SessionKey   string  `json:"sessionKey"`
	Text         string  `json:"text"`
	Model        string  `json:"model,omitempty"`
	InputTokens  int     `json:"inputTokens"`
	OutputTokens int     `json:"outputTokens"`
	CostUSD      float64 `json:"costUsd"`
	ToolCalls    int     `json:"toolCalls"`
	Command      bool    `json:"command,omitempty"`
}

// SessionKeyParams names a session.
type SessionKeyParams struct {
	Key string `json:"key"`
}

// UsageParams picks a UTC day (YYYY-MM-DD); empty means today.
type UsageParams struct {
	Day string `json:"day,omitempty"`
}

// ClientName is the name the Gatehouse CLI gives in connect.
const ClientName = "gatehouse-cli"

// Challenge is the payload of the connect.challenge event.
type Challenge struct {
	// Nonce is 32 random bytes, hex-encoded; new for every connection.
	Nonce    string `json:"nonce"`
	Protocol int    `json:"protocol"`
}

// ConnectParams are the params of the connect request.
type ConnectParams struct {
	Protocol int         `json:"protocol"`
	Client   ClientInfo  `json:"client"`
	Auth     ConnectAuth `json:"auth"`
}

// ClientInfo names the connecting program.
type ClientInfo struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
}

// ConnectAuth proves knowledge of the gateway token. Proof is preferred:
// hex(HMAC-SHA256(key=token, msg=nonce)), see [Proof]. Token, the token
// itself, is accepted for simple clients.
type ConnectAuth struct {
	Proof string `json:"proof,omitempty"`
	Token string `json:"token,omitempty"`
}

// String never shows the token or the proof.
func (a ConnectAuth) String() string {
	switch {
	case a.Proof != "":
		return "{proof: [redacted]}"
	case a.Token != "":
		return "{token: [redacted]}"
	}
	return "{}"
}

// LogValue keeps the token and the proof out of logs.
func (a ConnectAuth) LogValue() slog.Value { return slog.StringValue(a.String()) }

// ConnectResult is the payload of a successful connect.
type ConnectResult struct {
	Protocol int        `json:"protocol"`
	Server   ServerInfo `json:"server"`
}

// ServerInfo describes the gateway.
type ServerInfo struct {
	Version string `json:"version"`
}

// Proof returns hex(HMAC-SHA256(key=token, msg=nonce)), where nonce is the
// hex text of [Challenge.Nonce] as sent.
func Proof(token, nonce string) string {
	mac := hmac.New(sha256.New, []byte(token))
	mac.Write([]byte(nonce))
	return hex.EncodeToString(mac.Sum(nil))
}

// HealthResult is the payload of health.
type HealthResult struct {
	OK            bool   `json:"ok"`
	Version       string `json:"version"`
	UptimeSeconds int64  `json:"uptimeSeconds"`
}

// StatusResult holds the fields status always returns. The gateway may add
// more (from its other parts); decoding into StatusResult ignores them.
type StatusResult struct {
	Version       string   `json:"version"`
	PID           int      `json:"pid"`
	UptimeSeconds int64    `json:"uptimeSeconds"`
	StartedAt     string   `json:"startedAt"`
	Bind          string   `json:"bind"`
	Listen        []string `json:"listen"`
	Port          int      `json:"port"`
	AuthMode      string   `json:"authMode"`
	Mode          string   `json:"mode"`
	Channels      []string `json:"channels"`
}

// ConfigGetResult is the payload of config.get: the effective config, with
// every plaintext secret shown as "[redacted]" and references as written.
type ConfigGetResult struct {
	Config json.RawMessage `json:"config"`
}

// LogsTailParams are the params of logs.tail.
type LogsTailParams struct {
	// Lines is how many of the last lines to return: 200 when zero, at most
	// MaxTailLines.
	Lines int `json:"lines,omitempty"`
	// Follow asks for a log event for every line written afterwards, until
	// the connection closes.
	Follow bool `json:"follow,omitempty"`
}

// Bounds of logs.tail.
const (
	DefaultTailLines = 200
	MaxTailLines     = 5000
)

// LogsTailResult is the payload of logs.tail.
type LogsTailResult struct {
	Lines []string `json:"lines"`
}

// LogEvent is the payload of a log event: one JSON log line.
type LogEvent struct {
	Line string `json:"line"`
}

// ApprovalsDecideParams approves or denies one elevated command.
type ApprovalsDecideParams struct {
	ID string `json:"id"`
	// Digest, when set, must prefix the command's digest (at least 8
	// characters): the owner approves the command they were shown.
	Digest  string `json:"digest,omitempty"`
	Approve bool   `json:"approve"`
}
