package provider

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/wxoidc/wxoidc/storage"
	"github.com/wxoidc/wxoidc/wechat"
)

// testClock is a manual clock for limiter and breaker tests.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock { return &testClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func mustLimiter(t *testing.T, r Rate, maxKeys int, now func() time.Time) *KeyedLimiter {
	t.Helper()
	l, err := NewKeyedLimiter(r, maxKeys, now)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestKeyedLimiterBurstAndRefill(t *testing.T) {
	clk := newTestClock()
	l := mustLimiter(t, Rate{Limit: 60, Per: time.Minute, Burst: 3}, 10, clk.Now)
	for i := range 3 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("call %d refused within the burst", i)
		}
	}
	ok, wait := l.Allow("a")
	if ok || wait != time.Second {
		t.Fatalf("4th call: ok=%v wait=%v, want refused for 1s", ok, wait)
	}
	// Another key has its own bucket.
	if ok, _ := l.Allow("b"); !ok {
		t.Fatal("key b refused")
	}
	clk.Advance(500 * time.Millisecond)
	if ok, wait := l.Allow("a"); ok || wait != 500*time.Millisecond {
		t.Fatalf("half refilled: ok=%v wait=%v", ok, wait)
	}
	clk.Advance(500 * time.Millisecond)
	if ok, _ := l.Allow("a"); !ok {
		t.Fatal("refused after a full token refilled")
	}
	// Refill stops at the burst.
	clk.Advance(time.Hour)
	for i := range 3 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("call %d after an hour refused", i)
		}
	}
	if ok, _ := l.Allow("a"); ok {
		t.Fatal("bucket refilled beyond its burst")
	}
	// A clock stepping back refills nothing and breaks nothing.
	clk.Advance(-time.Hour)
	if ok, wait := l.Allow("a"); ok || wait <= 0 {
		t.Fatalf("after the clock stepped back: ok=%v wait=%v", ok, wait)
	}
}

func TestKeyedLimiterForgetsLeastRecentlyUsed(t *testing.T) {
	clk := newTestClock()
	l := mustLimiter(t, Rate{Limit: 1, Per: time.Hour, Burst: 1}, 2, clk.Now)
	l.Allow("a")
	l.Allow("b")
	l.Allow("a") // a is now the most recent (refused)
	l.Allow("c") // evicts b
	if l.Len() != 2 {
		t.Fatalf("Len = %d, want 2", l.Len())
	}
	if ok, _ := l.Allow("a"); ok {
		t.Error("a was forgotten although recently used")
	}
	if ok, _ := l.Allow("b"); !ok {
		t.Error("b should have been forgotten (fresh bucket)")
	}
}

