package channel

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"gatehouse/internal/store"
)

// timeFormat is how the tables store times: text order is time order.
const timeFormat = "2006-01-02T15:04:05.000Z"

// ErrCompleted is returned by Complete for an inbound message that was
// completed before: its replies were queued then, and the new ones are
// dropped.
var ErrCompleted = errors.New("inbound message already completed")

// Clock is the time source of the outbox sender; tests inject a fake one.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Queue is the durable inbox and outbox, in the store's database (tables
// inbox, outbox and channel_offsets of migration 0004).
//
// The router records every inbound message with Receive before the
// platform is acknowledged, and answers it with Complete, which marks it
// done and queues the replies in one transaction; RunSender delivers them.
// After a crash, an inbound message is either not done (Pending returns it,
// to be processed again) or done with its replies queued (they are sent,
// never regenerated).
//
// The exported fields are settings: set them before RunSender starts.
type Queue struct {
	db   *sql.DB
	c    *store.StmtCache // the hot statements, prepared once
	log  *slog.Logger
	wake chan struct{} // a buffered signal that the outbox has new rows

	// Clock is the sender's time source.
	Clock Clock
	// MaxAttempts is how often the sender tries a message before it marks
	// it failed. A platform's request to wait (*RetryAfterError) does not
	// count as an attempt.
	MaxAttempts int
	// ChatInterval is the least time between two messages to one chat, and
	// ChannelRate the most messages per second to one channel account:
	// Telegram's limits, 1 s and 30, by default. Zero turns either off.
	ChatInterval time.Duration
	ChannelRate  int
	// WriteLock, when set, is taken around every write, so that the queue's
	// writers wait on a mutex instead of SQLite's busy handler; the gateway
	// passes the store's lock, shared with the agent.
	WriteLock sync.Locker
	// MaxLen, when set, returns a channel's longest message (see Limits),
	// and Complete and Enqueue split longer replies into one row per
	// platform message, so a retry never repeats a part that was sent.
	MaxLen func(channel string) int
}

// NewQueue returns a Queue on db, a database migrated by package store.
func NewQueue(db *sql.DB, log *slog.Logger) *Queue {
	return &Queue{
		db:           db,
		c:            store.NewStmtCache(db),
		log:          log,
		wake:         make(chan struct{}, 1),
		Clock:        realClock{},
		MaxAttempts:  8,
		ChatInterval: time.Second,
		ChannelRate:  30,
	}
}

// Receive records in, unless a message with the same channel, account and
// MessageID was recorded before. fresh reports whether it is new: a
// platform's re-delivery is not fresh and must not be processed again.
func (q *Queue) Receive(ctx context.Context, in Inbound) (fresh bool, err error) {
	defer q.lockWrites()()
	if in.Channel == "" || in.MessageID == "" {
		return false, fmt.Errorf("inbox: inbound message needs a channel and a message id (got %q, %q)", in.Channel, in.MessageID)
	}
	payload, err := json.Marshal(in)
	if err != nil {
		return false, fmt.Errorf("inbox: encode message: %w", err)
	}
	res, err := q.c.ExecContext(ctx,
		`INSERT INTO inbox (channel, account, message_id, chat_id, sender_id, payload, status, received_at)
		 VALUES (?, ?, ?, ?, ?, ?, 'new', ?)
		 ON CONFLICT (channel, account, message_id) DO NOTHING`,
		in.Channel, in.Account, in.MessageID, in.ChatID, in.SenderID, string(payload), q.now())
	if err != nil {
		return false, fmt.Errorf("inbox: record %s message %s: %w", in.Channel, in.MessageID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("inbox: record %s message %s: %w", in.Channel, in.MessageID, err)
	}
	return n == 1, nil
}

// Pending returns the inbound messages received but not completed, oldest
// first: what a restart must finish.
func (q *Queue) Pending(ctx context.Context) ([]Inbound, error) {
	rows, err := q.c.QueryContext(ctx,
		`SELECT payload FROM inbox WHERE status = 'new' ORDER BY received_at, rowid`)
	if err != nil {
		return nil, fmt.Errorf("inbox: list pending: %w", err)
	}
	defer rows.Close()
	var out []Inbound
	for rows.Next() {
		var payload string
		if err := rows.Scan(&payload); err != nil {
			return nil, fmt.Errorf("inbox: list pending: %w", err)
		}
		var in Inbound
		if err := json.Unmarshal([]byte(payload), &in); err != nil {
			return nil, fmt.Errorf("inbox: decode pending message: %w", err)
		}
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("inbox: list pending: %w", err)
	}
	return out, nil
}

// Complete marks in done and queues its replies, in one transaction. It
// returns ErrCompleted, queuing nothing, when in was completed before.
func (q *Queue) Complete(ctx context.Context, in Inbound, replies []Outbound) error {
	defer q.lockWrites()()
	key, err := json.Marshal([]string{in.Channel, in.Account, in.MessageID})
	if err != nil {
		return fmt.Errorf("inbox: %w", err)
	}
	tx, err := q.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("inbox: complete %s message %s: %w", in.Channel, in.MessageID, err)
	}
	defer tx.Rollback()
	now := q.now()
	res, err := q.c.Tx(tx).ExecContext(ctx,
		`UPDATE inbox SET status = 'done', done_at = ?
		 WHERE channel = ? AND account = ? AND message_id = ? AND status = 'new'`,
		now, in.Channel, in.Account, in.MessageID)
	if err != nil {
		return fmt.Errorf("inbox: complete %s message %s: %w", in.Channel, in.MessageID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("inbox: complete %s message %s: %w", in.Channel, in.MessageID, err)
	} else if n == 0 {
		var status string
		err := q.c.Tx(tx).QueryRowContext(ctx,
			`SELECT status FROM inbox WHERE channel = ? AND account = ? AND message_id = ?`,
			in.Channel, in.Account, in.MessageID).Scan(&status)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("inbox: complete %s message %s: it was never received (call Receive first)", in.Channel, in.MessageID)
		}
		if err != nil {
			return fmt.Errorf("inbox: complete %s message %s: %w", in.Channel, in.MessageID, err)
		}
		return ErrCompleted
	}
	if err := q.insertLocked(ctx, tx, string(key), replies, now); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("inbox: complete %s message %s: %w", in.Channel, in.MessageID, err)
	}
	q.signal()
	return nil
}

