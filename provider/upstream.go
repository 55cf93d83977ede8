package provider

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/ory/fosite"

	"github.com/wxoidc/wxoidc/storage"
	"github.com/wxoidc/wxoidc/wechat"
)

// This file isolates the token endpoint from WeChat: Upstream wraps the
// WeChat client with rate limits that answer before WeChat's own quotas do,
// a bound on calls in flight, a deadline per call, and a circuit breaker that
// fails fast while WeChat is down. Our own limits answer 429 slow_down; an
// unavailable WeChat answers 503 temporarily_unavailable; both carry a
// Retry-After (RetryAfter).

// Rate is a token bucket: Limit events per Per on average, bursts of up to
// Burst. Limit 0 (or less) means unlimited.
type Rate struct {
	Limit int
	Per   time.Duration
	Burst int
}

// maxLimiterKey bounds the bytes a limiter keeps per key: longer keys (an
// attacker's client_id, say) are kept as their SHA-256.
const maxLimiterKey = 128

// KeyedLimiter is one token bucket per key, with memory bounded by forgetting
// the least recently used key. Forgetting a key refills its bucket, so the
// bound must exceed the keys active within one refill period. A nil
// *KeyedLimiter allows everything. Safe for concurrent use.
type KeyedLimiter struct {
	perSecond float64
	burst     float64
	maxKeys   int
	now       func() time.Time

	mu   sync.Mutex
	keys map[string]*list.Element
	lru  *list.List // of *bucket, most recently used first
}

type bucket struct {
	key    string
	tokens float64
	last   time.Time
}

// NewKeyedLimiter returns a limiter for r, or nil when r is unlimited.
// maxKeys <= 0 means 100 000; now nil means time.Now.
func NewKeyedLimiter(r Rate, maxKeys int, now func() time.Time) (*KeyedLimiter, error) {
	if r.Limit <= 0 {
		return nil, nil
	}
	if r.Per <= 0 || r.Burst < 1 {
		return nil, fmt.Errorf("rate limit %d per %s: the period must be positive and the burst at least 1 (burst %d)", r.Limit, r.Per, r.Burst)
	}
	if maxKeys <= 0 {
		maxKeys = 100_000
	}
	if now == nil {
		now = time.Now
	}
	return &KeyedLimiter{
		perSecond: float64(r.Limit) / r.Per.Seconds(),
		burst:     float64(r.Burst),
		maxKeys:   maxKeys,
		now:       now,
		keys:      make(map[string]*list.Element),
		lru:       list.New(),
	}, nil
}

// Allow takes one token from key's bucket. When the bucket is empty it takes
// nothing and returns false with the time until a token is available.
func (l *KeyedLimiter) Allow(key string) (ok bool, retryAfter time.Duration) {
	return l.AllowAll(key)
}

// AllowAll takes one token from each key's bucket, or none when any of them
// is empty (then it returns the longest wait).
func (l *KeyedLimiter) AllowAll(keys ...string) (ok bool, retryAfter time.Duration) {
	if l == nil {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	buckets := make([]*bucket, len(keys))
	var wait time.Duration
	for i, key := range keys {
		b := l.bucketLocked(key, now)
		buckets[i] = b
		if b.tokens < 1 {
			wait = max(wait, time.Duration((1-b.tokens)/l.perSecond*float64(time.Second)))
		}
	}
	if wait > 0 {
		return false, wait
	}
	for _, b := range buckets {
		b.tokens--
	}
	return true, 0
}

// bucketLocked returns key's bucket refilled up to now, creating it full
// (and forgetting the least recently used key) when it is new.
func (l *KeyedLimiter) bucketLocked(key string, now time.Time) *bucket {
	if len(key) > maxLimiterKey {
		sum := sha256.Sum256([]byte(key))
		key = "sha256:" + hex.EncodeToString(sum[:])
	}
	if el, found := l.keys[key]; found {
		l.lru.MoveToFront(el)
		b := el.Value.(*bucket)
		// A clock that steps back refills nothing rather than draining.
		if elapsed := now.Sub(b.last); elapsed > 0 {
			b.tokens = min(l.burst, b.tokens+elapsed.Seconds()*l.perSecond)
			b.last = now
		}
		return b
	}
	if l.lru.Len() >= l.maxKeys {
		oldest := l.lru.Back()
		l.lru.Remove(oldest)
		delete(l.keys, oldest.Value.(*bucket).key)
	}
	b := &bucket{key: key, tokens: l.burst, last: now}
	l.keys[key] = l.lru.PushFront(b)
	return b
}

// Len returns how many keys the limiter remembers.
func (l *KeyedLimiter) Len() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lru.Len()
}

