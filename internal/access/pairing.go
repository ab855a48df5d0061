package access

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Pairing codes are 8 characters from an alphabet without the look-alikes
// 0/O and 1/I: 32 symbols, so 40 bits per code.
const (
	codeAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	codeLen      = 8
	// codeAttempts bounds the draws for a code not already pending on the
	// channel; a collision is a one in 2^40 event per pending code.
	codeAttempts = 5
)

// Errors of pairing. They come wrapped with the channel, the code and what
// to run next; branch on them with errors.Is.
var (
	// ErrNoSuchCode: no pending request on the channel has the code.
	ErrNoSuchCode = errors.New("no such pairing code")
	// ErrCodeExpired: the code was pending but is past its expiry; it is
	// deleted, and the sender must message the bot again for a new one.
	ErrCodeExpired = errors.New("pairing code expired")
	// ErrTooManyPending: the channel account has Options.MaxPending
	// requests pending already; the sender should try again later.
	ErrTooManyPending = errors.New("too many pending pairing requests")
	// ErrNotApproved: the sender has no approval to revoke.
	ErrNotApproved = errors.New("sender not approved")
)

// hintError is a sentinel error with its context and the next step spelled
// out in full, so that it reads as one sentence.
type hintError struct {
	msg string
	err error
}

func (e *hintError) Error() string { return e.msg }
func (e *hintError) Unwrap() error { return e.err }

func hint(sentinel error, format string, args ...any) error {
	return &hintError{msg: fmt.Sprintf(format, args...), err: sentinel}
}

