package agent

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"gatehouse/internal/llm"
	"gatehouse/internal/tool"
)

// SessionInfo describes a session, for gatehouse sessions list.
type SessionInfo struct {
	Key      string `json:"key"`
	Channel  string `json:"channel"`
	Peer     string `json:"peer"`
	ChatType string `json:"chatType"`
	// Model is the provider/model that answered last.
	Model     string    `json:"model,omitempty"`
	Messages  int       `json:"messages"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	// TokensToday and CostTodayUSD are the session's usage on the
	// current UTC day.
	TokensToday  int     `json:"tokensToday"`
	CostTodayUSD float64 `json:"costTodayUsd"`
}

// SessionDetail is a session with its transcript.
type SessionDetail struct {
	SessionInfo
	// Summary is the compaction summary of older, deleted messages.
	Summary string `json:"summary,omitempty"`
	// Messages is the transcript, oldest first; its length is
	// SessionInfo.Messages.
	Messages []MessageInfo `json:"messages"`
}

// MessageInfo is one stored message. Text was redacted when stored.
type MessageInfo struct {
	Role string `json:"role"`
	Text string `json:"text"`
	// ToolName names the tool a tool result answers.
	ToolName string `json:"toolName,omitempty"`
	// ToolCalls names the tools an assistant message called.
	ToolCalls []string  `json:"toolCalls,omitempty"`
	IsError   bool      `json:"isError,omitempty"`
	Time      time.Time `json:"time"`
}

const sessionColumns = `s.key, s.channel, s.peer, s.chat_type, s.model, s.created_at, s.updated_at,
	(SELECT COUNT(*) FROM messages m WHERE m.session_key = s.key),
	COALESCE((SELECT SUM(input_tokens + output_tokens) FROM usage u WHERE u.day = ?1 AND u.session_key = s.key), 0),
	COALESCE((SELECT SUM(cost_usd) FROM usage u WHERE u.day = ?1 AND u.session_key = s.key), 0)`

type scanner interface{ Scan(dest ...any) error }

func scanSession(row scanner) (SessionInfo, error) {
	var si SessionInfo
	var created, updated string
	err := row.Scan(&si.Key, &si.Channel, &si.Peer, &si.ChatType, &si.Model, &created, &updated,
		&si.Messages, &si.TokensToday, &si.CostTodayUSD)
	if err != nil {
		return si, err
	}
	si.CreatedAt, _ = time.Parse(stampLayout, created)
	si.UpdatedAt, _ = time.Parse(stampLayout, updated)
	return si, nil
}

// Sessions lists every session, most recently updated first.
func (a *Agent) Sessions(ctx context.Context) ([]SessionInfo, error) {
	rows, err := a.db.QueryContext(ctx, `SELECT `+sessionColumns+` FROM sessions s ORDER BY s.updated_at DESC, s.key`, dayOf(a.now()))
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	defer rows.Close()
	var out []SessionInfo
	for rows.Next() {
		si, err := scanSession(rows)
		if err != nil {
			return nil, fmt.Errorf("list sessions: %w", err)
		}
		out = append(out, si)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	return out, nil
}

// sessionInfo returns one session's info, or ErrNoSession.
func (a *Agent) sessionInfo(ctx context.Context, key string) (SessionInfo, error) {
	si, err := scanSession(a.db.QueryRowContext(ctx, `SELECT `+sessionColumns+` FROM sessions s WHERE s.key = ?2`, dayOf(a.now()), key))
	if errors.Is(err, sql.ErrNoRows) {
		return si, fmt.Errorf("session %q: %w", key, ErrNoSession)
	}
	if err != nil {
		return si, fmt.Errorf("read session %s: %w", key, err)
	}
	return si, nil
}

// Session returns a session and its transcript, or an error wrapping
// ErrNoSession.
func (a *Agent) Session(ctx context.Context, key string) (*SessionDetail, error) {
	si, err := a.sessionInfo(ctx, key)
	if err != nil {
		return nil, err
	}
	d := &SessionDetail{SessionInfo: si, Messages: []MessageInfo{}}
	if err := a.db.QueryRowContext(ctx, `SELECT summary FROM sessions WHERE key = ?`, key).Scan(&d.Summary); err != nil {
		return nil, fmt.Errorf("read session %s: %w", key, err)
	}
	rows, err := a.db.QueryContext(ctx, `SELECT role, content, tool_calls, tool_name, is_error, created_at
		FROM messages WHERE session_key = ? ORDER BY id`, key)
	if err != nil {
		return nil, fmt.Errorf("read transcript of %s: %w", key, err)
	}
	defer rows.Close()
	for rows.Next() {
		var m MessageInfo
		var calls sql.NullString
		var at string
		if err := rows.Scan(&m.Role, &m.Text, &calls, &m.ToolName, &m.IsError, &at); err != nil {
			return nil, fmt.Errorf("read transcript of %s: %w", key, err)
		}
		m.Time, _ = time.Parse(stampLayout, at)
		if calls.Valid {
			var tc []llm.ToolCall
			if json.Unmarshal([]byte(calls.String), &tc) == nil {
				for _, c := range tc {
					m.ToolCalls = append(m.ToolCalls, c.Name)
				}
			}
		}
		d.Messages = append(d.Messages, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read transcript of %s: %w", key, err)
	}
	return d, nil
}

// Reset forgets a session's messages and summary, after stopping its
// running turn and waiting for it to end. Today's usage stays counted.
// It returns an error wrapping ErrNoSession for an unknown key.
func (a *Agent) Reset(ctx context.Context, key string) error {
	if _, err := a.sessionInfo(ctx, key); err != nil {
		return err
	}
	return a.reset(ctx, key)
}

// SessionStatus reports a session's stored message count, last model and
// today's usage; a session not stored yet has zeros. It implements
// tool.StatusSource, and takes no session lock, so a tool may call it
// from within the session's turn.
func (a *Agent) SessionStatus(ctx context.Context, key string) (tool.SessionStatus, error) {
	si, err := a.sessionInfo(ctx, key)
	if errors.Is(err, ErrNoSession) {
		return tool.SessionStatus{SessionKey: key}, nil
	}
	if err != nil {
		return tool.SessionStatus{}, err
	}
	return tool.SessionStatus{
		SessionKey: key, Model: si.Model, Messages: si.Messages,
		TokensToday: si.TokensToday, CostTodayUSD: si.CostTodayUSD,
	}, nil
}

// UsageReport is one UTC day's model usage, for gatehouse usage.
type UsageReport struct {
	Day string `json:"day"`
	UsageTotals
	// Models splits the totals per provider and model, costliest first.
	Models []ModelUsage `json:"models"`
	Limits Limits       `json:"limits"`
	// RemainingUSD and RemainingTokens are what the limits leave of the
	// day, never below zero; absent when there is no such limit.
	RemainingUSD    *float64 `json:"remainingUsd,omitempty"`
	RemainingTokens *int     `json:"remainingTokens,omitempty"`
}

// UsageTotals sums model calls.
type UsageTotals struct {
	Calls            int     `json:"calls"`
	InputTokens      int     `json:"inputTokens"`
	OutputTokens     int     `json:"outputTokens"`
	CacheReadTokens  int     `json:"cacheReadTokens"`
	CacheWriteTokens int     `json:"cacheWriteTokens"`
	Tokens           int     `json:"tokens"` // input + output, as the token budget counts
	CostUSD          float64 `json:"costUsd"`
}

// ModelUsage is one model's share of a day.
type ModelUsage struct {
	Provider string `json:"provider"`
	Model    string `json:"model"`
	UsageTotals
}

// Limits are the configured daily limits; zero means none.
type Limits struct {
	DailyUSD    float64 `json:"dailyUsd"`
	DailyTokens int     `json:"dailyTokens"`
}

// Usage reports the usage of day (YYYY-MM-DD, UTC; empty means today).
func (a *Agent) Usage(ctx context.Context, day string) (*UsageReport, error) {
	if day == "" {
		day = dayOf(a.now())
	} else if _, err := time.Parse(time.DateOnly, day); err != nil {
		return nil, fmt.Errorf("day %q is not YYYY-MM-DD", day)
	}
	rows, err := a.db.QueryContext(ctx, `SELECT provider, model, COUNT(*), SUM(input_tokens), SUM(output_tokens),
		SUM(cache_read_tokens), SUM(cache_write_tokens), SUM(cost_usd)
		FROM usage WHERE day = ? GROUP BY provider, model ORDER BY SUM(cost_usd) DESC, provider, model`, day)
	if err != nil {
		return nil, fmt.Errorf("read usage of %s: %w", day, err)
	}
	defer rows.Close()
	r := &UsageReport{Day: day, Models: []ModelUsage{}}
	for rows.Next() {
		var m ModelUsage
		if err := rows.Scan(&m.Provider, &m.Model, &m.Calls, &m.InputTokens, &m.OutputTokens,
			&m.CacheReadTokens, &m.CacheWriteTokens, &m.CostUSD); err != nil {
			return nil, fmt.Errorf("read usage of %s: %w", day, err)
		}
		m.Tokens = m.InputTokens + m.OutputTokens
		r.Models = append(r.Models, m)
		t := &r.UsageTotals
		t.Calls += m.Calls
		t.InputTokens += m.InputTokens
		t.OutputTokens += m.OutputTokens
		t.CacheReadTokens += m.CacheReadTokens
		t.CacheWriteTokens += m.CacheWriteTokens
		t.Tokens += m.Tokens
		t.CostUSD += m.CostUSD
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read usage of %s: %w", day, err)
	}
	b := a.settings().budget
	r.Limits = Limits{DailyUSD: b.DailyUSD, DailyTokens: b.DailyTokens}
	if b.DailyUSD > 0 {
		v := max(b.DailyUSD-r.CostUSD, 0)
		r.RemainingUSD = &v
	}
	if b.DailyTokens > 0 {
		v := max(b.DailyTokens-r.Tokens, 0)
		r.RemainingTokens = &v
	}
	return r, nil
}
