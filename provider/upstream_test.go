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

	"github.com/wxoidc/wxoidc/internal/breaker"
	"github.com/wxoidc/wxoidc/internal/ratelimit"
	"github.com/wxoidc/wxoidc/internal/testharness"
	"github.com/wxoidc/wxoidc/storage"
	"github.com/wxoidc/wxoidc/wechat"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want breaker.Outcome
	}{
		{nil, breaker.Success},
		{&wechat.Error{API: "jscode2session", Code: -1}, breaker.Failure},
		{&wechat.TransportError{API: "jscode2session", Reason: "timeout"}, breaker.Failure},
		{&wechat.Error{API: "jscode2session", Code: 40029}, breaker.Success},
		{&wechat.Error{API: "jscode2session", Code: 45011}, breaker.Success},
		{&wechat.Error{API: "jscode2session", Code: 40163, Prior: &wechat.Error{API: "jscode2session", Code: -1}}, breaker.Failure},
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
	if got := ErrorOf(err).RetryAfter; got != retryAfter {
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
	clk := testharness.NewClock(testharness.Epoch)
	u, err := NewUpstream(&fakeWeChat{}, UpstreamConfig{PerApp: ratelimit.Rate{Limit: 1, Per: 2 * time.Second, Burst: 2}, Now: clk.Now})
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
	clk := testharness.NewClock(testharness.Epoch)
	calls := 0
	wc := &fakeWeChat{code2Session: func(context.Context, wechat.App, string) (wechat.Session, error) {
		calls++
		return wechat.Session{OpenID: "same-user"}, nil
	}}
	u, err := NewUpstream(wc, UpstreamConfig{PerUser: ratelimit.Rate{Limit: 60, Per: time.Minute, Burst: 2}, Now: clk.Now})
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
	clk := testharness.NewClock(testharness.Epoch)
	lookups := 0
	wc := &fakeWeChat{phone: func(context.Context, wechat.App, string, string) (wechat.Phone, error) {
		lookups++
		return wechat.Phone{}, nil
	}}
	appY := wechat.App{AppID: "wxyyyyyyyyyyyyyyyy", Secret: "s"}
	ids := identities{appX.AppID + "/ox": "acc-1", appY.AppID + "/oy": "acc-1"}
	u, err := NewUpstream(wc, UpstreamConfig{PhonePerAccount: ratelimit.Rate{Limit: 2, Per: 24 * time.Hour, Burst: 2}, Identities: ids, Now: clk.Now})
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
	clk := testharness.NewClock(testharness.Epoch)
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
		Breaker: breaker.Config{Window: time.Minute, MinRequests: 5, FailurePercent: 100, OpenFor: 4 * time.Second, Probes: 1},
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
	if u.inFlight() != 2 {
		t.Fatalf("in flight = %d, want 2 (abandoned calls keep their slot)", u.inFlight())
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
	if u.inFlight() != 0 {
		t.Fatal("a panicking call kept its slot")
	}
}

func upstreamTestLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestUpstreamPhoneCapBeforeTheAccountExists(t *testing.T) {
	clk := testharness.NewClock(testharness.Epoch)
	ids := identities{}
	u, err := NewUpstream(&fakeWeChat{}, UpstreamConfig{PhonePerAccount: ratelimit.Rate{Limit: 2, Per: 24 * time.Hour, Burst: 2}, Identities: ids, Now: clk.Now})
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