// PendingRequest is an unknown sender waiting for approval.
type PendingRequest struct {
	Channel   string    `json:"channel"`
	Account   string    `json:"account,omitempty"`
	SenderID  string    `json:"senderId"`
	Code      string    `json:"code"`
	CreatedAt time.Time `json:"createdAt"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// AllowedSender is a sender approved by pairing.
type AllowedSender struct {
	Channel    string    `json:"channel"`
	Account    string    `json:"account,omitempty"`
	SenderID   string    `json:"senderId"`
	Owner      bool      `json:"owner"`
	ApprovedAt time.Time `json:"approvedAt"`
}

// Approved is the sender that [Gate.Approve] let in.
type Approved struct {
	Channel  string `json:"channel"`
	Account  string `json:"account,omitempty"`
	SenderID string `json:"senderId"`
	// Owner reports that the sender became the channel account's owner,
	// being the first approved there.
	Owner bool `json:"owner"`
}

// Times are stored as fixed-width UTC text, so that text order is time
// order.
const stampLayout = "2006-01-02T15:04:05.000Z"

func stamp(t time.Time) string { return t.UTC().Format(stampLayout) }

func parseStamp(s string) (time.Time, error) { return time.Parse(stampLayout, s) }

// PairingCode returns the pairing code to send to req's sender, an unknown
// DM sender under the pairing policy. A sender with a pending code gets the
// same code again, with fresh false, until it expires (Options.PendingTTL
// after it was made); fresh is true for a new code, so the caller can
// answer a repeated message once only.
//
// A new sender on a channel account that already has Options.MaxPending
// requests pending gets an error wrapping [ErrTooManyPending]: tell them,
// once, to try again later.
func (g *Gate) PairingCode(ctx context.Context, req Request) (code string, fresh bool, err error) {
	switch {
	case req.ChatType != Direct:
		return "", false, fmt.Errorf("pairing code for %s chat %s: pairing is for direct messages only", req.Channel, req.ChatID)
	case req.Channel == "" || req.SenderID == "":
		return "", false, errors.New("pairing code: request has no channel or sender id")
	}
	now := g.now()
	tx, err := g.db.BeginTx(ctx, nil)
	if err != nil {
		return "", false, fmt.Errorf("pairing code on %s: %w", req.Channel, err)
	}
	defer tx.Rollback()
	// Expired codes go first: they free their slot and their code.
	if _, err := tx.ExecContext(ctx, `DELETE FROM pairing_requests WHERE channel = ? AND expires_at <= ?`, req.Channel, stamp(now)); err != nil {
		return "", false, fmt.Errorf("pairing code on %s: prune expired: %w", req.Channel, err)
	}
	err = tx.QueryRowContext(ctx, `SELECT code FROM pairing_requests WHERE channel = ? AND account = ? AND sender_id = ?`,
		req.Channel, req.Account, req.SenderID).Scan(&code)
	switch {
	case err == nil:
		return code, false, tx.Commit()
	case !errors.Is(err, sql.ErrNoRows):
		return "", false, fmt.Errorf("pairing code on %s: %w", req.Channel, err)
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM pairing_requests WHERE channel = ? AND account = ?`,
		req.Channel, req.Account).Scan(&n); err != nil {
		return "", false, fmt.Errorf("pairing code on %s: %w", req.Channel, err)
	}
	if n >= g.maxPending {
		return "", false, hint(ErrTooManyPending,
			"%s has %d pairing requests pending, the most allowed: approve or reject one (gatehouse pairing list %s), or wait until one expires",
			channelAccount(req.Channel, req.Account), n, req.Channel)
	}
	for range codeAttempts {
		code, err := g.newCode()
		if err != nil {
			return "", false, fmt.Errorf("pairing code on %s: %w", req.Channel, err)
		}
		// A code pending on the channel already (another account's)
		// conflicts with the unique index: draw again.
		res, err := tx.ExecContext(ctx, `INSERT INTO pairing_requests (channel, account, sender_id, code, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			req.Channel, req.Account, req.SenderID, code, stamp(now), stamp(now.Add(g.pendingTTL)))
		if err != nil {
			return "", false, fmt.Errorf("pairing code on %s: %w", req.Channel, err)
		}
		added, err := res.RowsAffected()
		if err != nil {
			return "", false, fmt.Errorf("pairing code on %s: %w", req.Channel, err)
		}
		if added == 0 {
			continue
		}
		if err := tx.Commit(); err != nil {
			return "", false, fmt.Errorf("pairing code on %s: %w", req.Channel, err)
		}
		return code, true, nil
	}
	return "", false, fmt.Errorf("pairing code on %s: %d draws all collided with pending codes: is Options.Rand random?", req.Channel, codeAttempts)
}

// newCode draws a code from g.rand. Bytes at or above the largest multiple
// of the alphabet's size are rejected, so every symbol is equally likely
// (with 32 symbols none is, but the alphabet may change).
func (g *Gate) newCode() (string, error) {
	const limit = 256 - 256%len(codeAlphabet)
	g.randMu.Lock()
	defer g.randMu.Unlock()
	code := make([]byte, 0, codeLen)
	var buf [codeLen]byte
	for len(code) < codeLen {
		b := buf[:codeLen-len(code)]
		if _, err := io.ReadFull(g.rand, b); err != nil {
			return "", fmt.Errorf("read random bytes: %w", err)
		}
		for _, c := range b {
			if int(c) < limit {
				code = append(code, codeAlphabet[int(c)%len(codeAlphabet)])
			}
		}
	}
	return string(code), nil
}

// normalizeCode upper-cases an owner-typed code and reports whether it has
// the shape of a code at all.
func normalizeCode(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if len(s) != codeLen {
		return "", false
	}
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
			b[i] = c
		}
		if strings.IndexByte(codeAlphabet, c) < 0 {
			return "", false
		}
	}
	return string(b), true
}

// Approve lets in the sender who was given code on channel: the request is
// deleted, so the code cannot be used again, and the sender is added to the
// approved senders of the request's channel account. The first sender
// approved on a channel account becomes its owner (again, after the owner
// is revoked).
//
// Codes match case-insensitively, on channel only. Errors wrap
// [ErrNoSuchCode] or [ErrCodeExpired] (the expired request is deleted).
func (g *Gate) Approve(ctx context.Context, channel, code string) (Approved, error) {
	tx, p, err := g.takeRequest(ctx, channel, code)
	if err != nil {
		return Approved{}, err
	}
	defer tx.Rollback()
	now := g.now()
	if !now.Before(p.ExpiresAt) {
		// Commit the deletion: an expired code is gone either way.
		if err := tx.Commit(); err != nil {
			return Approved{}, fmt.Errorf("approve %s on %s: %w", p.Code, channel, err)
		}
		return Approved{}, hint(ErrCodeExpired,
			"pairing code %s on %s expired at %s: ask the sender to message the bot again for a new code",
			p.Code, channel, p.ExpiresAt.UTC().Format(time.RFC3339))
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO allowed_senders (channel, account, sender_id, owner, approved_at)
		VALUES (?1, ?2, ?3,
			NOT EXISTS (SELECT 1 FROM allowed_senders WHERE channel = ?1 AND account = ?2 AND owner = 1),
			?4)
		ON CONFLICT (channel, account, sender_id) DO NOTHING`,
		p.Channel, p.Account, p.SenderID, stamp(now))
	if err != nil {
		return Approved{}, fmt.Errorf("approve %s on %s: %w", p.Code, channel, err)
	}
	a := Approved{Channel: p.Channel, Account: p.Account, SenderID: p.SenderID}
	if err := tx.QueryRowContext(ctx, `SELECT owner FROM allowed_senders WHERE channel = ? AND account = ? AND sender_id = ?`,
		p.Channel, p.Account, p.SenderID).Scan(&a.Owner); err != nil {
		return Approved{}, fmt.Errorf("approve %s on %s: %w", p.Code, channel, err)
	}
	if err := tx.Commit(); err != nil {
		return Approved{}, fmt.Errorf("approve %s on %s: %w", p.Code, channel, err)
	}
	return a, nil
}

