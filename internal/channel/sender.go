package channel

import (
	"context"
	"errors"
	"fmt"
	"time"
)

const (
	senderBatch    = 256              // outbox rows read per pass
	maxBackoff     = 10 * time.Minute // longest wait between two attempts
	maxErrorLength = 500              // of last_error
)

// outRow is one pending outbox row.
type outRow struct {
	id       int64
	out      Outbound
	attempts int
	next     time.Time
}

// RunSender delivers the outbox with send until ctx ends, then returns nil.
// It sends pending messages oldest first, keeping each chat's order, and
// marks one sent only after send returned nil: a message marked sent is
// never sent again. A failed send is retried after an exponential backoff,
// or after the wait a *RetryAfterError asks for (which pauses the whole
// channel account), and marked failed after MaxAttempts.
//
// Only a crash between the platform accepting a message and the mark can
// send it twice; no platform here offers an idempotency key to close that.
func (q *Queue) RunSender(ctx context.Context, send func(ctx context.Context, out Outbound) error) error {
	s := &sender{
		q:      q,
		send:   send,
		pace:   newPacer(q.ChatInterval, q.ChannelRate),
		paused: make(map[string]time.Time),
	}
	if err := q.resolveInDoubt(ctx); err != nil {
		return err
	}
	for {
		next, err := s.pass(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var timer <-chan time.Time
		if err != nil {
			q.log.Warn("outbox send pass failed", logKeyError, err)
			timer = q.Clock.After(time.Second)
		} else if !next.IsZero() {
			timer = q.Clock.After(max(next.Sub(q.Clock.Now()), 0))
		} // else nothing is pending: wait for Complete or Enqueue.
		select {
		case <-ctx.Done():
			return nil
		case <-q.wake:
		case <-timer:
		}
	}
}

// sender is one RunSender's state.
type sender struct {
	q      *Queue
	send   func(context.Context, Outbound) error
	pace   *pacer
	paused map[string]time.Time // channel account → no sends before
}

// pass sends what is due and returns when the next row falls due (zero for
// no pending rows).
func (s *sender) pass(ctx context.Context) (time.Time, error) {
	rows, err := s.q.pending(ctx)
	if err != nil {
		return time.Time{}, err
	}
	var next time.Time
	later := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	blocked := make(map[string]bool) // chats whose earlier row waits
	for _, r := range rows {
		chat := r.out.Channel + "\x00" + r.out.Account + "\x00" + r.out.ChatID
		account := r.out.Channel + "\x00" + r.out.Account
		if blocked[chat] {
			continue
		}
		now := s.q.Clock.Now()
		due := r.next
		if p := s.paused[account]; p.After(due) {
			due = p
		}
		if due.After(now) {
			blocked[chat] = true
			later(due)
			continue
		}
		if wait := s.pace.reserve(chat, account, now); wait > 0 {
			blocked[chat] = true
			later(now.Add(wait))
			continue
		}
		if err := s.q.markSending(ctx, r.id); err != nil {
			return time.Time{}, err
		}
		// The request, once out, is finished even during a shutdown, so that
		// its outcome is known and recorded.
		sendCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sendTimeout)
		err := s.send(sendCtx, r.out)
		cancel()
		if err == nil {
			// The platform has it: record that even if ctx just ended.
			if err := s.q.markSent(context.WithoutCancel(ctx), r.id); err != nil {
				return time.Time{}, err
			}
			continue
		}
		blocked[chat] = true
		wait, failed, err := s.failed(ctx, r, err, account)
		if err != nil {
			return time.Time{}, err
		}
		if failed {
			delete(blocked, chat) // gave up on it: the chat's next message may go
			continue
		}
		later(s.q.Clock.Now().Add(wait))
	}
	if len(rows) == senderBatch {
		later(s.q.Clock.Now())
	}
	return next, nil
}