// errSlowDown answers our own rate limits. RFC 8628 §3.5 registers
// slow_down for the token endpoint, the one registered token-endpoint error
// meaning "too many requests"; RFC 6585 §4 gives the 429 status. It keeps
// our limits apart from WeChat outages (503 temporarily_unavailable).
var errSlowDown = &fosite.RFC6749Error{
	ErrorField:       "slow_down",
	DescriptionField: "Too many requests; retry after the number of seconds in Retry-After.",
	CodeField:        http.StatusTooManyRequests,
}

// retryLater attaches a Retry-After to e, rounded up to whole seconds (the
// header's unit) and at least one.
func retryLater(e *fosite.RFC6749Error, after time.Duration) error {
	secs := (after + time.Second - 1) / time.Second
	return &upstreamUnavailable{RFC6749Error: e, retryAfter: max(secs, 1) * time.Second}
}

// BreakerConfig configures Upstream's circuit breaker (see config.Breaker).
type BreakerConfig struct {
	// Window is the period over which calls are counted (default 10 s).
	Window time.Duration
	// MinRequests is the number of calls a window needs before the breaker
	// may open (default 20).
	MinRequests int
	// FailurePercent of failed calls in a window opens the breaker (default 50).
	FailurePercent int
	// OpenFor is how long it fails fast before probing (default 5 s).
	OpenFor time.Duration
	// Probes is the number of trial calls that must succeed to close it (default 3).
	Probes int
}

// UpstreamConfig configures Upstream. Zero rates are unlimited.
type UpstreamConfig struct {
	// PerUser limits calls per (appid, openid); keep it below WeChat's 100
	// per user per minute. A code exchange learns the openid only from
	// WeChat's answer, so it is counted after the call: once a user is over,
	// the login is refused with 429 and well-behaved clients back off before
	// WeChat would answer 45011. Phone lookups are counted before the call.
	PerUser Rate
	// PerApp limits calls per appid, before the call.
	PerApp Rate
	// PhonePerAccount caps phone lookups (paid) per account, before the call.
	PhonePerAccount Rate
	// MaxKeys bounds each limiter's memory (see KeyedLimiter).
	MaxKeys int
	// MaxConcurrency bounds WeChat calls in flight (default 64). A call holds
	// its slot until WeChat answers or the Deadline passes, even when the
	// HTTP request that started it has gone.
	MaxConcurrency int
	// QueueTimeout is how long a call waits for a slot (default 1 s).
	QueueTimeout time.Duration
	// Deadline bounds one call including the client's own retry (default 15 s).
	Deadline time.Duration
	Breaker  BreakerConfig
	// Identities resolves (appid, openid) to an account for the phone cap,
	// which then counts per identity and per account (nil: per identity).
	Identities IdentityLookup
	Now        func() time.Time
	Logger     *slog.Logger
}

// IdentityLookup finds the account behind a WeChat identity
// (storage.AccountStore implements it).
type IdentityLookup interface {
	GetWeChatIdentity(ctx context.Context, appID, openID string) (storage.WeChatIdentity, error)
}

// Upstream is a WeChat that protects the upstream and the provider from each
// other. Limits, the concurrency bound and the breaker are per process.
type Upstream struct {
	next                    WeChat
	perUser, perApp, phones *KeyedLimiter
	slots                   chan struct{}
	queueTimeout            time.Duration
	deadline                time.Duration
	breaker                 *breaker
	identities              IdentityLookup
	log                     *slog.Logger
}