// Reject deletes the pending request with code on channel, expired or not,
// and returns it. The sender stays unknown, and gets a new code if they
// message the bot again. The error wraps [ErrNoSuchCode] if there is none.
func (g *Gate) Reject(ctx context.Context, channel, code string) (PendingRequest, error) {
	tx, p, err := g.takeRequest(ctx, channel, code)
	if err != nil {
		return PendingRequest{}, err
	}
	defer tx.Rollback()
	if err := tx.Commit(); err != nil {
		return PendingRequest{}, fmt.Errorf("reject %s on %s: %w", p.Code, channel, err)
	}
	return p, nil
}

// takeRequest begins a transaction, finds the request with code on
// channel (expired or not) and deletes it. On success the caller owns tx
// and must commit it, or roll it back to keep the request.
//
// The code is compared with every pending code of the channel in constant
// time, so the time taken tells nothing about how close a guess was.
func (g *Gate) takeRequest(ctx context.Context, channel, code string) (*sql.Tx, PendingRequest, error) {
	want, ok := normalizeCode(code)
	if !ok {
		return nil, PendingRequest{}, hint(ErrNoSuchCode,
			"%q is not a pairing code (%d letters and digits): see gatehouse pairing list %s", code, codeLen, channel)
	}
	tx, err := g.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, PendingRequest{}, fmt.Errorf("pairing code %s on %s: %w", want, channel, err)
	}
	p, found, err := findCode(ctx, tx, channel, want)
	if err == nil && found {
		_, err = tx.ExecContext(ctx, `DELETE FROM pairing_requests WHERE channel = ? AND account = ? AND sender_id = ?`,
			p.Channel, p.Account, p.SenderID)
	}
	if err != nil {
		tx.Rollback()
		return nil, PendingRequest{}, fmt.Errorf("pairing code %s on %s: %w", want, channel, err)
	}
	if !found {
		tx.Rollback()
		return nil, PendingRequest{}, hint(ErrNoSuchCode,
			"no pending request with code %s on %s: see gatehouse pairing list %s", want, channel, channel)
	}
	return tx, p, nil
}

func findCode(ctx context.Context, tx *sql.Tx, channel, want string) (p PendingRequest, found bool, err error) {
	pending, err := scanPending(tx.QueryContext(ctx, `SELECT channel, account, sender_id, code, created_at, expires_at
		FROM pairing_requests WHERE channel = ?`, channel))
	if err != nil {
		return p, false, err
	}
	for _, r := range pending { // no early exit: constant time in the codes
		if subtle.ConstantTimeCompare([]byte(r.Code), []byte(want)) == 1 {
			p, found = r, true
		}
	}
	return p, found, nil
}

