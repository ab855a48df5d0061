package tool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // time_now accepts IANA names even where the host has no zoneinfo (a static binary in a bare container)

	"gatehouse/internal/llm"
)

// Builtins returns the built-in tools: time_now and session_status. They
// read nothing outside the process and change nothing.
func Builtins() []Tool {
	return []Tool{NewTimeNow(nil), NewSessionStatus()}
}

// TimeNow is the time_now tool: the current time in UTC, and optionally in
// an IANA time zone.
type TimeNow struct {
	now func() time.Time
}

var _ Tool = (*TimeNow)(nil)

// NewTimeNow returns the time_now tool reading the clock now, or the
// system clock when now is nil.
func NewTimeNow(now func() time.Time) *TimeNow {
	if now == nil {
		now = time.Now
	}
	return &TimeNow{now: now}
}

// Spec describes time_now to the model.
func (*TimeNow) Spec() llm.ToolSpec {
	return llm.ToolSpec{
		Name:        "time_now",
		Description: "Current date and time in UTC (RFC 3339), and in an IANA time zone when one is given.",
		Parameters: json.RawMessage(`{"type":"object","properties":{"timezone":{"type":"string",` +
			`"description":"IANA time zone name, e.g. Europe/Paris or America/New_York"}},"additionalProperties":false}`),
	}
}

// timeArgs are time_now's arguments.
type timeArgs struct {
	Timezone string `json:"timezone"`
}

// timeOutput is time_now's answer.
type timeOutput struct {
	UTC      string `json:"utc"`
	Timezone string `json:"timezone,omitempty"`
	Local    string `json:"local,omitempty"`
}

// Run answers with the time.
func (t *TimeNow) Run(ctx context.Context, call Call) (Result, error) {
	loc, err := parseTimeArgs(call.Args)
	if err != nil {
		return Errorf("time_now: %v", err), nil
	}
	now := t.now()
	out := timeOutput{UTC: now.UTC().Format(time.RFC3339)}
	if loc != nil {
		out.Timezone = loc.String()
		out.Local = now.In(loc).Format(time.RFC3339)
	}
	b, err := json.Marshal(out)
	if err != nil {
		return Result{}, err
	}
	return Result{Text: string(b)}, nil
}

// parseTimeArgs decodes time_now's arguments and resolves the time zone,
// nil when none was asked for.
func parseTimeArgs(raw json.RawMessage) (*time.Location, error) {
	var a timeArgs
	if err := DecodeArgs(raw, &a); err != nil {
		return nil, err
	}
	if a.Timezone == "" {
		return nil, nil
	}
	if err := checkZoneName(a.Timezone); err != nil {
		return nil, err
	}
	loc, err := time.LoadLocation(a.Timezone)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q: use an IANA name such as Europe/Paris", a.Timezone)
	}
	return loc, nil
}

// checkZoneName accepts only what IANA zone names look like, before
// time.LoadLocation sees the name (which would otherwise read "Local", or
// consult ZONEINFO).
func checkZoneName(name string) error {
	bad := fmt.Errorf("time zone %q is not an IANA name such as Europe/Paris", name)
	if len(name) > 64 || name == "Local" || strings.HasPrefix(name, "/") ||
		strings.HasSuffix(name, "/") || strings.Contains(name, "..") || strings.Contains(name, "//") {
		return bad
	}
	for _, c := range name {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '/' || c == '_' || c == '-' || c == '+'
		if !ok {
			return bad
		}
	}
	return nil
}

// StatusSource answers questions about a session. The agent implements
// it and hands itself to tools in [Call].Status.
type StatusSource interface {
	SessionStatus(ctx context.Context, sessionKey string) (SessionStatus, error)
}

// SessionStatus is what session_status reports.
type SessionStatus struct {
	SessionKey string `json:"sessionKey"`
	// Model is the model that answered last ("provider/model"), empty
	// before the first answer.
	Model string `json:"model,omitempty"`
	// Messages counts the stored messages of the session, after the
	// current turn's (which are stored when the turn ends).
	Messages     int     `json:"messages"`
	TokensToday  int     `json:"tokensToday"`
	CostTodayUSD float64 `json:"costTodayUsd"`
}

// SessionStatusTool is the session_status tool: the session's key,
// message count, and today's (UTC) token and cost usage.
type SessionStatusTool struct{}

var _ Tool = (*SessionStatusTool)(nil)

// NewSessionStatus returns the session_status tool. It asks the
// StatusSource of each call.
func NewSessionStatus() *SessionStatusTool { return &SessionStatusTool{} }

// Spec describes session_status to the model.
func (*SessionStatusTool) Spec() llm.ToolSpec {
	return llm.ToolSpec{
		Name:        "session_status",
		Description: "This conversation's session key, stored message count, model, and today's (UTC) token and cost usage.",
		Parameters:  json.RawMessage(`{"type":"object","properties":{},"additionalProperties":false}`),
	}
}

// Run answers with the session's status.
func (*SessionStatusTool) Run(ctx context.Context, call Call) (Result, error) {
	var none struct{}
	if err := DecodeArgs(call.Args, &none); err != nil {
		return Errorf("session_status: %v", err), nil
	}
	if call.Status == nil {
		return Result{}, errors.New("session_status: no status source in the call")
	}
	st, err := call.Status.SessionStatus(ctx, call.SessionKey)
	if err != nil {
		return Result{}, fmt.Errorf("session_status: %w", err)
	}
	b, err := json.Marshal(st)
	if err != nil {
		return Result{}, err
	}
	return Result{Text: string(b)}, nil
}
