package access

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/config"
)

func TestPairingCode_alphabet_and_length(t *testing.T) {
	g, _ := newGate(t, Options{Rand: rand.Reader, MaxPending: 200})
	seen := map[string]bool{}
	for i := range 200 {
		code, fresh, err := g.PairingCode(t.Context(), dm("telegram", fmt.Sprint(i)))
		if err != nil {
			t.Fatal(err)
		}
		if !fresh {
			t.Errorf("PairingCode(%d) fresh = false, want true", i)
		}
		if len(code) != 8 || strings.Trim(code, codeAlphabet) != "" {
			t.Errorf("code %q: want 8 characters from %s", code, codeAlphabet)
		}
		if seen[code] {
			t.Errorf("code %q drawn twice", code)
		}
		seen[code] = true
	}
}

func TestNewCode_deterministic(t *testing.T) {
	tests := []struct {
		name string
		rand func() *Gate
		want string
	}{
		{"counting_bytes", func() *Gate { return &Gate{rand: &seqReader{}} }, "ABCDEFGH"},
		{"counting_from_24", func() *Gate { return &Gate{rand: &seqReader{n: 24}} }, "23456789"},
		{"top_byte_is_last_symbol", func() *Gate { return &Gate{rand: constReader(255)} }, "99999999"},
		{"byte_32_wraps_to_first", func() *Gate { return &Gate{rand: constReader(32)} }, "AAAAAAAA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.rand().newCode()
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("newCode = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestNewCode_uniform draws every byte value once per position: each of the
// 32 symbols must come out equally often, which holds only without modulo
// bias.
func TestNewCode_uniform(t *testing.T) {
	g := &Gate{rand: &seqReader{}}
	counts := map[byte]int{}
	for range 256 * 2 / codeLen {
		code, err := g.newCode()
		if err != nil {
			t.Fatal(err)
		}
		for i := range len(code) {
			counts[code[i]]++
		}
	}
	for i := range len(codeAlphabet) {
		if got, want := counts[codeAlphabet[i]], 2*256/len(codeAlphabet); got != want {
			t.Errorf("symbol %c drawn %d times, want %d", codeAlphabet[i], got, want)
		}
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("entropy gone") }

func TestPairingCode_rand_error(t *testing.T) {
	g, _ := newGate(t, Options{Rand: errReader{}})
	if _, _, err := g.PairingCode(t.Context(), dm("telegram", "1")); err == nil || !strings.Contains(err.Error(), "entropy gone") {
		t.Errorf("PairingCode error = %v, want the Rand's error", err)
	}
	if ps, err := g.Pending(t.Context(), ""); err != nil || len(ps) != 0 {
		t.Errorf("Pending = %v, %v; want none", ps, err)
	}
}

func TestPairingCode_collisions_give_up(t *testing.T) {
	g, _ := newGate(t, Options{Rand: constReader(0)})
	if _, _, err := g.PairingCode(t.Context(), dm("telegram", "1")); err != nil {
		t.Fatal(err)
	}
	_, _, err := g.PairingCode(t.Context(), dm("telegram", "2"))
	if err == nil || errors.Is(err, ErrTooManyPending) {
		t.Errorf("PairingCode with a stuck Rand = %v, want a collision error", err)
	}
}

func TestPairingCode_same_sender_same_code(t *testing.T) {
	g, clock := newGate(t, Options{})
	first, fresh, err := g.PairingCode(t.Context(), dm("telegram", "1"))
	if err != nil || !fresh {
		t.Fatalf("PairingCode = %q, %v, %v; want a fresh code", first, fresh, err)
	}
	clock.Advance(59 * time.Minute)
	again, fresh, err := g.PairingCode(t.Context(), dm("telegram", "1"))
	if err != nil || fresh || again != first {
		t.Errorf("PairingCode again = %q, fresh %v, %v; want %q, fresh false", again, fresh, err, first)
	}
	// The same id on another channel or account is another sender.
	other, fresh, err := g.PairingCode(t.Context(), dm("discord", "1"))
	if err != nil || !fresh || other == first {
		t.Errorf("PairingCode on discord = %q, fresh %v, %v; want a new fresh code", other, fresh, err)
	}
}

func TestPairingCode_fourth_sender_refused(t *testing.T) {
	g, clock := newGate(t, Options{})
	ctx := t.Context()
	for _, s := range []string{"1", "2", "3"} {
		if _, _, err := g.PairingCode(ctx, dm("telegram", s)); err != nil {
			t.Fatalf("PairingCode(%s): %v", s, err)
		}
		clock.Advance(time.Minute)
	}
	_, _, err := g.PairingCode(ctx, dm("telegram", "4"))
	if !errors.Is(err, ErrTooManyPending) {
		t.Fatalf("PairingCode(4th) = %v, want ErrTooManyPending", err)
	}
	if !strings.Contains(err.Error(), "gatehouse pairing list telegram") {
		t.Errorf("error %q does not say what to run", err)
	}
	// Senders already pending still get their code.
	if _, fresh, err := g.PairingCode(ctx, dm("telegram", "2")); err != nil || fresh {
		t.Errorf("PairingCode(pending sender) = fresh %v, %v; want its code", fresh, err)
	}
	// Another account and another channel have their own allowance.
	acct := dm("telegram", "4")
	acct.Account = "work"
	if _, _, err := g.PairingCode(ctx, acct); err != nil {
		t.Errorf("PairingCode on account work: %v", err)
	}
	if _, _, err := g.PairingCode(ctx, dm("discord", "4")); err != nil {
		t.Errorf("PairingCode on discord: %v", err)
	}
	// When the first request expires, its slot is free.
	clock.Advance(time.Hour - 3*time.Minute)
	if _, fresh, err := g.PairingCode(ctx, dm("telegram", "4")); err != nil || !fresh {
		t.Errorf("PairingCode(4th) after an expiry = fresh %v, %v; want a fresh code", fresh, err)
	}
}

func TestPairingCode_direct_only(t *testing.T) {
	g, _ := newGate(t, Options{})
	req := Request{Channel: "telegram", SenderID: "1", ChatID: "-100", ChatType: Group}
	if _, _, err := g.PairingCode(t.Context(), req); err == nil {
		t.Error("PairingCode in a group = nil error, want one")
	}
}

func TestPairing_expiry_at_exactly_ttl(t *testing.T) {
	tests := []struct {
		name    string
		after   time.Duration
		wantErr error
	}{
		{"just_before_an_hour", time.Hour - time.Millisecond, nil},
		{"exactly_an_hour", time.Hour, ErrCodeExpired},
		{"later", 2 * time.Hour, ErrCodeExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, clock := newGate(t, Options{})
			ctx := t.Context()
			code, _, err := g.PairingCode(ctx, dm("telegram", "1"))
			if err != nil {
				t.Fatal(err)
			}
			clock.Advance(tt.after)
			_, err = g.Approve(ctx, "telegram", code)
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Approve after %v = %v, want %v", tt.after, err, tt.wantErr)
			}
			if tt.wantErr == nil {
				return
			}
			// The expired request is gone: approving again finds nothing,
			// and the sender gets a new code.
			if _, err := g.Approve(ctx, "telegram", code); !errors.Is(err, ErrNoSuchCode) {
				t.Errorf("Approve of an expired code again = %v, want ErrNoSuchCode", err)
			}
			if _, fresh, err := g.PairingCode(ctx, dm("telegram", "1")); err != nil || !fresh {
				t.Errorf("PairingCode after expiry = fresh %v, %v; want a fresh code", fresh, err)
			}
		})
	}
}

func TestPairingCode_renewed_at_exactly_ttl(t *testing.T) {
	g, clock := newGate(t, Options{})
	first, _, err := g.PairingCode(t.Context(), dm("telegram", "1"))
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Hour)
	second, fresh, err := g.PairingCode(t.Context(), dm("telegram", "1"))
	if err != nil || !fresh || second == first {
		t.Errorf("PairingCode at expiry = %q, fresh %v, %v; want a fresh code other than %q", second, fresh, err, first)
	}
}

func TestApprove_flow(t *testing.T) {
	g, _ := newGate(t, Options{})
	ctx := t.Context()
	cfg := &config.Channel{}
	code, _, err := g.PairingCode(ctx, dm("telegram", "100"))
	if err != nil {
		t.Fatal(err)
	}

	// A code is valid on its own channel only.
	if _, err := g.Approve(ctx, "discord", code); !errors.Is(err, ErrNoSuchCode) {
		t.Errorf("Approve on the wrong channel = %v, want ErrNoSuchCode", err)
	}

	got, err := g.Approve(ctx, "telegram", "  "+strings.ToLower(code)+" ")
	if err != nil {
		t.Fatalf("Approve(lower case): %v", err)
	}
	if want := (Approved{Channel: "telegram", SenderID: "100", Owner: true}); got != want {
		t.Errorf("Approve = %+v, want %+v", got, want)
	}
	if _, err := g.Approve(ctx, "telegram", code); !errors.Is(err, ErrNoSuchCode) {
		t.Errorf("Approve reused = %v, want ErrNoSuchCode", err)
	}
	if d, err := g.Decide(ctx, cfg, dm("telegram", "100")); err != nil || d.Verdict != Allow || !d.Owner {
		t.Errorf("Decide(approved first) = %+v, %v; want Allow, owner", d, err)
	}

	second := approve(t, g, "telegram", "200")
	if second.Owner {
		t.Errorf("second approved = %+v, want not owner", second)
	}
	if d, err := g.Decide(ctx, cfg, dm("telegram", "200")); err != nil || d.Verdict != Allow || d.Owner {
		t.Errorf("Decide(approved second) = %+v, %v; want Allow, not owner", d, err)
	}

	// Each channel account has its own owner.
	work := dm("telegram", "300")
	work.Account = "work"
	wcode, _, err := g.PairingCode(ctx, work)
	if err != nil {
		t.Fatal(err)
	}
	if a, err := g.Approve(ctx, "telegram", wcode); err != nil || !a.Owner || a.Account != "work" {
		t.Errorf("Approve on account work = %+v, %v; want its owner", a, err)
	}

	allowed, err := g.Allowed(ctx, "telegram")
	if err != nil {
		t.Fatal(err)
	}
	var gotList []string
	for _, a := range allowed {
		gotList = append(gotList, fmt.Sprintf("%s/%s/%s/%v", a.Channel, a.Account, a.SenderID, a.Owner))
	}
	if got, want := strings.Join(gotList, " "), "telegram//100/true telegram//200/false telegram/work/300/true"; got != want {
		t.Errorf("Allowed = %s, want %s", got, want)
	}
}

func TestApprove_errors_say_what_to_do(t *testing.T) {
	g, clock := newGate(t, Options{})
	ctx := t.Context()
	code, _, err := g.PairingCode(ctx, dm("telegram", "1"))
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Hour)
	tests := []struct {
		name     string
		code     string
		wantErr  error
		wantText string
	}{
		{"expired", code, ErrCodeExpired, "pairing code " + code + " on telegram expired at 2026-03-01T13:00:00Z: ask the sender to message the bot again"},
		{"unknown", "ABCD2345", ErrNoSuchCode, "no pending request with code ABCD2345 on telegram: see gatehouse pairing list telegram"},
		{"not_a_code", "hello", ErrNoSuchCode, `"hello" is not a pairing code (8 letters and digits): see gatehouse pairing list telegram`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := g.Approve(ctx, "telegram", tt.code)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Approve = %v, want %v", err, tt.wantErr)
			}
			if got := err.Error(); !strings.HasPrefix(got, tt.wantText) {
				t.Errorf("error = %q, want it to start %q", got, tt.wantText)
			}
		})
	}
}

