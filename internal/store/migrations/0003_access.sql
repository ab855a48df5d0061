-- Access control's tables (package access owns them): pairing requests
-- from unknown DM senders, and the senders the owner approved. Times are
-- UTC RFC 3339 with milliseconds (2006-01-02T15:04:05.000Z), so text order
-- is time order. account is '' for a channel's default account.

-- pairing_requests is one unknown sender waiting for the owner to run
-- gatehouse pairing approve. A sender has at most one pending code per
-- channel account; codes are unique within a channel, which is where the
-- owner names them.
CREATE TABLE pairing_requests (
	channel    TEXT NOT NULL,
	account    TEXT NOT NULL DEFAULT '',
	sender_id  TEXT NOT NULL,
	code       TEXT NOT NULL,
	created_at TEXT NOT NULL,
	expires_at TEXT NOT NULL,
	PRIMARY KEY (channel, account, sender_id)
) STRICT;

CREATE UNIQUE INDEX pairing_requests_code ON pairing_requests (channel, code);

-- allowed_senders is a sender approved by pairing. The first one approved
-- on a channel account is its owner; there is at most one.
CREATE TABLE allowed_senders (
	channel     TEXT NOT NULL,
	account     TEXT NOT NULL DEFAULT '',
	sender_id   TEXT NOT NULL,
	owner       INTEGER NOT NULL DEFAULT 0 CHECK (owner IN (0, 1)),
	approved_at TEXT NOT NULL,
	PRIMARY KEY (channel, account, sender_id)
) STRICT;

CREATE UNIQUE INDEX allowed_senders_owner ON allowed_senders (channel, account) WHERE owner = 1;
