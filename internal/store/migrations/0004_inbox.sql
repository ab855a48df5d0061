-- The channels' tables (package channel owns them): the inbox every inbound
-- chat message is recorded in before the platform is acknowledged, the
-- outbox replies wait in until the platform accepted them, and each
-- polling channel's acknowledged position. Times are UTC RFC 3339 with
-- milliseconds (2006-01-02T15:04:05.000Z), so text order is time order.
-- account is '' for a channel's default account.

-- inbox is one inbound message, deduplicated by its platform id. A row
-- still 'new' after a restart is processed again; a 'done' one had its
-- replies queued in outbox in the same transaction that marked it.
CREATE TABLE inbox (
	channel     TEXT NOT NULL,
	account     TEXT NOT NULL DEFAULT '',
	message_id  TEXT NOT NULL,
	chat_id     TEXT NOT NULL DEFAULT '',
	sender_id   TEXT NOT NULL DEFAULT '',
	payload     TEXT NOT NULL CHECK (json_valid(payload)), -- the channel.Inbound as JSON
	status      TEXT NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'done')),
	received_at TEXT NOT NULL,
	done_at     TEXT,
	PRIMARY KEY (channel, account, message_id)
) STRICT;

CREATE INDEX inbox_new ON inbox (received_at) WHERE status = 'new';

-- outbox is one platform message to send. A row is 'sending' while its
-- request is out, and marked 'sent' only after the platform accepted it; it
-- is never sent again. 'failed' means the sender gave up after its attempts
-- (last_error says why). A row found 'sending' at start was in flight when
-- the process died: the platform may or may not have it, and no chat API we
-- speak has an idempotency key, so it becomes 'unknown' and is not re-sent
-- (nothing is ever answered twice; last_error says so).
CREATE TABLE outbox (
	id              INTEGER PRIMARY KEY,
	channel         TEXT NOT NULL,
	account         TEXT NOT NULL DEFAULT '',
	chat_id         TEXT NOT NULL,
	thread_id       TEXT NOT NULL DEFAULT '',
	reply_to        TEXT NOT NULL DEFAULT '',
	text            TEXT NOT NULL,
	inbox_key       TEXT CHECK (inbox_key IS NULL OR json_valid(inbox_key)), -- ["channel","account","message_id"] answered
	status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'unknown')),
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at TEXT NOT NULL,
	last_error      TEXT NOT NULL DEFAULT '',
	created_at      TEXT NOT NULL,
	sent_at         TEXT
) STRICT;

CREATE INDEX outbox_pending ON outbox (id) WHERE status = 'pending';

-- channel_offsets is how far a polling channel (Telegram's getUpdates) has
-- acknowledged: the next offset to ask for.
CREATE TABLE channel_offsets (
	channel TEXT NOT NULL,
	account TEXT NOT NULL DEFAULT '',
	"offset" INTEGER NOT NULL, -- quoted: OFFSET is an SQL keyword
	PRIMARY KEY (channel, account)
) STRICT;