// failed records a failed attempt of r and returns the wait before the
// next, or failed when it gave up.
func (s *sender) failed(ctx context.Context, r outRow, sendErr error, account string) (wait time.Duration, failed bool, err error) {
	msg := sendErr.Error()
	if len(msg) > maxErrorLength {
		msg = msg[:maxErrorLength]
	}
	attempts := r.attempts
	var ra *RetryAfterError
	if errors.As(sendErr, &ra) {
		wait = max(ra.After, time.Second)
		s.paused[account] = s.q.Clock.Now().Add(wait)
	} else {
		attempts++
		if attempts >= s.q.MaxAttempts {
			if err := s.q.markFailed(ctx, r.id, attempts, msg); err != nil {
				return 0, false, err
			}
			s.q.log.Error("message not delivered: giving up",
				logKeyChannel, r.out.Channel, logKeyAccount, r.out.Account, logKeyChat, r.out.ChatID,
				logKeyOutboxID, r.id, logKeyAttempts, attempts, logKeyError, sendErr)
			return 0, true, nil
		}
		wait = backoff(attempts)
		s.q.log.Warn("message send failed",
			logKeyChannel, r.out.Channel, logKeyOutboxID, r.id, logKeyAttempts, attempts,
			logKeyRetryIn, wait, logKeyError, sendErr)
	}
	next := s.q.Clock.Now().Add(wait).UTC().Format(timeFormat)
	unlock := s.q.lockWrites()
	_, err = s.q.c.ExecContext(ctx,
		`UPDATE outbox SET status = 'pending', attempts = ?, next_attempt_at = ?, last_error = ? WHERE id = ? AND status = 'sending'`,
		attempts, next, msg, r.id)
	unlock()
	if err != nil {
		return 0, false, fmt.Errorf("outbox: reschedule message %d: %w", r.id, err)
	}
	return wait, false, nil
}

// backoff is the wait after the n-th failed attempt: 1 s, 2 s, 4 s, … up
// to maxBackoff, less a jitter.
func backoff(n int) time.Duration {
	d := maxBackoff
	if n <= 20 {
		d = min(time.Second<<(n-1), maxBackoff)
	}
	return jitter(d)
}