func TestRevoke(t *testing.T) {
	g, _ := newGate(t, Options{})
	ctx := t.Context()
	cfg := &config.Channel{}
	approve(t, g, "telegram", "100")
	approve(t, g, "telegram", "200")

	if err := g.Revoke(ctx, "telegram", "telegram:100"); err != nil {
		t.Fatalf("Revoke(owner): %v", err)
	}
	if d, err := g.Decide(ctx, cfg, dm("telegram", "100")); err != nil || d.Verdict != Pair {
		t.Errorf("Decide(revoked) = %+v, %v; want Pair", d, err)
	}
	// Ownership is cleared, not handed on.
	if d, err := g.Decide(ctx, cfg, dm("telegram", "200")); err != nil || d.Verdict != Allow || d.Owner {
		t.Errorf("Decide(remaining) = %+v, %v; want Allow, not owner", d, err)
	}
	if a := approve(t, g, "telegram", "300"); !a.Owner {
		t.Errorf("next approved after revoking the owner = %+v, want owner", a)
	}
	if err := g.Revoke(ctx, "telegram", "100"); !errors.Is(err, ErrNotApproved) {
		t.Errorf("Revoke twice = %v, want ErrNotApproved", err)
	}
	if err := g.Revoke(ctx, "discord", "200"); !errors.Is(err, ErrNotApproved) {
		t.Errorf("Revoke on another channel = %v, want ErrNotApproved", err)
	}
}