func TestKeyedLimiterHashesLongKeys(t *testing.T) {
	clk := newTestClock()
	l := mustLimiter(t, Rate{Limit: 1, Per: time.Hour, Burst: 1}, 10, clk.Now)
	long := strings.Repeat("x", 10_000)
	if ok, _ := l.Allow(long); !ok {
		t.Fatal("first call refused")
	}
	if ok, _ := l.Allow(long); ok {
		t.Fatal("a long key must still be limited")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for k := range l.keys {
		if len(k) > maxLimiterKey {
			t.Fatalf("kept a %d-byte key", len(k))
		}
	}
}

func TestKeyedLimiterDisabledAndInvalid(t *testing.T) {
	l, err := NewKeyedLimiter(Rate{}, 0, nil)
	if err != nil || l != nil {
		t.Fatalf("zero rate: %v, %v; want nil limiter", l, err)
	}
	for range 1000 {
		if ok, _ := l.Allow("k"); !ok {
			t.Fatal("a nil limiter refused")
		}
	}
	if _, err := NewKeyedLimiter(Rate{Limit: 1, Per: 0, Burst: 1}, 0, nil); err == nil {
		t.Error("zero period accepted")
	}
	if _, err := NewKeyedLimiter(Rate{Limit: 1, Per: time.Second, Burst: 0}, 0, nil); err == nil {
		t.Error("zero burst accepted")
	}
}

func TestKeyedLimiterConcurrent(t *testing.T) {
	clk := newTestClock()
	l := mustLimiter(t, Rate{Limit: 1, Per: time.Hour, Burst: 50}, 1000, clk.Now)
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if ok, _ := l.Allow("shared"); ok {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if allowed != 50 {
		t.Fatalf("allowed %d calls, want exactly the burst of 50", allowed)
	}
}

func testBreaker(clk *testClock) *breaker {
	return newBreaker(BreakerConfig{Window: 10 * time.Second, MinRequests: 4, FailurePercent: 50, OpenFor: 5 * time.Second, Probes: 2}, clk.Now, upstreamTestLogger())
}

func (b *breaker) record(t *testing.T, o outcome) {
	t.Helper()
	tk, _, ok := b.admit()
	if !ok {
		t.Fatalf("breaker refused a call in state %s", b.State())
	}
	b.done(tk, o)
}

func TestBreakerOpensOnFailureRate(t *testing.T) {
	clk := newTestClock()
	b := testBreaker(clk)
	// Below MinRequests nothing opens, even at 100 % failures.
	for range 3 {
		b.record(t, outcomeFailure)
	}
	if b.State() != "closed" {
		t.Fatalf("opened below min_requests: %s", b.State())
	}
	// A new window forgets the old failures.
	clk.Advance(10 * time.Second)
	b.record(t, outcomeSuccess)
	b.record(t, outcomeSuccess)
	b.record(t, outcomeFailure)
	if b.State() != "closed" {
		t.Fatal("opened although the old window's failures should be forgotten")
	}
	// Neutral outcomes are not counted.
	tk, _, _ := b.admit()
	b.done(tk, outcomeNeutral)
	if b.State() != "closed" {
		t.Fatal("a neutral outcome counted")
	}
	b.record(t, outcomeFailure) // 2 of 4 = 50 %
	if b.State() != "open" {
		t.Fatalf("state = %s, want open at 50 %% of 4 calls", b.State())
	}
	_, wait, ok := b.admit()
	if ok || wait != 5*time.Second {
		t.Fatalf("open breaker: ok=%v wait=%v, want refused for 5s", ok, wait)
	}
	clk.Advance(2 * time.Second)
	if _, wait, _ := b.admit(); wait != 3*time.Second {
		t.Fatalf("wait = %v, want the remaining 3s", wait)
	}
}

func tripped(t *testing.T, clk *testClock) *breaker {
	t.Helper()
	b := testBreaker(clk)
	for range 4 {
		b.record(t, outcomeFailure)
	}
	if b.State() != "open" {
		t.Fatal("did not open")
	}
	clk.Advance(5 * time.Second)
	return b
}

func TestBreakerHalfOpenCloses(t *testing.T) {
	clk := newTestClock()
	b := tripped(t, clk)
	if b.State() != "half-open" {
		t.Fatalf("state = %s after open_for, want half-open", b.State())
	}
	p1, _, ok1 := b.admit()
	p2, _, ok2 := b.admit()
	_, wait, ok3 := b.admit()
	if !ok1 || !ok2 || ok3 || wait <= 0 || !p1.probe || !p2.probe {
		t.Fatalf("half-open admits exactly 2 probes: %v %v %v (wait %v)", ok1, ok2, ok3, wait)
	}
	// A probe that never reached WeChat frees its place.
	b.done(p1, outcomeNeutral)
	p3, _, ok := b.admit()
	if !ok {
		t.Fatal("a neutral probe did not free its place")
	}
	b.done(p2, outcomeSuccess)
	if b.State() != "half-open" {
		t.Fatal("closed after one of two probes")
	}
	b.done(p3, outcomeSuccess)
	if b.State() != "closed" {
		t.Fatalf("state = %s after all probes passed, want closed", b.State())
	}
	// Closed again with a fresh window.
	for range 3 {
		b.record(t, outcomeFailure)
	}
	if b.State() != "closed" {
		t.Fatal("the window was not reset on closing")
	}
}

func TestBreakerProbeFailureReopens(t *testing.T) {
	clk := newTestClock()
	b := tripped(t, clk)
	old, _, _ := b.admit()
	p, _, _ := b.admit()
	b.done(p, outcomeFailure)
	if b.State() != "open" {
		t.Fatalf("state = %s after a failed probe, want open", b.State())
	}
	if _, wait, ok := b.admit(); ok || wait != 5*time.Second {
		t.Fatalf("reopened breaker: ok=%v wait=%v", ok, wait)
	}
	clk.Advance(5 * time.Second)
	fresh, _, _ := b.admit()
	// The probe of the previous half-open period ends now: it must not count.
	b.done(old, outcomeSuccess)
	b.done(fresh, outcomeSuccess)
	if b.State() != "half-open" {
		t.Fatalf("a stale probe counted: state %s", b.State())
	}
	// Calls admitted while closed that end while open are ignored too.
	b2 := testBreaker(clk)
	var tickets []ticket
	for range 4 {
		tk, _, _ := b2.admit()
		tickets = append(tickets, tk)
	}
	for _, tk := range tickets {
		b2.done(tk, outcomeFailure)
	}
	b2.done(ticket{}, outcomeSuccess)
	if b2.State() != "open" {
		t.Fatal("a late success of a closed-state call closed an open breaker")
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want outcome
	}{
		{nil, outcomeSuccess},
		{&wechat.Error{API: "jscode2session", Code: -1}, outcomeFailure},
		{&wechat.TransportError{API: "jscode2session", Reason: "timeout"}, outcomeFailure},
		{&wechat.Error{API: "jscode2session", Code: 40029}, outcomeSuccess},
		{&wechat.Error{API: "jscode2session", Code: 45011}, outcomeSuccess},
		{&wechat.Error{API: "jscode2session", Code: 40163, Prior: &wechat.Error{API: "jscode2session", Code: -1}}, outcomeFailure},
	} {
		if got := classify(tc.err); got != tc.want {
			t.Errorf("classify(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// fakeWeChat answers from functions; nil functions succeed at once.
type fakeWeChat struct {
	code2Session func(ctx context.Context, app wechat.App, code string) (wechat.Session, error)
	phone        func(ctx context.Context, app wechat.App, code, openID string) (wechat.Phone, error)
}

func (f *fakeWeChat) Code2Session(ctx context.Context, app wechat.App, code string) (wechat.Session, error) {
	if f.code2Session != nil {
		return f.code2Session(ctx, app, code)
	}
	return wechat.Session{OpenID: "openid-" + code}, nil
}

func (f *fakeWeChat) PhoneNumber(ctx context.Context, app wechat.App, code, openID string) (wechat.Phone, error) {
	if f.phone != nil {
		return f.phone(ctx, app, code, openID)
	}
	return wechat.Phone{PhoneNumber: "13800138000", PurePhoneNumber: "13800138000", CountryCode: "86"}, nil
}

// wantAnswer checks the OAuth answer an Upstream error becomes.
func wantAnswer(t *testing.T, err error, status int, code string, retryAfter time.Duration) {
	t.Helper()
	if err == nil {
		t.Fatalf("want %d %s, got success", status, code)
	}
	rfc := fosite.ErrorToRFC6749Error(err)
	if rfc.CodeField != status || rfc.ErrorField != code {
		t.Fatalf("answer = %d %s (%v), want %d %s", rfc.CodeField, rfc.ErrorField, err, status, code)
	}
	if got := RetryAfter(err); got != retryAfter {
		t.Fatalf("RetryAfter = %v, want %v", got, retryAfter)
	}
	// The grant passes these answers through unchanged.
	g := &wechatGrant{log: upstreamTestLogger()}
	if mapped := g.upstreamError(context.Background(), "jscode2session", err); mapped != err {
		t.Fatalf("upstreamError changed the answer: %v", mapped)
	}
}

var appX = wechat.App{AppID: "wxxxxxxxxxxxxxxxxx", Secret: "s"}

func TestUpstreamPerAppLimit(t *testing.T) {
	clk := newTestClock()
	u, err := NewUpstream(&fakeWeChat{}, UpstreamConfig{PerApp: Rate{Limit: 1, Per: 2 * time.Second, Burst: 2}, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 2 {
		if _, err := u.Code2Session(ctx, appX, "c"+string(rune('0'+i))); err != nil {
			t.Fatal(err)
		}
	}
	_, err = u.Code2Session(ctx, appX, "c3")
	wantAnswer(t, err, http.StatusTooManyRequests, "slow_down", 2*time.Second)
	other := wechat.App{AppID: "wxyyyyyyyyyyyyyyyy", Secret: "s"}
	if _, err := u.Code2Session(ctx, other, "c"); err != nil {
		t.Fatalf("another appid is limited too: %v", err)
	}
}

func TestUpstreamPerUserLimit(t *testing.T) {
	clk := newTestClock()
	calls := 0
	wc := &fakeWeChat{code2Session: func(context.Context, wechat.App, string) (wechat.Session, error) {
		calls++
		return wechat.Session{OpenID: "same-user"}, nil
	}}
	u, err := NewUpstream(wc, UpstreamConfig{PerUser: Rate{Limit: 60, Per: time.Minute, Burst: 2}, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 2 {
		if _, err := u.Code2Session(ctx, appX, "c"); err != nil {
			t.Fatal(err)
		}
	}
	_, err = u.Code2Session(ctx, appX, "c")
	wantAnswer(t, err, http.StatusTooManyRequests, "slow_down", time.Second)
	if calls != 3 {
		t.Fatalf("WeChat calls = %d: the openid is known only after the call", calls)
	}
	// Phone lookups of the same user share the bucket and are refused before the call.
	_, err = u.PhoneNumber(ctx, appX, "phone-code", "same-user")
	wantAnswer(t, err, http.StatusTooManyRequests, "slow_down", time.Second)
	clk.Advance(time.Second)
	if _, err := u.PhoneNumber(ctx, appX, "phone-code", "same-user"); err != nil {
		t.Fatalf("after a refill: %v", err)
	}
}

// identities is an IdentityLookup over a map.
type identities map[string]string

func (m identities) GetWeChatIdentity(_ context.Context, appID, openID string) (storage.WeChatIdentity, error) {
	acc, ok := m[appID+"/"+openID]
	if !ok {
		return storage.WeChatIdentity{}, storage.ErrNotFound
	}
	return storage.WeChatIdentity{AppID: appID, OpenID: openID, AccountID: acc}, nil
}

func TestUpstreamPhoneCapPerAccount(t *testing.T) {
	clk := newTestClock()
	lookups := 0
	wc := &fakeWeChat{phone: func(context.Context, wechat.App, string, string) (wechat.Phone, error) {
		lookups++
		return wechat.Phone{}, nil
	}}
	appY := wechat.App{AppID: "wxyyyyyyyyyyyyyyyy", Secret: "s"}
	ids := identities{appX.AppID + "/ox": "acc-1", appY.AppID + "/oy": "acc-1"}
	u, err := NewUpstream(wc, UpstreamConfig{PhonePerAccount: Rate{Limit: 2, Per: 24 * time.Hour, Burst: 2}, Identities: ids, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// One account reached through two mini-programs has one cap.
	if _, err := u.PhoneNumber(ctx, appX, "p1", "ox"); err != nil {
		t.Fatal(err)
	}
	if _, err := u.PhoneNumber(ctx, appY, "p2", "oy"); err != nil {
		t.Fatal(err)
	}
	_, err = u.PhoneNumber(ctx, appX, "p3", "ox")
	wantAnswer(t, err, http.StatusTooManyRequests, "slow_down", 12*time.Hour)
	if lookups != 2 {
		t.Fatalf("lookups = %d, want the refused one never sent", lookups)
	}
	// An identity without a stored account has its own cap.
	if _, err := u.PhoneNumber(ctx, appX, "p4", "new-user"); err != nil {
		t.Fatal(err)
	}
}

func TestUpstreamBreakerFailsFastAndRecovers(t *testing.T) {
	clk := newTestClock()
	var mu sync.Mutex
	down := true
	calls := 0
	wc := &fakeWeChat{code2Session: func(context.Context, wechat.App, string) (wechat.Session, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if down {
			return wechat.Session{}, &wechat.Error{API: "jscode2session", Code: -1}
		}
		return wechat.Session{OpenID: "o"}, nil
	}}
	u, err := NewUpstream(wc, UpstreamConfig{
		Breaker: BreakerConfig{Window: time.Minute, MinRequests: 5, FailurePercent: 100, OpenFor: 4 * time.Second, Probes: 1},
		Now:     clk.Now, Logger: upstreamTestLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 5 {
		if _, err := u.Code2Session(ctx, appX, "c"); !errors.Is(err, wechat.ErrBusy) {
			t.Fatalf("while closed the WeChat error passes through: %v", err)
		}
	}
	_, err = u.Code2Session(ctx, appX, "c")
	wantAnswer(t, err, http.StatusServiceUnavailable, "temporarily_unavailable", 4*time.Second)
	if calls != 5 {
		t.Fatalf("WeChat called %d times, want 5 (the open breaker fails fast)", calls)
	}
	mu.Lock()
	down = false
	mu.Unlock()
	clk.Advance(4 * time.Second)
	if _, err := u.Code2Session(ctx, appX, "c"); err != nil {
		t.Fatalf("probe: %v", err)
	}
	if u.BreakerState() != "closed" {
		t.Fatalf("state = %s after a successful probe", u.BreakerState())
	}
}

func TestUpstreamConcurrencyBound(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 10)
	wc := &fakeWeChat{code2Session: func(ctx context.Context, _ wechat.App, _ string) (wechat.Session, error) {
		started <- struct{}{}
		select {
		case <-release:
			return wechat.Session{OpenID: "o"}, nil
		case <-ctx.Done():
			return wechat.Session{}, &wechat.TransportError{API: "jscode2session", Reason: "timeout", Err: ctx.Err()}
		}
	}}
	u, err := NewUpstream(wc, UpstreamConfig{MaxConcurrency: 2, QueueTimeout: 20 * time.Millisecond, Deadline: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	// Two callers hold both slots; the first one leaves early.
	leaveCtx, leave := context.WithCancel(context.Background())
	errs := make(chan error, 2)
	go func() { _, err := u.Code2Session(leaveCtx, appX, "a"); errs <- err }()
	go func() { _, err := u.Code2Session(context.Background(), appX, "b"); errs <- err }()
	<-started
	<-started
	leave()
	wantAnswer(t, <-errs, http.StatusServiceUnavailable, "temporarily_unavailable", time.Second)
	// The abandoned call still holds its slot: a third caller times out in the queue.
	if u.InFlight() != 2 {
		t.Fatalf("in flight = %d, want 2 (abandoned calls keep their slot)", u.InFlight())
	}
	_, err = u.Code2Session(context.Background(), appX, "c")
	wantAnswer(t, err, http.StatusServiceUnavailable, "temporarily_unavailable", time.Second)
	close(release)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	// Slots come back once WeChat answers.
	if _, err := u.Code2Session(context.Background(), appX, "d"); err != nil {
		t.Fatal(err)
	}
}

func TestUpstreamDeadlineAndPanic(t *testing.T) {
	var deadline time.Time
	wc := &fakeWeChat{
		code2Session: func(ctx context.Context, _ wechat.App, _ string) (wechat.Session, error) {
			deadline, _ = ctx.Deadline()
			return wechat.Session{OpenID: "o"}, nil
		},
		phone: func(context.Context, wechat.App, string, string) (wechat.Phone, error) { panic("boom") },
	}
	u, err := NewUpstream(wc, UpstreamConfig{Deadline: 7 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := u.Code2Session(context.Background(), appX, "c"); err != nil {
		t.Fatal(err)
	}
	if d := deadline.Sub(start); d <= 0 || d > 7*time.Second+time.Second {
		t.Fatalf("call deadline %v from now, want about 7s", d)
	}
	_, err = u.PhoneNumber(context.Background(), appX, "p", "o")
	if err == nil || !strings.Contains(err.Error(), "panicked") {
		t.Fatalf("a panic in the WeChat call: %v", err)
	}
	if u.InFlight() != 0 {
		t.Fatal("a panicking call kept its slot")
	}
}

func upstreamTestLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestKeyedLimiterAllowAllTakesAllOrNothing(t *testing.T) {
	clk := newTestClock()
	l := mustLimiter(t, Rate{Limit: 1, Per: 10 * time.Second, Burst: 1}, 10, clk.Now)
	l.Allow("a")
	if ok, wait := l.AllowAll("b", "a"); ok || wait != 10*time.Second {
		t.Fatalf("AllowAll with a spent bucket: ok=%v wait=%v", ok, wait)
	}
	if ok, _ := l.Allow("b"); !ok {
		t.Fatal("a refused AllowAll took b's token")
	}
}

func TestUpstreamPhoneCapBeforeTheAccountExists(t *testing.T) {
	clk := newTestClock()
	ids := identities{}
	u, err := NewUpstream(&fakeWeChat{}, UpstreamConfig{PhonePerAccount: Rate{Limit: 2, Per: 24 * time.Hour, Burst: 2}, Identities: ids, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// The first lookup precedes the account, which the login then creates.
	if _, err := u.PhoneNumber(ctx, appX, "p1", "ox"); err != nil {
		t.Fatal(err)
	}
	ids[appX.AppID+"/ox"] = "acc-9"
	if _, err := u.PhoneNumber(ctx, appX, "p2", "ox"); err != nil {
		t.Fatal(err)
	}
	_, err = u.PhoneNumber(ctx, appX, "p3", "ox")
	wantAnswer(t, err, http.StatusTooManyRequests, "slow_down", 12*time.Hour)
}