func (q *Queue) pending(ctx context.Context) ([]outRow, error) {
	rows, err := q.c.QueryContext(ctx,
		`SELECT id, channel, account, chat_id, thread_id, reply_to, text, attempts, next_attempt_at
		 FROM outbox WHERE status = 'pending' ORDER BY id LIMIT ?`, senderBatch)
	if err != nil {
		return nil, fmt.Errorf("outbox: list pending: %w", err)
	}
	defer rows.Close()
	var out []outRow
	for rows.Next() {
		var r outRow
		var next string
		err := rows.Scan(&r.id, &r.out.Channel, &r.out.Account, &r.out.ChatID, &r.out.ThreadID,
			&r.out.ReplyTo, &r.out.Text, &r.attempts, &next)
		if err != nil {
			return nil, fmt.Errorf("outbox: list pending: %w", err)
		}
		if r.next, err = time.Parse(timeFormat, next); err != nil {
			return nil, fmt.Errorf("outbox: message %d: bad next_attempt_at: %w", r.id, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("outbox: list pending: %w", err)
	}
	return out, nil
}

func (q *Queue) markSent(ctx context.Context, id int64) error {
	defer q.lockWrites()()
	_, err := q.c.ExecContext(ctx,
		`UPDATE outbox SET status = 'sent', sent_at = ?, attempts = attempts + 1, last_error = ''
		 WHERE id = ? AND status = 'sending'`, q.now(), id)
	if err != nil {
		return fmt.Errorf("outbox: mark message %d sent: %w", id, err)
	}
	return nil
}

func (q *Queue) markFailed(ctx context.Context, id int64, attempts int, msg string) error {
	defer q.lockWrites()()
	_, err := q.c.ExecContext(ctx,
		`UPDATE outbox SET status = 'failed', attempts = ?, last_error = ? WHERE id = ? AND status = 'sending'`,
		attempts, msg, id)
	if err != nil {
		return fmt.Errorf("outbox: mark message %d failed: %w", id, err)
	}
	return nil
}

// pacer keeps sends within a rate per chat and per channel account: a
// token bucket for each.
type pacer struct {
	chatEvery time.Duration
	rate      int // per second, per channel account
	chats     map[string]*bucket
	accounts  map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newPacer(chatEvery time.Duration, rate int) *pacer {
	return &pacer{chatEvery: chatEvery, rate: rate, chats: map[string]*bucket{}, accounts: map[string]*bucket{}}
}

// reserve takes a send from both buckets and returns 0, or returns how
// long to wait and takes nothing.
func (p *pacer) reserve(chat, account string, now time.Time) time.Duration {
	var wait time.Duration
	var cb, ab *bucket
	if p.chatEvery > 0 {
		cb = fill(p.chats, chat, now, 1/p.chatEvery.Seconds(), 1)
		wait = max(wait, need(cb, 1/p.chatEvery.Seconds()))
	}
	if p.rate > 0 {
		ab = fill(p.accounts, account, now, float64(p.rate), float64(p.rate))
		wait = max(wait, need(ab, float64(p.rate)))
	}
	if wait > 0 {
		return wait
	}
	if cb != nil {
		cb.tokens--
	}
	if ab != nil {
		ab.tokens--
	}
	if len(p.chats) > 4096 {
		prune(p.chats, now, 1/p.chatEvery.Seconds(), 1)
	}
	return 0
}

// fill returns key's bucket in m, refilled at rate per second up to burst.
func fill(m map[string]*bucket, key string, now time.Time, rate, burst float64) *bucket {
	b := m[key]
	if b == nil {
		b = &bucket{tokens: burst, last: now}
		m[key] = b
	}
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = min(burst, b.tokens+el*rate)
		b.last = now
	}
	return b
}

// need returns how long until b holds one token.
func need(b *bucket, rate float64) time.Duration {
	if b.tokens >= 1 {
		return 0
	}
	return time.Duration((1 - b.tokens) / rate * float64(time.Second))
}

// prune drops the buckets that are full again: a new one starts full.
func prune(m map[string]*bucket, now time.Time, rate, burst float64) {
	for k := range m {
		if b := fill(m, k, now, rate, burst); b.tokens >= burst {
			delete(m, k)
		}
	}
}

// sendTimeout bounds one platform request. A request in flight is let
// finish during a shutdown, so this stays under the gateway's 10 s drain.
const sendTimeout = 8 * time.Second

// markSending records that r's request is about to go out.
func (q *Queue) markSending(ctx context.Context, id int64) error {
	defer q.lockWrites()()
	_, err := q.c.ExecContext(ctx, `UPDATE outbox SET status = 'sending' WHERE id = ? AND status = 'pending'`, id)
	if err != nil {
		return fmt.Errorf("outbox: mark message %d sending: %w", id, err)
	}
	return nil
}

// resolveInDoubt settles the rows a previous process left 'sending': it died
// with their request out, so the platform may have them. They are not sent
// again, so that no message is ever answered twice; each is logged for the
// owner.
func (q *Queue) resolveInDoubt(ctx context.Context) error {
	defer q.lockWrites()()
	rows, err := q.c.QueryContext(ctx, `SELECT id, channel, account, chat_id FROM outbox WHERE status = 'sending'`)
	if err != nil {
		return fmt.Errorf("outbox: list messages in doubt: %w", err)
	}
	type doubt struct {
		id                     int64
		channel, account, chat string
	}
	var ds []doubt
	for rows.Next() {
		var d doubt
		if err := rows.Scan(&d.id, &d.channel, &d.account, &d.chat); err != nil {
			rows.Close()
			return fmt.Errorf("outbox: list messages in doubt: %w", err)
		}
		ds = append(ds, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("outbox: list messages in doubt: %w", err)
	}
	for _, d := range ds {
		_, err := q.c.ExecContext(ctx,
			`UPDATE outbox SET status = 'unknown', last_error = ? WHERE id = ? AND status = 'sending'`,
			"in flight when the gateway stopped abruptly: the platform may or may not have it; not re-sent, so nothing is answered twice", d.id)
		if err != nil {
			return fmt.Errorf("outbox: settle message %d: %w", d.id, err)
		}
		q.log.Warn("a reply was in flight when the gateway stopped abruptly; it is not re-sent",
			logKeyChannel, d.channel, logKeyAccount, d.account, logKeyChat, d.chat, logKeyOutboxID, d.id)
	}
	return nil
}