var _ WeChat = (*Upstream)(nil)

// NewUpstream wraps next.
func NewUpstream(next WeChat, cfg UpstreamConfig) (*Upstream, error) {
	if next == nil {
		return nil, errors.New("upstream: a WeChat client is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxConcurrency <= 0 {
		cfg.MaxConcurrency = 64
	}
	if cfg.QueueTimeout <= 0 {
		cfg.QueueTimeout = time.Second
	}
	if cfg.Deadline <= 0 {
		cfg.Deadline = 15 * time.Second
	}
	u := &Upstream{
		next:         next,
		slots:        make(chan struct{}, cfg.MaxConcurrency),
		queueTimeout: cfg.QueueTimeout,
		deadline:     cfg.Deadline,
		breaker:      newBreaker(cfg.Breaker, cfg.Now, cfg.Logger),
		identities:   cfg.Identities,
		log:          cfg.Logger,
	}
	var err error
	for _, l := range []struct {
		name string
		dst  **KeyedLimiter
		rate Rate
	}{{"per-user", &u.perUser, cfg.PerUser}, {"per-app", &u.perApp, cfg.PerApp}, {"phone", &u.phones, cfg.PhonePerAccount}} {
		if *l.dst, err = NewKeyedLimiter(l.rate, cfg.MaxKeys, cfg.Now); err != nil {
			return nil, fmt.Errorf("upstream: %s limit: %w", l.name, err)
		}
	}
	return u, nil
}

// BreakerState is "closed", "open" or "half-open" (for metrics and tests).
func (u *Upstream) BreakerState() string { return u.breaker.State() }

// InFlight returns the number of WeChat calls holding a slot.
func (u *Upstream) InFlight() int { return len(u.slots) }

// Code2Session implements WeChat.
func (u *Upstream) Code2Session(ctx context.Context, app wechat.App, jsCode string) (wechat.Session, error) {
	s, err := guarded(ctx, u, app.AppID, func(ctx context.Context) (wechat.Session, error) {
		return u.next.Code2Session(ctx, app, jsCode)
	})
	if err != nil {
		return wechat.Session{}, err
	}
	if ok, wait := u.perUser.Allow(userKey(app.AppID, s.OpenID)); !ok {
		u.log.InfoContext(ctx, "wechat per-user limit reached", "appid", app.AppID, "retry_after", wait)
		return wechat.Session{}, retryLater(errSlowDown.WithHint("Too many logins for this WeChat user."), wait)
	}
	return s, nil
}

// PhoneNumber implements WeChat.
func (u *Upstream) PhoneNumber(ctx context.Context, app wechat.App, phoneCode, openID string) (wechat.Phone, error) {
	if ok, wait := u.perUser.Allow(userKey(app.AppID, openID)); !ok {
		u.log.InfoContext(ctx, "wechat per-user limit reached", "appid", app.AppID, "retry_after", wait)
		return wechat.Phone{}, retryLater(errSlowDown.WithHint("Too many requests for this WeChat user."), wait)
	}
	if u.phones != nil {
		if ok, wait := u.phones.AllowAll(u.phoneKeys(ctx, app.AppID, openID)...); !ok {
			u.log.InfoContext(ctx, "phone lookup cap reached", "appid", app.AppID, "retry_after", wait)
			return wechat.Phone{}, retryLater(errSlowDown.WithHint("This account has verified its phone number too often; retry later or log in without the phone button."), wait)
		}
	}
	return guarded(ctx, u, app.AppID, func(ctx context.Context) (wechat.Phone, error) {
		return u.next.PhoneNumber(ctx, app, phoneCode, openID)
	})
}

func userKey(appID, openID string) string { return appID + "\x00" + openID }

// phoneKeys are the identity (appID, openID) and, once stored, its account:
// the cap holds for an identity before its account exists (the first login
// with the phone button looks up before it creates the account) and for an
// account reached through several mini-programs.
func (u *Upstream) phoneKeys(ctx context.Context, appID, openID string) []string {
	keys := []string{"identity\x00" + userKey(appID, openID)}
	if u.identities != nil {
		if ident, err := u.identities.GetWeChatIdentity(ctx, appID, openID); err == nil && ident.AccountID != "" {
			keys = append(keys, "account\x00"+ident.AccountID)
		}
	}
	return keys
}

type callResult[T any] struct {
	v   T
	err error
}

// guarded runs one WeChat call through the per-app limit, the breaker and a
// concurrency slot. The call itself runs detached from ctx's cancellation
// (within the Deadline) and keeps its slot until it ends: the WeChat client
// finishes a code exchange even when its caller leaves (a half-done exchange
// burns the code), so releasing the slot earlier would let abandoned calls
// pile up beyond the bound.
func guarded[T any](ctx context.Context, u *Upstream, appID string, call func(context.Context) (T, error)) (T, error) {
	var zero T
	if ok, wait := u.perApp.Allow(appID); !ok {
		u.log.WarnContext(ctx, "wechat per-app limit reached", "appid", appID, "retry_after", wait)
		return zero, retryLater(errSlowDown.WithHint("Too many WeChat logins for this mini-program."), wait)
	}
	ticket, wait, ok := u.breaker.admit()
	if !ok {
		return zero, retryLater(fosite.ErrTemporarilyUnavailable.WithHint("WeChat is unavailable; retry with a fresh wx.login code."), wait)
	}
	timer := time.NewTimer(u.queueTimeout)
	defer timer.Stop()
	select {
	case u.slots <- struct{}{}:
	case <-timer.C:
		u.breaker.done(ticket, outcomeNeutral)
		u.log.WarnContext(ctx, "wechat call slots exhausted", "in_flight", len(u.slots))
		return zero, retryLater(fosite.ErrTemporarilyUnavailable.WithHint("Too many WeChat calls in progress; retry with a fresh wx.login code."), time.Second)
	case <-ctx.Done():
		u.breaker.done(ticket, outcomeNeutral)
		return zero, retryLater(fosite.ErrTemporarilyUnavailable.WithWrap(ctx.Err()).WithHint("The request ended before WeChat was called."), time.Second)
	}
	res := make(chan callResult[T], 1)
	go func() {
		var r callResult[T]
		defer func() {
			// A panic here would kill the process: no HTTP recoverer sees
			// this goroutine. It becomes an error like any other.
			if v := recover(); v != nil {
				r = callResult[T]{err: fmt.Errorf("wechat call panicked: %v", v)}
			}
			u.breaker.done(ticket, classify(r.err))
			<-u.slots
			res <- r
		}()
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), u.deadline)
		defer cancel()
		r.v, r.err = call(cctx)
	}()
	select {
	case r := <-res:
		return r.v, r.err
	case <-ctx.Done():
		return zero, retryLater(fosite.ErrTemporarilyUnavailable.WithWrap(ctx.Err()).WithHint("The request ended before WeChat answered."), time.Second)
	}
}