func TestReject(t *testing.T) {
	g, _ := newGate(t, Options{})
	ctx := t.Context()
	code, _, err := g.PairingCode(ctx, dm("telegram", "1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Reject(ctx, "discord", code); !errors.Is(err, ErrNoSuchCode) {
		t.Errorf("Reject on the wrong channel = %v, want ErrNoSuchCode", err)
	}
	p, err := g.Reject(ctx, "telegram", code)
	if err != nil || p.SenderID != "1" || p.Code != code {
		t.Fatalf("Reject = %+v, %v; want sender 1's request", p, err)
	}
	if _, err := g.Approve(ctx, "telegram", code); !errors.Is(err, ErrNoSuchCode) {
		t.Errorf("Approve after Reject = %v, want ErrNoSuchCode", err)
	}
	if _, err := g.Reject(ctx, "telegram", code); !errors.Is(err, ErrNoSuchCode) {
		t.Errorf("Reject twice = %v, want ErrNoSuchCode", err)
	}
	if d, err := g.Decide(ctx, &config.Channel{}, dm("telegram", "1")); err != nil || d.Verdict != Pair {
		t.Errorf("Decide(rejected) = %+v, %v; want Pair", d, err)
	}
	if _, fresh, err := g.PairingCode(ctx, dm("telegram", "1")); err != nil || !fresh {
		t.Errorf("PairingCode after Reject = fresh %v, %v; want a fresh code", fresh, err)
	}
}

func TestPending_lists_and_prunes(t *testing.T) {
	g, clock := newGate(t, Options{})
	ctx := t.Context()
	if _, _, err := g.PairingCode(ctx, dm("telegram", "1")); err != nil {
		t.Fatal(err)
	}
	clock.Advance(30 * time.Minute)
	if _, _, err := g.PairingCode(ctx, dm("discord", "2")); err != nil {
		t.Fatal(err)
	}
	list := func(channel string) string {
		t.Helper()
		ps, err := g.Pending(ctx, channel)
		if err != nil {
			t.Fatal(err)
		}
		var s []string
		for _, p := range ps {
			s = append(s, fmt.Sprintf("%s/%s@%s", p.Channel, p.SenderID, p.ExpiresAt.Format("15:04")))
		}
		return strings.Join(s, " ")
	}
	if got, want := list(""), "telegram/1@13:00 discord/2@13:30"; got != want {
		t.Errorf("Pending(all) = %q, want %q", got, want)
	}
	if got, want := list("discord"), "discord/2@13:30"; got != want {
		t.Errorf("Pending(discord) = %q, want %q", got, want)
	}
	clock.Advance(30 * time.Minute)
	if got, want := list(""), "discord/2@13:30"; got != want {
		t.Errorf("Pending(all) after an expiry = %q, want %q", got, want)
	}
	var n int
	if err := g.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM pairing_requests`).Scan(&n); err != nil || n != 1 {
		t.Errorf("pairing_requests rows = %d, %v; want 1 (expired pruned)", n, err)
	}
}

func TestParseApprove(t *testing.T) {
	tests := []struct {
		text   string
		want   string
		wantOK bool
	}{
		{"/approve ABCD2345", "ABCD2345", true},
		{"  /approve   abcd2345  ", "ABCD2345", true},
		{"/APPROVE abcd2345", "ABCD2345", true},
		{"/approve@gatehouse_bot ABCD2345", "ABCD2345", true},
		{"/approve", "", false},
		{"/approve ABCD234", "", false},
		{"/approve ABCD23456", "", false},
		{"/approve ABCD2345 now", "", false},
		{"/approveABCD2345", "", false},
		{"please /approve ABCD2345", "", false},
		{"/approve ABCD0345", "", false}, // 0 is not in the alphabet
		{"/approve ABCDI345", "", false}, // nor is I
		{"/approve ＡBCD2345", "", false}, // full-width A
		{"/approved ABCD2345", "", false},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(strings.TrimSpace(tt.text), " ", "_"), func(t *testing.T) {
			got, ok := ParseApprove(tt.text)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("ParseApprove(%q) = %q, %v; want %q, %v", tt.text, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestPairing_concurrent(t *testing.T) {
	g, _ := newGate(t, Options{Rand: rand.Reader})
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for i := range 10 {
		wg.Go(func() {
			_, _, err := g.PairingCode(ctx, dm("telegram", fmt.Sprint(i)))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	var ok, refused int
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrTooManyPending):
			refused++
		default:
			t.Errorf("PairingCode: %v", err)
		}
	}
	if ok != DefaultMaxPending || refused != 10-DefaultMaxPending {
		t.Fatalf("10 senders at once: %d codes, %d refused; want %d, %d", ok, refused, DefaultMaxPending, 10-DefaultMaxPending)
	}

	ps, err := g.Pending(ctx, "telegram")
	if err != nil {
		t.Fatal(err)
	}
	code := ps[0].Code
	approved := make(chan error, 5)
	for range 5 {
		wg.Go(func() {
			_, err := g.Approve(ctx, "telegram", code)
			approved <- err
		})
	}
	wg.Wait()
	close(approved)
	ok = 0
	for err := range approved {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, ErrNoSuchCode):
			t.Errorf("Approve: %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("one code approved %d times at once, want once", ok)
	}
}