// Enqueue queues messages that answer no inbound message (notices to the
// owner).
func (q *Queue) Enqueue(ctx context.Context, outs ...Outbound) error {
	defer q.lockWrites()()
	tx, err := q.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("outbox: enqueue: %w", err)
	}
	defer tx.Rollback()
	if err := q.insertLocked(ctx, tx, nil, outs, q.now()); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("outbox: enqueue: %w", err)
	}
	q.signal()
	return nil
}

// insertLocked adds outs to the outbox inside tx, one row per platform
// message. inboxKey is nil or the JSON key of the inbound answered.
func (q *Queue) insertLocked(ctx context.Context, tx *sql.Tx, inboxKey any, outs []Outbound, now string) error {
	for _, out := range outs {
		if out.Channel == "" || out.ChatID == "" {
			return fmt.Errorf("outbox: reply needs a channel and a chat id (got %q, %q)", out.Channel, out.ChatID)
		}
		max := 0
		if q.MaxLen != nil {
			max = q.MaxLen(out.Channel)
		}
		for i, part := range Split(out.Text, max) {
			replyTo := out.ReplyTo
			if i > 0 {
				replyTo = "" // quote the message once, with the first part
			}
			_, err := q.c.Tx(tx).ExecContext(ctx,
				`INSERT INTO outbox (channel, account, chat_id, thread_id, reply_to, text, inbox_key, status, attempts, next_attempt_at, created_at)
				 VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)`,
				out.Channel, out.Account, out.ChatID, out.ThreadID, replyTo, part, inboxKey, now, now)
			if err != nil {
				return fmt.Errorf("outbox: queue reply to %s chat %s: %w", out.Channel, out.ChatID, err)
			}
		}
	}
	return nil
}

func (q *Queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *Queue) now() string { return q.Clock.Now().UTC().Format(timeFormat) }

// LoadOffset returns the next update offset a polling channel should ask
// for, 0 if none was saved.
func (q *Queue) LoadOffset(ctx context.Context, channel, account string) (int64, error) {
	var off int64
	err := q.c.QueryRowContext(ctx,
		`SELECT "offset" FROM channel_offsets WHERE channel = ? AND account = ?`, channel, account).Scan(&off)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("load %s offset: %w", channel, err)
	}
	return off, nil
}

// SaveOffset records the next update offset a polling channel should ask
// for.
func (q *Queue) SaveOffset(ctx context.Context, channel, account string, offset int64) error {
	defer q.lockWrites()()
	_, err := q.c.ExecContext(ctx,
		`INSERT INTO channel_offsets (channel, account, "offset") VALUES (?, ?, ?)
		 ON CONFLICT (channel, account) DO UPDATE SET "offset" = excluded."offset"`,
		channel, account, offset)
	if err != nil {
		return fmt.Errorf("save %s offset: %w", channel, err)
	}
	return nil
}

// lockWrites takes WriteLock, when set, and returns its release.
func (q *Queue) lockWrites() func() {
	if q.WriteLock == nil {
		return func() {}
	}
	q.WriteLock.Lock()
	return q.WriteLock.Unlock
}
