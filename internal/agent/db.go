package agent

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"gatehouse/internal/llm"
)

// Times are stored as fixed-width UTC text, so that text order is time
// order; days as YYYY-MM-DD in UTC.
const stampLayout = "2006-01-02T15:04:05.000Z"

func stamp(t time.Time) string { return t.UTC().Format(stampLayout) }
func dayOf(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// estimateTokens guesses the tokens of s as one per four bytes: close
// enough for English and code with the common tokenizers, and it errs
// high on other scripts, which only makes compaction come earlier. It
// needs no tokenizer per model, and is only used to decide when to compact.
func estimateTokens(s string) int { return (len(s) + 3) / 4 }

// messageTokens estimates a whole message, tool calls included, plus a
// few tokens of per-message framing.
func messageTokens(m llm.Message) int {
	n := 4 + estimateTokens(m.Content) + estimateTokens(m.ToolName)
	for _, c := range m.ToolCalls {
		n += estimateTokens(c.Name) + estimateTokens(string(c.Arguments)) + 4
	}
	return n
}

// stored is one message read back from the transcript.
type stored struct {
	id     int64
	tokens int
	msg    llm.Message
}

// loadSession reads a session's summary and messages in one query. A
// session that does not exist yet has none.
func (a *Agent) loadSession(ctx context.Context, key string) (summary string, msgs []stored, err error) {
	st, err := a.prepared(ctx, qLoadSession)
	if err != nil {
		return "", nil, fmt.Errorf("read session %s: %w", key, err)
	}
	rows, err := st.QueryContext(ctx, key)
	if err != nil {
		return "", nil, fmt.Errorf("read session %s: %w", key, err)
	}
	defer rows.Close()
	for rows.Next() {
		var s stored
		var role string
		var calls sql.NullString
		if err := rows.Scan(&s.id, &role, &s.msg.Content, &calls, &s.msg.ToolCallID, &s.msg.ToolName, &s.msg.IsError, &s.tokens); err != nil {
			return "", nil, fmt.Errorf("read transcript of %s: %w", key, err)
		}
		if s.id == 0 { // the sessions row, first
			summary = s.msg.Content
			continue
		}
		s.msg.Role = llm.Role(role)
		if calls.Valid && calls.String != "" {
			if err := json.Unmarshal([]byte(calls.String), &s.msg.ToolCalls); err != nil {
				return "", nil, fmt.Errorf("read transcript of %s: message %d: tool calls: %w", key, s.id, err)
			}
		}
		msgs = append(msgs, s)
	}
	if err := rows.Err(); err != nil {
		return "", nil, fmt.Errorf("read transcript of %s: %w", key, err)
	}
	return summary, msgs, nil
}

// qLoadSession returns the session's summary as a row with id 0, then its
// messages in order. Message ids start at 1.
const qLoadSession = `SELECT 0, '', summary, NULL, '', '', 0, 0 FROM sessions WHERE key = ?1
	UNION ALL
	SELECT id, role, content, tool_calls, tool_call_id, tool_name, is_error, tokens FROM messages WHERE session_key = ?1
	ORDER BY 1`

// prepared returns the statement for q, preparing it on first use. The
// statements live as long as the database: the agent is made once per
// gateway and has no Close.
func (a *Agent) prepared(ctx context.Context, q string) (*sql.Stmt, error) {
	a.stmtMu.Lock()
	defer a.stmtMu.Unlock()
	if st := a.stmts[q]; st != nil {
		return st, nil
	}
	st, err := a.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	a.stmts[q] = st
	return st, nil
}

// txStmt returns q's prepared statement bound to tx.
func (a *Agent) txStmt(ctx context.Context, tx *sql.Tx, q string) (*sql.Stmt, error) {
	st, err := a.prepared(ctx, q)
	if err != nil {
		return nil, err
	}
	return tx.StmtContext(ctx, st), nil
}

// usageRec is one model call's usage, waiting to be stored.
type usageRec struct {
	at    time.Time
	ref   llm.Ref
	usage llm.Usage
	cost  float64
}

// record is what a turn writes when it ends.
type record struct {
	key      string
	in       Inbound
	model    string        // provider/model that answered last
	messages []llm.Message // redacted already
	usage    []usageRec
	at       time.Time
}

// Statements of persist.
const (
	qUpsertSession = `INSERT INTO sessions (key, channel, peer, chat_type, created_at, updated_at, model)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET updated_at = excluded.updated_at,
			model = CASE WHEN excluded.model <> '' THEN excluded.model ELSE sessions.model END`
	qInsertMessage = `INSERT INTO messages (session_key, role, content, tool_calls, tool_call_id, tool_name, is_error, tokens, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`
	qInsertUsage = `INSERT INTO usage (day, session_key, provider, model, input_tokens, output_tokens,
		cache_read_tokens, cache_write_tokens, cost_usd, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
)

// persist writes a turn's messages and usage in one transaction. Messages
// are written only together with at least one answer from a model, so a
// turn that got none leaves no trace but its usage.
func (a *Agent) persist(ctx context.Context, r *record) error {
	if len(r.messages) == 0 && len(r.usage) == 0 {
		return nil
	}
	if err := a.writeTx(ctx, func(tx *sql.Tx) error { return a.persistTx(ctx, tx, r) }); err != nil {
		return fmt.Errorf("store turn of %s: %w", r.key, err)
	}
	return nil
}

func (a *Agent) persistTx(ctx context.Context, tx *sql.Tx, r *record) error {
	now := stamp(r.at)
	if len(r.messages) > 0 {
		peer := r.in.PeerID
		if r.in.ChatType == ChatGroup {
			peer = r.in.ChatID
		}
		st, err := a.txStmt(ctx, tx, qUpsertSession)
		if err != nil {
			return err
		}
		if _, err := st.ExecContext(ctx, r.key, r.in.Channel, peer, r.in.ChatType, now, now, r.model); err != nil {
			return err
		}
		if st, err = a.txStmt(ctx, tx, qInsertMessage); err != nil {
			return err
		}
		for _, m := range r.messages {
			m = a.redactMessage(m)
			var calls any // NULL without tool calls
			if len(m.ToolCalls) > 0 {
				b, err := json.Marshal(m.ToolCalls)
				if err != nil {
					return err
				}
				calls = string(b)
			}
			_, err := st.ExecContext(ctx, r.key, string(m.Role), m.Content, calls, m.ToolCallID, m.ToolName, m.IsError, messageTokens(m), now)
			if err != nil {
				return err
			}
		}
	}
	if len(r.usage) > 0 {
		st, err := a.txStmt(ctx, tx, qInsertUsage)
		if err != nil {
			return err
		}
		for _, u := range r.usage {
			_, err := st.ExecContext(ctx, dayOf(u.at), r.key, u.ref.Provider, u.ref.Model, u.usage.InputTokens, u.usage.OutputTokens,
				u.usage.CacheReadTokens, u.usage.CacheWriteTokens, u.cost, stamp(u.at))
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// writeTx runs fn in a write transaction, one at a time (see writeMu).
func (a *Agent) writeTx(ctx context.Context, fn func(*sql.Tx) error) error {
	a.writeMu.Lock()
	defer a.writeMu.Unlock()
	tx, err := a.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// redactMessage returns m with every text redacted. Tool call arguments
// stay a JSON object: if redacting breaks the JSON, the redacted text is
// kept as {"redacted": TEXT}.
func (a *Agent) redactMessage(m llm.Message) llm.Message {
	r := a.redactor
	m.Content = r.Redact(m.Content)
	m.ToolName = r.Redact(m.ToolName)
	m.ToolCallID = r.Redact(m.ToolCallID)
	if len(m.ToolCalls) > 0 {
		calls := make([]llm.ToolCall, len(m.ToolCalls))
		for i, c := range m.ToolCalls {
			c.ID = r.Redact(c.ID)
			c.Name = r.Redact(c.Name)
			if s := string(c.Arguments); s != "" {
				red := r.Redact(s)
				switch {
				case red == s:
				case json.Valid([]byte(red)):
					c.Arguments = json.RawMessage(red)
				default:
					b, _ := json.Marshal(map[string]string{"redacted": red})
					c.Arguments = b
				}
			}
			calls[i] = c
		}
		m.ToolCalls = calls
	}
	return m
}

// resetSession deletes key's messages and summary. Usage stays: a reset
// does not give back today's budget.
func (a *Agent) resetSession(ctx context.Context, key string) error {
	err := a.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM messages WHERE session_key = ?`, key); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE sessions SET summary = '', updated_at = ? WHERE key = ?`, stamp(a.now()), key)
		return err
	})
	if err != nil {
		return fmt.Errorf("reset session %s: %w", key, err)
	}
	return nil
}
