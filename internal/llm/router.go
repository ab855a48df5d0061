package llm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"gatehouse/internal/config"
)

// Log attribute keys.
const (
	logKeyModel   = "model"
	logKeyKind    = "kind"
	logKeyStatus  = "status"
	logKeyAttempt = "attempt"
	logKeyDelay   = "delay"
	logKeyUntil   = "until"
	logKeyErr     = "err"
)

// Retry timing. Backoff before attempt n+1 is a uniformly random duration
// in [0, min(maxBackoff, baseBackoff·2^(n-1))] ("full jitter"). A
// provider's Retry-After is honoured up to maxBackoff; a longer one moves
// on to the next model at once and cools the model down until then.
const (
	baseBackoff = 500 * time.Millisecond
	maxBackoff  = 30 * time.Second
)

// RouterOptions configures a Router.
type RouterOptions struct {
	// Providers by name, as in models.providers.
	Providers map[string]Provider
	// Primary and Fallbacks are model references (provider/model), tried in
	// that order.
	Primary   string
	Fallbacks []string
	// Pricing overrides the built-in price table, by model reference.
	Pricing map[string]config.Price
	// Logger receives failover events. Nil discards them.
	Logger *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Sleep waits d or until ctx ends (a timer when nil).
	Sleep func(ctx context.Context, d time.Duration) error
	// MaxAttempts is how many times one model is tried per Chat on
	// retryable errors before moving on. Default 3.
	MaxAttempts int
	// Cooldown is how long a model that used up its attempts is skipped.
	// Default 60s.
	Cooldown time.Duration
}

// Router sends each request to the primary model and fails over to the
// fallbacks. It is safe for concurrent use.
//
// For each model in turn it retries retryable errors (rate limits,
// overload, 5xx, timeouts, network) up to MaxAttempts times with
// exponential backoff, then moves on and cools that model down so later
// calls skip it while another model is available. Auth, billing and
// bad-request errors move to the next model at once and are logged, once
// until the model answers again, as errors the owner must fix; auth and
// billing failures cool the model down as well. A context overflow moves
// on too. A call that already streamed text to onDelta is
// never retried: the error is returned, nothing is replayed.
//
// Retries are per model call: the agent loop calls Chat once per round, so
// tools the model asked for in an earlier round, already executed, are
// never run again by a retry.
type Router struct {
	providers   map[string]Provider
	chain       []Ref
	pricing     map[string]config.Price
	log         *slog.Logger
	now         func() time.Time
	sleep       func(ctx context.Context, d time.Duration) error
	maxAttempts int
	cooldown    time.Duration

	mu sync.Mutex // guards the fields that follow
	// coolUntil is when each cooling model may be tried again.
	coolUntil map[Ref]time.Time
	// alerted holds the models whose owner-actionable error has been
	// logged at error level since they last answered.
	alerted map[Ref]bool
}

// ModelState is one model of the chain, for status reports.
type ModelState struct {
	Ref Ref `json:"ref"`
	// CooldownUntil is when the model is tried again; zero when it is
	// available now.
	CooldownUntil time.Time `json:"cooldownUntil,omitzero"`
}

