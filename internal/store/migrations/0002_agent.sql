-- The agent's tables (package agent owns them). Times are UTC RFC 3339
-- with milliseconds (2006-01-02T15:04:05.000Z), so text order is time
-- order; days are UTC YYYY-MM-DD.

-- sessions is one conversation: a DM peer, a group, or the owner's main
-- session (see agent.SessionKey).
CREATE TABLE sessions (
	key        TEXT NOT NULL PRIMARY KEY,
	channel    TEXT NOT NULL DEFAULT '',
	peer       TEXT NOT NULL DEFAULT '', -- the sender for a DM, the chat id for a group
	chat_type  TEXT NOT NULL DEFAULT '', -- direct | group
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL,
	summary    TEXT NOT NULL DEFAULT '', -- compaction summary of older, deleted messages
	model      TEXT NOT NULL DEFAULT ''  -- provider/model that answered last
) STRICT;

-- messages is the transcript, redacted on write.
CREATE TABLE messages (
	id           INTEGER PRIMARY KEY,
	session_key  TEXT NOT NULL REFERENCES sessions (key) ON DELETE CASCADE,
	role         TEXT NOT NULL CHECK (role IN ('user', 'assistant', 'tool')),
	content      TEXT NOT NULL DEFAULT '',
	tool_calls   TEXT,                      -- JSON array of the assistant's tool calls
	tool_call_id TEXT NOT NULL DEFAULT '',  -- for role tool: the call answered
	tool_name    TEXT NOT NULL DEFAULT '',
	is_error     INTEGER NOT NULL DEFAULT 0,
	tokens       INTEGER NOT NULL DEFAULT 0, -- estimated, for compaction
	created_at   TEXT NOT NULL
) STRICT;

CREATE INDEX messages_session ON messages (session_key, id);

-- usage is one model call's tokens and cost. It has no foreign key:
-- resetting or deleting a session must not give back today's budget.
CREATE TABLE usage (
	id                 INTEGER PRIMARY KEY,
	day                TEXT NOT NULL,
	session_key        TEXT NOT NULL,
	provider           TEXT NOT NULL DEFAULT '',
	model              TEXT NOT NULL DEFAULT '',
	input_tokens       INTEGER NOT NULL DEFAULT 0,
	output_tokens      INTEGER NOT NULL DEFAULT 0,
	cache_read_tokens  INTEGER NOT NULL DEFAULT 0,
	cache_write_tokens INTEGER NOT NULL DEFAULT 0,
	cost_usd           REAL NOT NULL DEFAULT 0,
	created_at         TEXT NOT NULL
) STRICT;

CREATE INDEX usage_day ON usage (day, session_key);

-- notices records the once-a-day messages to the owner already sent
-- (kind "budget": the daily budget was reached).
CREATE TABLE notices (
	kind TEXT NOT NULL,
	day  TEXT NOT NULL,
	PRIMARY KEY (kind, day)
) STRICT;
