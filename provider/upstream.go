package provider

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/ory/fosite"

	"github.com/wxoidc/wxoidc/internal/breaker"
	"github.com/wxoidc/wxoidc/internal/ratelimit"
	"github.com/wxoidc/wxoidc/storage"
	"github.com/wxoidc/wxoidc/wechat"
)

// This file isolates the token endpoint from WeChat: Upstream wraps the
// WeChat client with rate limits that answer before WeChat's own quotas do,
// a bound on calls in flight, a deadline per call, and a circuit breaker that
// fails fast while WeChat is down. Our own limits answer 429 slow_down; an
// unavailable WeChat answers 503 temporarily_unavailable; both carry a
// Retry-After (Error.RetryAfter).

// errSlowDown answers our own rate limits. RFC 8628 §3.5 registers
// slow_down for the token endpoint, the one registered token-endpoint error
// meaning "too many requests"; RFC 6585 §4 gives the 429 status. It keeps
// our limits apart from WeChat outages (503 temporarily_unavailable).
var errSlowDown = &fosite.RFC6749Error{
	ErrorField:       "slow_down",
	DescriptionField: "Too many requests; retry after the number of seconds in Retry-After.",
	CodeField:        http.StatusTooManyRequests,
}

// UpstreamConfig configures Upstream. Zero rates are unlimited.
type UpstreamConfig struct {
	// PerUser limits calls per (appid, openid); keep it below WeChat's 100
	// per user per minute. A code exchange learns the openid only from
	// WeChat's answer, so it is counted after the call: once a user is over,
	// the login is refused with 429 and well-behaved clients back off before
	// WeChat would answer 45011. Phone lookups are counted before the call.
	PerUser ratelimit.Rate
	// PerApp limits calls per appid, before the call.
	PerApp ratelimit.Rate
	// PhonePerAccount caps phone lookups (paid) per account, before the call.
	PhonePerAccount ratelimit.Rate
	// MaxKeys bounds each limiter's memory (see ratelimit.Limiter).
	MaxKeys int
	// MaxConcurrency bounds WeChat calls in flight (default 64). A call holds
	// its slot until WeChat answers or the Deadline passes, even when the
	// HTTP request that started it has gone.
	MaxConcurrency int
	// QueueTimeout is how long a call waits for a slot (default 1 s).
	QueueTimeout time.Duration
	// Deadline bounds one call including the client's own retry (default 15 s).
	Deadline time.Duration
	Breaker  breaker.Config
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
	perUser, perApp, phones *ratelimit.Limiter
	slots                   chan struct{}
	queueTimeout            time.Duration
	deadline                time.Duration
	breaker                 *breaker.Breaker
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
		breaker:      breaker.New("wechat", cfg.Breaker, cfg.Now, cfg.Logger),
		identities:   cfg.Identities,
		log:          cfg.Logger,
	}
	var err error
	for _, l := range []struct {
		name string
		dst  **ratelimit.Limiter
		rate ratelimit.Rate
	}{{"per-user", &u.perUser, cfg.PerUser}, {"per-app", &u.perApp, cfg.PerApp}, {"phone", &u.phones, cfg.PhonePerAccount}} {
		if *l.dst, err = ratelimit.New(l.rate, cfg.MaxKeys, cfg.Now); err != nil {
			return nil, fmt.Errorf("upstream: %s limit: %w", l.name, err)
		}
	}
	return u, nil
}

// BreakerState is "closed", "open" or "half-open" (for metrics and tests).
func (u *Upstream) BreakerState() string { return u.breaker.State() }

// inFlight returns the number of WeChat calls holding a slot.
func (u *Upstream) inFlight() int { return len(u.slots) }

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

// WebAccessToken implements WeChatWeb: a browser sign-in's code exchange
// goes through the same breaker, concurrency bound and per-app and
// per-user limits as a mini-program login.
func (u *Upstream) WebAccessToken(ctx context.Context, app wechat.App, code string) (wechat.WebToken, error) {
	web, ok := u.next.(WeChatWeb)
	if !ok {
		return wechat.WebToken{}, errors.New("upstream: the WeChat client has no web OAuth")
	}
	t, err := guarded(ctx, u, app.AppID, func(ctx context.Context) (wechat.WebToken, error) {
		return web.WebAccessToken(ctx, app, code)
	})
	if err != nil {
		return wechat.WebToken{}, err
	}
	if ok, wait := u.perUser.Allow(userKey(app.AppID, t.OpenID)); !ok {
		u.log.InfoContext(ctx, "wechat per-user limit reached", "appid", app.AppID, "retry_after", wait)
		return wechat.WebToken{}, retryLater(errSlowDown.WithHint("Too many sign-ins for this WeChat user."), wait)
	}
	return t, nil
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

// UnlimitedCode implements WeChatCode: making a code for the scan sign-in
// goes through the same per-app limit, breaker and concurrency bound as a
// login, so a flood of login pages cannot exhaust what logins need.
func (u *Upstream) UnlimitedCode(ctx context.Context, app wechat.App, req wechat.CodeRequest) (wechat.CodeImage, error) {
	codes, ok := u.next.(WeChatCode)
	if !ok {
		return wechat.CodeImage{}, errors.New("upstream: the WeChat client makes no mini-program codes")
	}
	return guarded(ctx, u, app.AppID, func(ctx context.Context) (wechat.CodeImage, error) {
		return codes.UnlimitedCode(ctx, app, req)
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
	ticket, wait, ok := u.breaker.Admit()
	if !ok {
		return zero, retryLater(fosite.ErrTemporarilyUnavailable.WithHint("WeChat is unavailable; retry with a fresh wx.login code."), wait)
	}
	timer := time.NewTimer(u.queueTimeout)
	defer timer.Stop()
	select {
	case u.slots <- struct{}{}:
	case <-timer.C:
		u.breaker.Done(ticket, breaker.Neutral)
		u.log.WarnContext(ctx, "wechat call slots exhausted", "in_flight", len(u.slots))
		return zero, retryLater(fosite.ErrTemporarilyUnavailable.WithHint("Too many WeChat calls in progress; retry with a fresh wx.login code."), time.Second)
	case <-ctx.Done():
		u.breaker.Done(ticket, breaker.Neutral)
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
			u.breaker.Done(ticket, classify(r.err))
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

// classify tells the breaker how a WeChat call went: an answer, even one
// refusing the request, is a success; busy, unreachable or garbled is not.
func classify(err error) breaker.Outcome {
	if errors.Is(err, wechat.ErrBusy) || errors.Is(err, wechat.ErrTransport) {
		return breaker.Failure
	}
	return breaker.Success
}