// NewRouter checks the chain against the providers and returns a Router.
func NewRouter(o RouterOptions) (*Router, error) {
	if o.Primary == "" {
		return nil, errors.New("no model configured: run gatehouse config set agents.defaults.model.primary anthropic/claude-sonnet-4-5")
	}
	r := &Router{
		providers:   o.Providers,
		pricing:     o.Pricing,
		log:         o.Logger,
		now:         o.Now,
		sleep:       o.Sleep,
		maxAttempts: o.MaxAttempts,
		cooldown:    o.Cooldown,
		coolUntil:   map[Ref]time.Time{},
		alerted:     map[Ref]bool{},
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.sleep == nil {
		r.sleep = sleepTimer
	}
	if r.maxAttempts <= 0 {
		r.maxAttempts = 3
	}
	if r.cooldown <= 0 {
		r.cooldown = 60 * time.Second
	}
	for i, s := range append([]string{o.Primary}, o.Fallbacks...) {
		key := "agents.defaults.model.primary"
		if i > 0 {
			key = fmt.Sprintf("agents.defaults.model.fallbacks[%d]", i-1)
		}
		ref, err := ParseRef(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		if _, ok := o.Providers[ref.Provider]; !ok {
			return nil, fmt.Errorf("%s: provider %q is not configured: add models.providers.%s", key, ref.Provider, ref.Provider)
		}
		if !containsRef(r.chain, ref) {
			r.chain = append(r.chain, ref)
		}
	}
	return r, nil
}

func containsRef(refs []Ref, r Ref) bool {
	for _, x := range refs {
		if x == r {
			return true
		}
	}
	return false
}

func sleepTimer(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Chat sends req (whose Model it ignores) to the first model of the chain
// that answers and returns the response and that model. On failure it
// returns the last model's *Error and that model.
func (r *Router) Chat(ctx context.Context, req *Request, onDelta func(string)) (*Response, Ref, error) {
	var streamed bool
	deltas := func(s string) {
		streamed = true
		if onDelta != nil {
			onDelta(s)
		}
	}
	var (
		last    Ref
		lastErr error
	)
	for _, ref := range r.candidates() {
		last = ref
		resp, err := r.tryModel(ctx, ref, req, deltas, &streamed)
		if err == nil {
			return resp, ref, nil
		}
		lastErr = err
		if streamed || ctx.Err() != nil || err.Kind == KindCanceled {
			break
		}
	}
	return nil, last, lastErr
}

// candidates is the chain without the models cooling down, or the whole
// chain when every model is cooling down: a call is always attempted.
func (r *Router) candidates() []Ref {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Ref
	for _, ref := range r.chain {
		if until, ok := r.coolUntil[ref]; ok {
			if now.Before(until) {
				continue
			}
			delete(r.coolUntil, ref)
		}
		out = append(out, ref)
	}
	if len(out) == 0 {
		return r.chain
	}
	return out
}

// tryModel calls one model, retrying retryable errors.
func (r *Router) tryModel(ctx context.Context, ref Ref, req *Request, onDelta func(string), streamed *bool) (*Response, *Error) {
	p := r.providers[ref.Provider]
	log := r.log.With(logKeyModel, ref.String())
	for attempt := 1; ; attempt++ {
		mreq := *req
		mreq.Model = ref.Model
		resp, err := p.Chat(ctx, &mreq, onDelta)
		if err == nil {
			r.mu.Lock()
			delete(r.coolUntil, ref)
			delete(r.alerted, ref)
			r.mu.Unlock()
			return resp, nil
		}
		e := asError(err, ref)
		switch {
		case *streamed:
			log.Warn("model failed after streaming; not retried", logKeyKind, e.Kind, logKeyErr, e.Error())
			return nil, e
		case ctx.Err() != nil || e.Kind == KindCanceled:
			return nil, e
		case e.Kind == KindAuth || e.Kind == KindBilling:
			// The key or the account is the problem: it will not mend
			// itself within a turn, so skip the model for a while too.
			r.alertOnce(log, ref, e)
			r.coolDown(log, ref, r.now().Add(r.cooldown))
			return nil, e
		case e.Kind == KindBadRequest:
			r.alertOnce(log, ref, e)
			return nil, e
		case !e.Retryable():
			log.Warn("model failed; trying the next", logKeyKind, e.Kind, logKeyErr, e.Error())
			return nil, e
		}
		if e.RetryAfter > maxBackoff {
			r.coolDown(log, ref, r.now().Add(e.RetryAfter))
			return nil, e
		}
		if attempt >= r.maxAttempts {
			r.coolDown(log, ref, r.now().Add(r.cooldown))
			return nil, e
		}
		d := e.RetryAfter
		if d == 0 {
			d = backoff(attempt)
		}
		log.Info("model call failed; retrying", logKeyKind, e.Kind, logKeyStatus, e.Status, logKeyAttempt, attempt, logKeyDelay, d)
		if err := r.sleep(ctx, d); err != nil {
			return nil, TransportError(ctx, ref.Provider, ref.Model, err)
		}
	}
}

// backoff is the full-jitter delay after the n-th failed attempt.
func backoff(n int) time.Duration {
	ceil := maxBackoff
	if n < 16 {
		ceil = min(maxBackoff, baseBackoff<<(n-1))
	}
	return rand.N(ceil + 1)
}

func (r *Router) coolDown(log *slog.Logger, ref Ref, until time.Time) {
	r.mu.Lock()
	r.coolUntil[ref] = until
	r.mu.Unlock()
	log.Warn("model cooling down", logKeyUntil, until)
}

// alertOnce logs an error the owner must act on, once until the model
// answers again.
func (r *Router) alertOnce(log *slog.Logger, ref Ref, e *Error) {
	r.mu.Lock()
	seen := r.alerted[ref]
	r.alerted[ref] = true
	r.mu.Unlock()
	if seen {
		log.Debug("model unusable; trying the next", logKeyKind, e.Kind, logKeyErr, e.Error())
		return
	}
	log.Error("model unusable until the owner acts", logKeyKind, e.Kind, logKeyStatus, e.Status, logKeyErr, e.Error())
}

// asError makes any error an *Error of ref; providers should return
// *Error already.
func asError(err error, ref Ref) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Kind: KindUnknown, Provider: ref.Provider, Model: ref.Model, Message: "unexpected error", Err: err}
}

// Status reports each model of the chain, in order.
func (r *Router) Status() []ModelState {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]ModelState, 0, len(r.chain))
	for _, ref := range r.chain {
		s := ModelState{Ref: ref}
		if until, ok := r.coolUntil[ref]; ok && now.Before(until) {
			s.CooldownUntil = until
		}
		out = append(out, s)
	}
	return out
}

// Cost is what u cost on ref in US dollars: models.pricing, else free for
// local providers, else the built-in table, else 0 (see PriceKnown).
func (r *Router) Cost(ref Ref, u Usage) float64 {
	p, _ := price(r.pricing, ref)
	return cost(p, u)
}

// PriceKnown reports whether Cost knows ref's price; when it does not, Cost
// is 0 and spend limits cannot see that model's spending.
func (r *Router) PriceKnown(ref Ref) bool {
	_, ok := price(r.pricing, ref)
	return ok
}
