package agent

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Budget kinds.
const (
	BudgetUSD    = "usd"
	BudgetTokens = "tokens"
)

// BudgetError is the refusal of a model call because today's (UTC) usage
// reached agents.defaults.budget.
type BudgetError struct {
	Kind  string  // BudgetUSD or BudgetTokens
	Limit float64 // dollars or tokens
	Spent float64
}

func (e *BudgetError) Error() string {
	if e.Kind == BudgetTokens {
		return fmt.Sprintf("daily token budget of %d reached (%d used today, UTC): raise it with gatehouse config set agents.defaults.budget.dailyTokens %d, or wait until 00:00 UTC",
			int64(e.Limit), int64(e.Spent), int64(max(2*e.Limit, 100000)))
	}
	return fmt.Sprintf("daily budget of $%s reached ($%s spent today, UTC): raise it with gatehouse config set agents.defaults.budget.dailyUsd %s, or wait until 00:00 UTC",
		dollars(e.Limit), dollars(e.Spent), strconv.FormatFloat(math.Max(math.Ceil(2*e.Limit), 5), 'f', -1, 64))
}

// dollars formats an amount with cents, and below a dollar with up to
// four decimals, so that $0.015 spent against a $0.01 limit does not read
// as $0.01.
func dollars(v float64) string {
	if math.Abs(v) >= 1 {
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	s := strings.TrimRight(strconv.FormatFloat(v, 'f', 4, 64), "0")
	if i := strings.IndexByte(s, '.'); len(s)-i < 3 {
		s += strings.Repeat("0", 3-(len(s)-i))
	}
	return s
}

// spentToday sums today's (UTC) stored usage: dollars and tokens.
func (a *Agent) spentToday(ctx context.Context, day string) (usd float64, tokens int, err error) {
	st, err := a.prepared(ctx, `SELECT COALESCE(SUM(cost_usd), 0), COALESCE(SUM(input_tokens + output_tokens), 0)
		FROM usage WHERE day = ?`)
	if err == nil {
		err = st.QueryRowContext(ctx, day).Scan(&usd, &tokens)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("read today's usage: %w", err)
	}
	return usd, tokens, nil
}

// checkBudget refuses a model call when today's usage, with the calls of
// this turn not stored yet (pending), reached a limit. Other sessions'
// running turns are counted once they end, so concurrent turns may pass a
// limit by their last call each.
func (a *Agent) checkBudget(ctx context.Context, st settings, pending []usageRec) error {
	b := st.budget
	if b.DailyUSD <= 0 && b.DailyTokens <= 0 {
		return nil
	}
	day := dayOf(a.now())
	usd, tokens, err := a.spentToday(ctx, day)
	if err != nil {
		return err
	}
	for _, u := range pending {
		if dayOf(u.at) == day {
			usd += u.cost
			tokens += u.usage.Total()
		}
	}
	var be *BudgetError
	switch {
	case b.DailyUSD > 0 && usd >= b.DailyUSD:
		be = &BudgetError{Kind: BudgetUSD, Limit: b.DailyUSD, Spent: usd}
	case b.DailyTokens > 0 && tokens >= b.DailyTokens:
		be = &BudgetError{Kind: BudgetTokens, Limit: float64(b.DailyTokens), Spent: float64(tokens)}
	default:
		return nil
	}
	a.log.Warn("model call refused: daily budget reached", keyKind, be.Kind, keyLimit, be.Limit, keySpent, be.Spent)
	a.noticeOnce(ctx, "budget", day, be.Error())
	return be
}

// noticeOnce calls OnBudgetExhausted with message unless a notice of kind
// was already recorded for day.
func (a *Agent) noticeOnce(ctx context.Context, kind, day, message string) {
	if a.onBudget == nil {
		return
	}
	var first bool
	wctx := context.WithoutCancel(ctx)
	err := a.writeTx(wctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(wctx, `INSERT INTO notices (kind, day) VALUES (?, ?) ON CONFLICT DO NOTHING`, kind, day)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		first = n == 1
		return err
	})
	if err != nil {
		a.log.Warn("owner notice not recorded; not sending it", keyKind, kind, keyErr, err)
		return
	}
	if first {
		a.onBudget(ctx, message)
	}
}