type outcome int

const (
	outcomeSuccess outcome = iota // WeChat answered (even with an error about the request)
	outcomeFailure                // WeChat busy, unreachable, too slow or garbled
	outcomeNeutral                // the call never reached WeChat
)

func classify(err error) outcome {
	switch {
	case err == nil:
		return outcomeSuccess
	case errors.Is(err, wechat.ErrBusy), errors.Is(err, wechat.ErrTransport):
		return outcomeFailure
	}
	return outcomeSuccess
}

type breakerState int

const (
	breakerClosed breakerState = iota
	breakerOpen
	breakerHalfOpen
)

func (s breakerState) String() string {
	switch s {
	case breakerOpen:
		return "open"
	case breakerHalfOpen:
		return "half-open"
	}
	return "closed"
}

// breaker is a circuit breaker over fixed windows: closed, it counts calls
// and failures per window and opens when the window has at least MinRequests
// calls and FailurePercent of them failed; open, it refuses every call for
// OpenFor; then half-open, it lets Probes calls through at a time, closing
// when that many have succeeded and reopening on any failure.
type breaker struct {
	cfg BreakerConfig
	now func() time.Time
	log *slog.Logger

	mu              sync.Mutex
	state           breakerState
	windowStart     time.Time
	calls, failures int
	openedAt        time.Time
	probing, passed int
	// trial numbers the half-open periods, so that a probe admitted in an
	// earlier one does not count in the current one.
	trial uint64
}