// Pending lists the pending requests of channel ("" for every channel),
// oldest first. Expired requests are deleted, not listed.
func (g *Gate) Pending(ctx context.Context, channel string) ([]PendingRequest, error) {
	now := stamp(g.now())
	if _, err := g.db.ExecContext(ctx, `DELETE FROM pairing_requests WHERE (?1 = '' OR channel = ?1) AND expires_at <= ?2`, channel, now); err != nil {
		return nil, fmt.Errorf("list pairing requests: prune expired: %w", err)
	}
	ps, err := scanPending(g.db.QueryContext(ctx, `SELECT channel, account, sender_id, code, created_at, expires_at
		FROM pairing_requests WHERE (?1 = '' OR channel = ?1) AND expires_at > ?2
		ORDER BY created_at, channel, account, sender_id`, channel, now))
	if err != nil {
		return nil, fmt.Errorf("list pairing requests: %w", err)
	}
	return ps, nil
}

func scanPending(rows *sql.Rows, err error) ([]PendingRequest, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ps []PendingRequest
	for rows.Next() {
		var p PendingRequest
		var created, expires string
		if err := rows.Scan(&p.Channel, &p.Account, &p.SenderID, &p.Code, &created, &expires); err != nil {
			return nil, err
		}
		if p.CreatedAt, err = parseStamp(created); err != nil {
			return nil, err
		}
		if p.ExpiresAt, err = parseStamp(expires); err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return ps, rows.Err()
}

// Allowed lists the senders approved by pairing on channel ("" for every
// channel), in the order they were approved. Senders let in by allowFrom
// are in the configuration, not here.
func (g *Gate) Allowed(ctx context.Context, channel string) ([]AllowedSender, error) {
	rows, err := g.db.QueryContext(ctx, `SELECT channel, account, sender_id, owner, approved_at
		FROM allowed_senders WHERE ?1 = '' OR channel = ?1
		ORDER BY approved_at, channel, account, sender_id`, channel)
	if err != nil {
		return nil, fmt.Errorf("list approved senders: %w", err)
	}
	defer rows.Close()
	var as []AllowedSender
	for rows.Next() {
		var a AllowedSender
		var approved string
		if err := rows.Scan(&a.Channel, &a.Account, &a.SenderID, &a.Owner, &approved); err != nil {
			return nil, fmt.Errorf("list approved senders: %w", err)
		}
		if a.ApprovedAt, err = parseStamp(approved); err != nil {
			return nil, fmt.Errorf("list approved senders: %w", err)
		}
		as = append(as, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list approved senders: %w", err)
	}
	return as, nil
}

// Revoke removes the approval of senderID on channel, on every account of
// it. senderID may carry the "channel:" prefix of allowFrom entries.
// Revoking the owner leaves the channel account without one until the
// next approval; the remaining approved senders are not promoted. A sender
// who is also in allowFrom stays allowed: edit the configuration too. The
// error wraps [ErrNotApproved] if the sender had no approval.
func (g *Gate) Revoke(ctx context.Context, channel, senderID string) error {
	id := strings.TrimSpace(senderID)
	id = strings.TrimPrefix(id, channel+":")
	res, err := g.db.ExecContext(ctx, `DELETE FROM allowed_senders WHERE channel = ? AND sender_id = ?`, channel, id)
	if err != nil {
		return fmt.Errorf("revoke %s sender %s: %w", channel, id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("revoke %s sender %s: %w", channel, id, err)
	}
	if n == 0 {
		return hint(ErrNotApproved, "%s sender %s is not approved by pairing: see gatehouse pairing list %s (allowFrom entries are revoked by editing the config)", channel, id, channel)
	}
	return nil
}

// ParseApprove recognises "/approve CODE" (or Telegram's "/approve@bot
// CODE") and returns the code, upper-cased. The caller must act on it only
// when the gate's Decision says the sender is the owner and the chat is a
// direct one.
func ParseApprove(text string) (code string, ok bool) {
	fields := strings.Fields(text)
	if len(fields) != 2 {
		return "", false
	}
	cmd, _, _ := strings.Cut(fields[0], "@")
	if !strings.EqualFold(cmd, "/approve") {
		return "", false
	}
	return normalizeCode(fields[1])
}

func channelAccount(channel, account string) string {
	if account == "" {
		return channel
	}
	return channel + " account " + account
}
