package provider

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/internal/testharness"
	"github.com/wxoidc/wxoidc/storage"
)

// newLoginEnv is an authorize env on a manual clock, with one account.
func newLoginEnv(t *testing.T) (*benchEnv, *testharness.Clock, string) {
	t.Helper()
	e := newAuthzEnv(t)
	clock := testharness.NewClock(testharness.Epoch)
	e.p.now = clock.Now
	_, acc, err := e.store.ResolveWeChatLogin(context.Background(), storage.WeChatLogin{AppID: "wxweb", OpenID: "o-login-test", NewAccountID: "acc-login-test", Now: clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return e, clock, acc.ID
}

// A login session ends after 12 idle hours, or 7 days whatever the use;
// the cookie value itself is never stored.
func TestLoginSessionLifetimes(t *testing.T) {
	e, clock, account := newLoginEnv(t)
	ctx := context.Background()

	cookie, login, err := e.p.StartLogin(ctx, account, "wxweb")
	if err != nil {
		t.Fatal(err)
	}
	if login.SessionID == cookie || strings.Contains(login.SessionID, cookie) || len(cookie) < 40 {
		t.Fatalf("session id %q vs cookie %q: the store must hold a hash, the cookie ≥ 256 bits", login.SessionID, cookie)
	}
	if _, err := e.store.GetLoginSession(ctx, cookie); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("a session is found by its raw cookie value: %v", err)
	}
	// Used every 11 hours, it lives until its 7 days are up.
	for i := 0; i < 15; i++ {
		clock.Advance(11 * time.Hour)
		got, err := e.p.CurrentLogin(ctx, cookie)
		if err != nil {
			t.Fatalf("after %d×11h: %v", i+1, err)
		}
		if got.AccountID != account || !got.AuthTime.Equal(login.AuthTime) {
			t.Fatalf("login = %+v", got)
		}
	}
	clock.Advance(11 * time.Hour) // 176 h > 168 h
	if _, err := e.p.CurrentLogin(ctx, cookie); !errors.Is(err, ErrNoLogin) {
		t.Fatalf("past 7 days: %v, want ErrNoLogin", err)
	}

	// Idle for more than 12 hours: gone.
	cookie, _, err = e.p.StartLogin(ctx, account, "wxweb")
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(12*time.Hour + time.Second)
	if _, err := e.p.CurrentLogin(ctx, cookie); !errors.Is(err, ErrNoLogin) {
		t.Fatalf("idle 12 h: %v, want ErrNoLogin", err)
	}

	// A disabled account's session signs nobody in; an ended one neither.
	cookie, _, err = e.p.StartLogin(ctx, account, "wxweb")
	if err != nil {
		t.Fatal(err)
	}
	disableAccount(t, e, account)
	if _, err := e.p.CurrentLogin(ctx, cookie); !errors.Is(err, ErrNoLogin) {
		t.Fatalf("disabled account: %v, want ErrNoLogin", err)
	}
	if _, _, err := e.p.EndLogin(ctx, cookie); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.p.EndLogin(ctx, cookie); !errors.Is(err, ErrNoLogin) {
		t.Fatalf("second EndLogin: %v, want ErrNoLogin", err)
	}
	for _, junk := range []string{"", "x", strings.Repeat("a", 300)} {
		if _, err := e.p.CurrentLogin(ctx, junk); !errors.Is(err, ErrNoLogin) {
			t.Errorf("cookie %.10q: %v", junk, err)
		}
	}
}

// The consent form's CSRF token is bound to the session, the client, the
// scopes and the request, and expires.
func TestConsentToken(t *testing.T) {
	e, clock, account := newLoginEnv(t)
	ctx := context.Background()
	req, err := e.p.ParseAuthorize(ctx, authzForm(authzConfidential, authzCallback, "scope", "openid phone"), clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, login, err := e.p.StartLogin(ctx, account, "wxweb")
	if err != nil {
		t.Fatal(err)
	}
	tok := e.p.ConsentToken(req, login)
	if !e.p.CheckConsentToken(tok, req, login) {
		t.Fatal("a fresh token is refused")
	}
	_, other, _ := e.p.StartLogin(ctx, account, "wxweb")
	narrower, _ := e.p.ParseAuthorize(ctx, authzForm(authzConfidential, authzCallback, "scope", "openid"), clock.Now())
	otherState, _ := e.p.ParseAuthorize(ctx, authzForm(authzConfidential, authzCallback, "scope", "openid phone", "state", "another-state-123"), clock.Now())
	for name, ok := range map[string]bool{
		"another session":   e.p.CheckConsentToken(tok, req, other),
		"other scopes":      e.p.CheckConsentToken(tok, narrower, login),
		"another request":   e.p.CheckConsentToken(tok, otherState, login),
		"tampered":          e.p.CheckConsentToken(tok+"x", req, login),
		"no timestamp":      e.p.CheckConsentToken(strings.SplitN(tok, ".", 2)[1], req, login),
		"empty":             e.p.CheckConsentToken("", req, login),
		"future timestamp":  e.p.CheckConsentToken("99999999999."+strings.SplitN(tok, ".", 2)[1], req, login),
		"garbage timestamp": e.p.CheckConsentToken("abc."+strings.SplitN(tok, ".", 2)[1], req, login),
	} {
		if ok {
			t.Errorf("%s: accepted", name)
		}
	}
	clock.Advance(formTokenLifetime + time.Second)
	if e.p.CheckConsentToken(tok, req, login) {
		t.Error("an expired token is accepted")
	}
}

// A flow is taken once, by the browser that started it, within its life.
func TestWeChatFlowBinding(t *testing.T) {
	e, clock, _ := newLoginEnv(t)
	ctx := context.Background()
	e.p.appKinds = map[string]string{"wxweb0000000000001": AppKindWebsite}
	req, err := e.p.ParseAuthorize(ctx, authzForm(authzConfidential, authzCallback), clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	app := BrowserApp{AppID: "wxweb0000000000001", Kind: AppKindWebsite}
	start := func(secret string) string {
		t.Helper()
		target, err := e.p.StartWeChat(ctx, req, app, "", secret, "en")
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(target)
		if u.Query().Get("appid") != app.AppID || u.Query().Get("scope") != "snsapi_login" || u.Query().Get("lang") != "en" {
			t.Fatalf("WeChat URL %s", target)
		}
		return u.Query().Get("state")
	}
	secret := BrowserSecret()
	state := start(secret)
	if _, _, err := e.p.ResumeWeChat(ctx, state, BrowserSecret()); !errors.Is(err, ErrFlowBrowser) {
		t.Fatalf("another browser: %v, want ErrFlowBrowser", err)
	}
	if _, _, err := e.p.ResumeWeChat(ctx, state, secret); !errors.Is(err, ErrFlowNotFound) {
		t.Fatalf("after another browser took it: %v, want ErrFlowNotFound", err)
	}

	state = start(secret)
	got, gotApp, err := e.p.ResumeWeChat(ctx, state, secret)
	if err != nil || got.ClientID != authzConfidential || gotApp != app || !got.RequestedAt.Equal(req.RequestedAt.UTC()) {
		t.Fatalf("resume: %+v %+v %v", got, gotApp, err)
	}
	if _, _, err := e.p.ResumeWeChat(ctx, state, secret); !errors.Is(err, ErrFlowNotFound) {
		t.Fatalf("reused: %v, want ErrFlowNotFound", err)
	}

	state = start(secret)
	clock.Advance(flowLifetime + time.Second)
	if _, _, err := e.p.ResumeWeChat(ctx, state, secret); !errors.Is(err, ErrFlowNotFound) {
		t.Fatalf("expired: %v, want ErrFlowNotFound", err)
	}
	for _, junk := range []string{"", "nope", strings.Repeat("A", 200)} {
		if _, _, err := e.p.ResumeWeChat(ctx, junk, secret); !errors.Is(err, ErrFlowNotFound) {
			t.Errorf("state %.10q: %v", junk, err)
		}
	}
	if _, err := e.p.StartWeChat(ctx, req, app, "", "", "en"); err == nil {
		t.Error("a flow without a browser secret")
	}
}
