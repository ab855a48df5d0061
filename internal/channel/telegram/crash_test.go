package telegram

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/channel"
	"gatehouse/internal/testkit"
)

// gateway is the router's part of the pipeline for the crash test: the
// adapter's sink records into the inbox, a handler answers each fresh
// message ("echo: " + text) with Complete, and the outbox sender delivers
// through the adapter.
type gateway struct {
	q  *channel.Queue
	a  *Adapter
	db *sql.DB
}

// run runs the pipeline until ctx ends. The handler stops after complete
// messages (a crash between Receive and Complete), and send may end it.
func (g *gateway) run(ctx context.Context, complete int, send func(context.Context, channel.Outbound) error) error {
	work := make(chan channel.Inbound, 1000)
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	wg.Go(func() {
		errs <- g.a.Run(ctx, func(ctx context.Context, in channel.Inbound) error {
			fresh, err := g.q.Receive(ctx, in)
			if err == nil && fresh {
				work <- in
			}
			return err
		})
	})
	wg.Go(func() {
		pending, err := g.q.Pending(ctx)
		if err != nil {
			errs <- err
			return
		}
		handle := func(in channel.Inbound) bool {
			if complete == 0 {
				return false
			}
			err := g.q.Complete(ctx, in, []channel.Outbound{{Channel: in.Channel, Account: in.Account, ChatID: in.ChatID, Text: "echo: " + in.Text}})
			if err != nil && !errors.Is(err, channel.ErrCompleted) && ctx.Err() == nil {
				errs <- err
				return false
			}
			complete--
			return true
		}
		for _, in := range pending {
			if !handle(in) {
				return
			}
		}
		for {
			select {
			case <-ctx.Done():
				return
			case in := <-work:
				if !handle(in) {
					return
				}
			}
		}
	})
	wg.Go(func() { errs <- g.q.RunSender(ctx, send) })
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// TestPeerCrashRepliesExactlyOnce sends 200 messages from 20 users
// through the peer, "kills" the gateway midway (the database closed with
// messages received but not completed, and replies queued but not sent),
// restarts it on the same SQLite file, and checks that every message got
// exactly one reply.
func TestPeerCrashRepliesExactlyOnce(t *testing.T) {
	p := testkit.StartTelegram(t)
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	const users, perUser = 20, 10
	sendAll := func(from, to int) {
		for i := from; i < to; i++ {
			u := testkit.TelegramUser{ID: int64(1000 + i%users), Name: fmt.Sprint("U", i%users)}
			p.Send(t, testToken, u, fmt.Sprintf("m%d", i))
		}
	}
	newGateway := func() (*gateway, func() error) {
		q, db := openQueue(t, path)
		q.ChatInterval, q.ChannelRate = time.Millisecond, 0
		q.MaxLen = func(string) int { return MaxMessageLen }
		a := newAdapter(t, Options{APIBaseURL: p.URL, Offsets: q, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
		return &gateway{q: q, a: a, db: db.SQL()}, db.Close
	}

	// Phase 1: 120 messages arrive; the handler completes 60 and crashes;
	// the sender delivers 30 replies and the process dies before the 31st.
	sendAll(0, 120)
	g, closeDB := newGateway()
	ctx, kill := context.WithCancel(t.Context())
	var sent int
	holdUntil := time.Now().Add(60 * time.Second)
	err := g.run(ctx, 60, func(sendCtx context.Context, out channel.Outbound) error {
		// Hold the sender back until the handler has crashed and the
		// inbox holds all 120, so both crash windows are open at the kill.
		// (The sender's own context survives a shutdown; watch the run's.)
		for ctx.Err() == nil && (countRows(g, `SELECT COUNT(*) FROM inbox`) < 120 || countRows(g, `SELECT COUNT(*) FROM inbox WHERE status = 'done'`) < 60) {
			if time.Now().After(holdUntil) {
				kill()
				return fmt.Errorf("phase 1 never had all 120 received and 60 completed (inbox %d, done %d)",
					countRows(g, `SELECT COUNT(*) FROM inbox`), countRows(g, `SELECT COUNT(*) FROM inbox WHERE status = 'done'`))
			}
			time.Sleep(5 * time.Millisecond)
		}
		if sent == 30 {
			// The process dies with this request on its way: the row is
			// left 'sending', in doubt.
			kill()
			return errKilled
		}
		if err := g.a.Send(sendCtx, out); err != nil {
			return err
		}
		sent++
		return nil
	})
	if err != nil {
		t.Fatalf("phase 1: %v", err)
	}
	newRows := countRows(g, `SELECT COUNT(*) FROM inbox WHERE status = 'new'`)
	queued := countRows(g, `SELECT COUNT(*) FROM outbox WHERE status = 'pending'`)
	inDoubt := countRows(g, `SELECT COUNT(*) FROM outbox WHERE status = 'sending'`)
	if newRows != 60 || queued != 29 || inDoubt != 1 || sent != 30 {
		t.Fatalf("at the crash: %d received not completed, %d replies queued not sent, %d in flight, %d sent; want 60, 29, 1, 30", newRows, queued, inDoubt, sent)
	}
	var doubtText string
	g.db.QueryRow(`SELECT text FROM outbox WHERE status = 'sending'`).Scan(&doubtText)
	if err := closeDB(); err != nil {
		t.Fatal(err)
	}

	// Phase 2: restart on the same file while the other 80 arrive.
	g, _ = newGateway()
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- g.run(ctx, -1, g.a.Send) }()
	sendAll(120, users*perUser)
	deadline := time.Now().Add(60 * time.Second)
	for len(p.Sent(t, testToken)) < users*perUser-1 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	for countRows(g, `SELECT COUNT(*) FROM outbox WHERE status NOT IN ('sent', 'unknown')`) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("phase 2: %v", err)
	}

	replies := map[string]int{}
	for _, m := range p.Sent(t, testToken) {
		replies[m.Message.ChatID.String()+" "+m.Message.Text]++
	}
	// Every message is answered exactly once, but the reply that was in
	// flight at the crash: the platform may have had it, so it is settled
	// 'unknown' and never sent again.
	if got := countRows(g, `SELECT COUNT(*) FROM outbox WHERE status = 'unknown'`); got != 1 {
		t.Errorf("%d replies settled unknown, want the 1 in flight at the crash", got)
	}
	for i := range users * perUser {
		key := fmt.Sprintf("%d echo: m%d", 1000+i%users, i)
		want := 1
		if "echo: "+fmt.Sprintf("m%d", i) == doubtText {
			want = 0
		}
		if n := replies[key]; n != want {
			t.Errorf("message m%d got %d replies, want %d", i, n, want)
		}
		delete(replies, key)
	}
	if len(replies) != 0 {
		t.Errorf("unexpected replies: %v", replies)
	}
}

// errKilled is what the simulated crash makes the send return.
var errKilled = errors.New("killed")

func countRows(g *gateway, query string) int {
	var n int
	g.db.QueryRow(query).Scan(&n)
	return n
}