// ticket is an admitted call; probe marks a half-open trial call.
type ticket struct {
	probe bool
	trial uint64
}

func newBreaker(cfg BreakerConfig, now func() time.Time, log *slog.Logger) *breaker {
	if cfg.Window <= 0 {
		cfg.Window = 10 * time.Second
	}
	if cfg.MinRequests <= 0 {
		cfg.MinRequests = 20
	}
	if cfg.FailurePercent <= 0 || cfg.FailurePercent > 100 {
		cfg.FailurePercent = 50
	}
	if cfg.OpenFor <= 0 {
		cfg.OpenFor = 5 * time.Second
	}
	if cfg.Probes <= 0 {
		cfg.Probes = 3
	}
	return &breaker{cfg: cfg, now: now, log: log, windowStart: now()}
}

// State returns the current state's name.
func (b *breaker) State() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == breakerOpen && !b.now().Before(b.openedAt.Add(b.cfg.OpenFor)) {
		return breakerHalfOpen.String()
	}
	return b.state.String()
}

// admit decides whether a call may go ahead; when refused, wait is how long
// a client should wait.
func (b *breaker) admit() (t ticket, wait time.Duration, ok bool) {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == breakerOpen {
		reopen := b.openedAt.Add(b.cfg.OpenFor)
		if now.Before(reopen) {
			return ticket{}, reopen.Sub(now), false
		}
		b.state, b.probing, b.passed = breakerHalfOpen, 0, 0
		b.trial++
		b.log.Info("wechat circuit breaker half-open: probing")
	}
	if b.state == breakerHalfOpen {
		if b.probing+b.passed >= b.cfg.Probes {
			return ticket{}, time.Second, false
		}
		b.probing++
		return ticket{probe: true, trial: b.trial}, 0, true
	}
	return ticket{}, 0, true
}

// done records the outcome of an admitted call.
func (b *breaker) done(t ticket, o outcome) {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if t.probe {
		if b.state != breakerHalfOpen || t.trial != b.trial {
			return // a stale probe: the state moved on without it
		}
		b.probing--
		switch o {
		case outcomeFailure:
			b.trip(now, "a probe failed")
		case outcomeSuccess:
			b.passed++
			if b.passed >= b.cfg.Probes {
				b.state, b.calls, b.failures, b.windowStart = breakerClosed, 0, 0, now
				b.log.Info("wechat circuit breaker closed: WeChat answers again")
			}
		}
		return
	}
	// Calls admitted before the breaker opened may end after: only a closed
	// breaker counts them.
	if b.state != breakerClosed || o == outcomeNeutral {
		return
	}
	if now.Sub(b.windowStart) >= b.cfg.Window {
		b.windowStart, b.calls, b.failures = now, 0, 0
	}
	b.calls++
	if o == outcomeFailure {
		b.failures++
	}
	if b.calls >= b.cfg.MinRequests && b.failures*100 >= b.cfg.FailurePercent*b.calls {
		b.trip(now, "failure rate reached")
	}
}

func (b *breaker) trip(now time.Time, why string) {
	b.log.Warn("wechat circuit breaker opened: failing fast", "reason", why,
		"calls", b.calls, "failures", b.failures, "open_for", b.cfg.OpenFor)
	b.state, b.openedAt, b.probing, b.passed = breakerOpen, now, 0, 0
}
