package wechat_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/wechat"
	"github.com/wxoidc/wxoidc/wechat/wechattest"
)

func TestAccessTokenCachedAndRefreshedAhead(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tok1, err := e.client.AccessToken(ctx, e.app)
	if err != nil {
		t.Fatal(err)
	}
	e.secret(tok1)
	if len(tok1) < 100 {
		t.Errorf("token length %d", len(tok1))
	}
	// Still fresh just before the margin (7200 s - 180 s).
	e.clock.Advance(7200*time.Second - wechat.DefaultTokenRefreshMargin - time.Second)
	if tok, err := e.client.AccessToken(ctx, e.app); err != nil || tok != tok1 {
		t.Fatalf("before margin: %v, same=%v", err, tok == tok1)
	}
	if n := e.calls(wechattest.APIStableToken); n != 1 {
		t.Fatalf("%d stable_token calls, want 1 (cached)", n)
	}
	// Inside the margin: refreshed; WeChat is in its last 300 s and renews.
	e.clock.Advance(2 * time.Second)
	tok2, err := e.client.AccessToken(ctx, e.app)
	if err != nil {
		t.Fatal(err)
	}
	e.secret(tok2)
	if tok2 == tok1 {
		t.Error("refresh inside the margin returned the old token")
	}
	if n := e.calls(wechattest.APIStableToken); n != 2 {
		t.Errorf("%d stable_token calls, want 2", n)
	}
	// The new token is cached in turn.
	if tok, _ := e.client.AccessToken(ctx, e.app); tok != tok2 {
		t.Error("new token not cached")
	}
}

// TestAccessTokenSiblingsShareStableToken: two instances get the same token
// and neither invalidates the other (the point of stable_token).
func TestAccessTokenSiblingsShareStableToken(t *testing.T) {
	e := newEnv(t)
	a, err := e.client.AccessToken(context.Background(), e.app)
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.newClient().AccessToken(context.Background(), e.app)
	if err != nil {
		t.Fatal(err)
	}
	e.secret(a)
	if a != b {
		t.Error("siblings got different stable tokens")
	}
	g := e.phone(testAppID, "u", "+8613800138000")
	if _, err := e.phoneNumber(g.Code, ""); err != nil {
		t.Fatal(err)
	}
}

func TestAccessTokenSingleFlight(t *testing.T) {
	e := newEnv(t)
	hold := make(chan struct{})
	e.emu.Inject(wechattest.Fault{API: wechattest.APIStableToken, Hold: hold})
	const n = 50
	var wg sync.WaitGroup
	toks := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { toks[i], errs[i] = e.client.AccessToken(context.Background(), e.app) })
	}
	close(hold)
	wg.Wait()
	for i := range n {
		if errs[i] != nil || toks[i] != toks[0] {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
	}
	e.secret(toks[0])
	if got := e.calls(wechattest.APIStableToken); got != 1 {
		t.Errorf("%d stable_token calls, want 1", got)
	}
}

func TestAccessTokenErrors(t *testing.T) {
	tests := []struct {
		name string
		app  func(e *env) wechat.App
		opts func(*wechattest.Options)
		code int
		want error
	}{
		{"wrong secret", func(e *env) wechat.App {
			e.secret("not-the-secret-0001")
			return wechat.App{AppID: testAppID, Secret: "not-the-secret-0001"}
		}, nil, 40125, wechat.ErrConfig},
		{"unknown appid", func(e *env) wechat.App { return wechat.App{AppID: "wx0000000000000009", Secret: testSecret} }, nil, 40013, wechat.ErrConfig},
		{"IP whitelist", func(e *env) wechat.App {
			e.emu.RegisterApp(wechattest.App{AppID: testAppID, Secret: testSecret, IPWhitelist: []string{"203.0.113.7", "198.51.100.0/24"}})
			return e.app
		}, nil, 40164, wechat.ErrConfig},
		{"secret frozen", func(e *env) wechat.App {
			e.emu.RegisterApp(wechattest.App{AppID: testAppID, Secret: testSecret, SecretFrozen: true})
			return e.app
		}, nil, 40243, wechat.ErrConfig},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			_, err := e.client.AccessToken(context.Background(), tc.app(e))
			e.checkResult(wechat.SessionKey{}, err)
			assertCategories(t, err, tc.want)
			if got := errCode(err); got != tc.code {
				t.Errorf("errcode = %d, want %d", got, tc.code)
			}
		})
	}
}

func TestAccessTokenQuotas(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts func(*wechattest.Options)
		code int
	}{
		{"daily 45009", func(o *wechattest.Options) { o.StableTokenDailyQuota = 2 }, 45009},
		{"minute 45011", func(o *wechattest.Options) { o.StableTokenMinuteQuota = 2 }, 45011},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(o *wechattest.Options, _ *wechat.Config) { tc.opts(o) })
			for range 2 {
				if _, err := e.newClient().AccessToken(context.Background(), e.app); err != nil {
					t.Fatal(err)
				}
			}
			_, err := e.newClient().AccessToken(context.Background(), e.app)
			assertCategories(t, err, wechat.ErrRateLimited)
			if got := errCode(err); got != tc.code {
				t.Errorf("errcode = %d, want %d", got, tc.code)
			}
		})
	}
}

func TestAccessTokenBusyRetried(t *testing.T) {
	e := newEnv(t)
	e.emu.Inject(wechattest.Fault{API: wechattest.APIStableToken, ErrCode: -1})
	if _, err := e.client.AccessToken(context.Background(), e.app); err != nil {
		t.Fatalf("stable_token is idempotent and retried once after -1: %v", err)
	}
	e.emu.Inject(wechattest.Fault{API: wechattest.APIStableToken, ErrCode: 40001})
	_, err := e.newClient().AccessToken(context.Background(), e.app)
	// 40001 on the token endpoint itself is a credential problem, not a
	// stale token: no refresh loop.
	assertCategories(t, err, wechat.ErrConfig)
}

func TestForceRefreshAccessToken(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	old, err := e.client.AccessToken(ctx, e.app)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := e.client.ForceRefreshAccessToken(ctx, e.app)
	if err != nil {
		t.Fatal(err)
	}
	e.secret(old, fresh)
	if fresh == old {
		t.Fatal("force refresh returned the old token")
	}
	if tok, _ := e.client.AccessToken(ctx, e.app); tok != fresh {
		t.Error("forced token not cached")
	}
	// Within 30 s WeChat ignores another force and returns the current token.
	again, err := e.client.ForceRefreshAccessToken(ctx, e.app)
	if err != nil || again != fresh {
		t.Errorf("second force within 30 s: %v, changed=%v", err, again != fresh)
	}
}

func TestNewClientValidation(t *testing.T) {
	tests := []struct {
		name string
		cfg  wechat.Config
		ok   bool
	}{
		{"zero value", wechat.Config{}, true},
		{"http base with prefix", wechat.Config{BaseURL: "http://127.0.0.1:8080/wechat-emulator/"}, true},
		{"fallbacks", wechat.Config{FallbackBaseURLs: []string{"https://api2.weixin.qq.com"}}, true},
		{"margin just below 300 s", wechat.Config{TokenRefreshMargin: 299 * time.Second}, true},
		{"ftp scheme", wechat.Config{BaseURL: "ftp://api.weixin.qq.com"}, false},
		{"no host", wechat.Config{BaseURL: "https://"}, false},
		{"query", wechat.Config{BaseURL: "https://api.weixin.qq.com/?x=1"}, false},
		{"user info", wechat.Config{BaseURL: "https://u:p@api.weixin.qq.com"}, false},
		{"bad fallback", wechat.Config{FallbackBaseURLs: []string{"::"}}, false},
		{"negative timeout", wechat.Config{CallTimeout: -1}, false},
		{"negative size", wechat.Config{MaxResponseBytes: -1}, false},
		{"negative backoff", wechat.Config{RetryBackoff: -1}, false},
		{"margin 300 s", wechat.Config{TokenRefreshMargin: 300 * time.Second}, false},
		{"negative margin", wechat.Config{TokenRefreshMargin: -time.Second}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := wechat.NewClient(tc.cfg)
			if (err == nil) != tc.ok {
				t.Errorf("NewClient: err = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
