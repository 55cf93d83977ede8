package app_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/wxoidc/wxoidc/cmd/wxoidc/app"
	"github.com/wxoidc/wxoidc/config"
	"github.com/wxoidc/wxoidc/storage"
	"github.com/wxoidc/wxoidc/wechat/wechattest"
)

// toWeChat follows a desktop sign-in up to WeChat's QR page and returns
// that page's URL (without the fragment browsers never send).
func (b *browser) toWeChat(authURL string) string {
	b.t.Helper()
	login := b.get(authURL)
	p := b.get(loginLink(b.t, login))
	if !strings.Contains(p.Location, "/connect/qrconnect?") {
		b.t.Fatalf("want a redirect to WeChat's QR page, got %d %q", p.Status, p.Location)
	}
	return strings.SplitN(p.Location, "#", 2)[0]
}

// approveAt plays the person approving on WeChat's page; it returns our
// callback URL with the code WeChat sends the browser back with.
func (b *browser) approveAt(wechatURL, user string) string {
	b.t.Helper()
	p := b.get(wechatURL + "&user=" + url.QueryEscape(user))
	if !strings.Contains(p.Location, "/oauth2/wechat/callback?") {
		b.t.Fatalf("the emulator did not send the browser back: %d %q", p.Status, p.Location)
	}
	return p.Location
}

// wantPage checks an answer is a page, never a redirect.
func wantPage(t *testing.T, p page, status int, contains string) {
	t.Helper()
	if p.Location != "" {
		t.Fatalf("redirected to %q, want a %d page", p.Location, status)
	}
	if p.Status != status || !strings.Contains(p.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("status %d (%s), want a %d HTML page: %.300s", p.Status, p.Header.Get("Content-Type"), status, p.Body)
	}
	if contains != "" && !strings.Contains(p.Body, contains) {
		t.Fatalf("page lacks %q: %.600s", contains, p.Body)
	}
}

// signIn runs a whole desktop sign-in for user and returns the code.
func (b *browser) signIn(r *rp, user string, extra ...oauth2.AuthCodeOption) (code, verifier string) {
	b.t.Helper()
	authURL, state, _, verifier := r.start(extra...)
	p := b.follow(authURL, "")
	if p.Location == "" { // no session yet: the login page
		p = b.follow(b.abs(loginLink(b.t, p)), user)
	}
	return callbackCode(b.t, p, state), verifier
}

// Codes are single use: a replay fails and revokes what the first
// exchange issued (RFC 6749 §4.1.2); a code is bound to its client, its
// PKCE verifier and its lifetime.
func TestBrowserCodeRules(t *testing.T) {
	s := newBrowserStack(t)
	r := s.newRP(rpFirst, rpSecret, rpCallback, oidc.ScopeOpenID, "offline_access")
	b := s.newBrowser("")

	code, verifier := b.signIn(r, "frank")
	tok, _ := r.exchange(t, code, verifier)
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token with offline_access")
	}
	if _, err := r.conf.Exchange(r.ctx, code, oauth2.VerifierOption(verifier)); oauthErrorCode(err) != "invalid_grant" {
		t.Fatalf("replayed code: %v, want invalid_grant", err)
	}
	if active := s.introspect(tok.AccessToken)["active"]; active != false {
		t.Error("the access token of a replayed code is still active")
	}
	if _, err := r.conf.TokenSource(r.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); oauthErrorCode(err) != "invalid_grant" {
		t.Errorf("the refresh token of a replayed code: %v, want invalid_grant", err)
	}

	// Another client's code, a wrong or missing verifier.
	code, verifier = b.signIn(r, "frank")
	other := s.newRP(rpThird, rpSecret, rpCallback, oidc.ScopeOpenID)
	if _, err := other.conf.Exchange(other.ctx, code, oauth2.VerifierOption(verifier)); oauthErrorCode(err) != "invalid_grant" {
		t.Errorf("a code of another client: %v, want invalid_grant", err)
	}
	code, _ = b.signIn(r, "frank")
	if _, err := r.conf.Exchange(r.ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier())); oauthErrorCode(err) != "invalid_grant" {
		t.Errorf("wrong PKCE verifier: %v, want invalid_grant", err)
	}
	code, _ = b.signIn(r, "frank")
	if _, err := r.conf.Exchange(r.ctx, code); oauthErrorCode(err) != "invalid_grant" && oauthErrorCode(err) != "invalid_request" {
		t.Errorf("missing PKCE verifier: %v, want invalid_grant", err)
	}
	code, verifier = b.signIn(r, "frank")
	if _, err := r.conf.Exchange(r.ctx, code+"x", oauth2.VerifierOption(verifier)); oauthErrorCode(err) != "invalid_grant" {
		t.Errorf("forged code: %v, want invalid_grant", err)
	}
	// An account disabled between the code and its exchange gets nothing.
	code2, verifier2 := b.signIn(r, "frank")
	_, who := r.exchange(t, code2, verifier2)
	code2, verifier2 = b.signIn(r, "frank")
	if _, err := s.App.Store.UpdateAccount(context.Background(), who.Subject, func(a storage.Account) (storage.Account, error) {
		a.Disabled = true
		return a, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.conf.Exchange(r.ctx, code2, oauth2.VerifierOption(verifier2)); oauthErrorCode(err) != "invalid_grant" {
		t.Errorf("code of a since-disabled account: %v, want invalid_grant", err)
	}
	// The redirect URI must be the authorization request's.
	r2 := *r
	r2.conf.RedirectURL = rpCallback + "/other"
	if _, err := r2.conf.Exchange(r.ctx, code, oauth2.VerifierOption(verifier)); oauthErrorCode(err) != "invalid_grant" {
		t.Errorf("other redirect_uri: %v, want invalid_grant", err)
	}
}

// An expired code is refused (tokens.authorization_code_lifetime).
func TestBrowserExpiredCode(t *testing.T) {
	// A code living 1 ns has expired by the time anyone can exchange it.
	s := newBrowserStack(t, func(c *config.Config) { c.Tokens.AuthorizationCodeLifetime = config.D(time.Nanosecond) })
	r := s.newRP(rpFirst, rpSecret, rpCallback, oidc.ScopeOpenID)
	b := s.newBrowser("")
	code, verifier := b.signIn(r, "gina")
	if _, err := r.conf.Exchange(r.ctx, code, oauth2.VerifierOption(verifier)); oauthErrorCode(err) != "invalid_grant" {
		t.Fatalf("expired code: %v, want invalid_grant", err)
	}
}

// The state sent to WeChat is random, single use and bound to the browser
// (login CSRF): forged, missing, reused and foreign states get a page.
func TestBrowserCallbackState(t *testing.T) {
	s := newBrowserStack(t)
	r := s.newRP(rpFirst, rpSecret, rpCallback, oidc.ScopeOpenID)
	b := s.newBrowser("")

	wantPage(t, b.get("/oauth2/wechat/callback?code=abc&state=FORGEDSTATE0123456789"), http.StatusBadRequest, "")
	wantPage(t, b.get("/oauth2/wechat/callback?code=abc"), http.StatusBadRequest, "")
	wantPage(t, b.get("/oauth2/wechat/callback?code=a&code=b&state=x&state=y"), http.StatusBadRequest, "")

	authURL, state, _, _ := r.start()
	cb := b.approveAt(b.toWeChat(authURL), "hank")
	callbackCode(t, b.get(cb), state)
	wantPage(t, b.get(cb), http.StatusBadRequest, "") // reused

	// Browser A starts; an attacker's browser B presents A's callback.
	a := s.newBrowser("")
	authURL, _, _, _ = r.start()
	cb = a.approveAt(a.toWeChat(authURL), "hank")
	attacker := s.newBrowser("")
	wantPage(t, attacker.get(cb), http.StatusBadRequest, "")
	// The flow is spent: A must start again.
	wantPage(t, a.get(cb), http.StatusBadRequest, "")
}

// A person who declines on WeChat's page goes back to the client with
// access_denied.
func TestBrowserWeChatDenies(t *testing.T) {
	s := newBrowserStack(t)
	r := s.newRP(rpFirst, rpSecret, rpCallback, oidc.ScopeOpenID)
	b := s.newBrowser("")
	authURL, state, _, _ := r.start()
	p := b.get(b.toWeChat(authURL) + "&deny=1")
	q := callbackError(t, b.get(p.Location))
	if q.Get("error") != "access_denied" || q.Get("state") != state || q.Get("iss") != s.URL {
		t.Fatalf("deny: %v", q)
	}
}

// WeChat's errors on the code exchange (docs/contract.md §7) become pages
// that say what to do; none is a 500 or a redirect with a code.
func TestBrowserWeChatErrors(t *testing.T) {
	s := newBrowserStack(t)
	r := s.newRP(rpFirst, rpSecret, rpCallback, oidc.ScopeOpenID)
	for _, tc := range []struct {
		errcode int
		status  int
		retry   bool
	}{
		{40029, http.StatusBadRequest, true},
		{40163, http.StatusBadRequest, true},
		{40125, http.StatusBadGateway, false},
		{42002, http.StatusBadGateway, false},
		{45011, http.StatusServiceUnavailable, true},
		{-1, http.StatusServiceUnavailable, true},
	} {
		b := s.newBrowser("")
		authURL, _, _, _ := r.start()
		cb := b.approveAt(b.toWeChat(authURL), "ivan")
		// -1 is retried once by the client (docs/wechat.md §8 note A):
		// fail both attempts.
		for range 2 {
			s.Emu.Inject(wechattest.Fault{API: wechattest.APIWebAccessToken, AppID: appWeb, ErrCode: tc.errcode})
		}
		p := b.get(cb)
		wantPage(t, p, tc.status, "")
		if tc.retry && !strings.Contains(p.Body, "/oauth2/authorize?") {
			t.Errorf("errcode %d: no way to start again on the page", tc.errcode)
		}
		if tc.status == http.StatusServiceUnavailable && p.Header.Get("Retry-After") == "" {
			t.Errorf("errcode %d: 503 without Retry-After", tc.errcode)
		}
		s.Emu.ClearFaults()
	}
}

// Consent forms are bound to the login session: one rendered for an
// earlier session is refused. prompt=none cannot show a consent page.
func TestBrowserConsentStaleAndPromptNone(t *testing.T) {
	s := newBrowserStack(t)
	r := s.newRP(rpThird, rpSecret, rpCallback, oidc.ScopeOpenID)
	b := s.newBrowser("")

	authURL, _, _, _ := r.start()
	first := b.follow(b.abs(loginLink(t, b.follow(authURL, ""))), "judy")
	old := formFields(first)
	if old.Get("csrf") == "" {
		t.Fatalf("no consent form: %d %q", first.Status, first.Location)
	}
	// prompt=none while consent is missing: consent_required.
	authURL, state, _, _ := r.start(oauth2.SetAuthURLParam("prompt", "none"))
	if q := callbackError(t, b.get(authURL)); q.Get("error") != "consent_required" || q.Get("state") != state {
		t.Fatalf("prompt=none without consent: %v", q)
	}
	// Sign in again (prompt=login): a new session, a new form.
	authURL, state, _, verifier := r.start(oauth2.SetAuthURLParam("prompt", "login"))
	second := b.follow(b.abs(loginLink(t, b.follow(authURL, ""))), "judy")
	fresh := formFields(second)
	old.Set("decision", "allow")
	p := b.do(http.MethodPost, s.URL+"/oauth2/consent", old)
	wantPage(t, p, http.StatusForbidden, "")
	fresh.Set("decision", "allow")
	p = b.do(http.MethodPost, s.URL+"/oauth2/consent", fresh)
	r.exchange(t, callbackCode(t, p, state), verifier)
}

// Oversized and repeated parameters get a clear answer, never a 5xx.
func TestBrowserOversizedAndRepeated(t *testing.T) {
	s := newBrowserStack(t)
	r := s.newRP(rpFirst, rpSecret, rpCallback, oidc.ScopeOpenID)
	b := s.newBrowser("")
	authURL, _, _, _ := r.start()
	u, _ := url.Parse(authURL)
	q := u.Query()

	many := cloneValues(q)
	for i := range 50 {
		many.Set("extra"+string(rune('a'+i%26))+string(rune('a'+i/26)), "v")
	}
	wantPage(t, b.get(s.URL+"/oauth2/authorize?"+many.Encode()), http.StatusBadRequest, "")

	twice := cloneValues(q)
	twice.Add("client_id", rpThird)
	wantPage(t, b.get(s.URL+"/oauth2/authorize?"+twice.Encode()), http.StatusBadRequest, "")

	scope := cloneValues(q)
	scope.Add("scope", "phone")
	if e := callbackError(t, b.get(s.URL+"/oauth2/authorize?"+scope.Encode())); e.Get("error") != "invalid_request" {
		t.Errorf("repeated scope: %v", e)
	}
	long := cloneValues(q)
	long.Set("nonce", strings.Repeat("n", 5000))
	if e := callbackError(t, b.get(s.URL+"/oauth2/authorize?"+long.Encode())); e.Get("error") != "invalid_request" {
		t.Errorf("oversized nonce: %v", e)
	}
	huge := cloneValues(q)
	huge.Set("state", strings.Repeat("s", 5000))
	p := b.get(s.URL + "/oauth2/authorize?" + huge.Encode())
	if e := callbackError(t, p); e.Get("error") != "invalid_request" || e.Get("state") != "" {
		t.Errorf("oversized state: %v (a state too long is not echoed)", e)
	}
	// POST works like GET (OIDC Core §3.1.2.1), with the same limits.
	if p := b.do(http.MethodPost, s.URL+"/oauth2/authorize", twice); p.Status != http.StatusBadRequest {
		t.Errorf("repeated client_id by POST: %d", p.Status)
	}
}

// A client deleted, or an account disabled, while the person is at
// WeChat: the callback shows a page and issues nothing.
func TestBrowserClientDeletedOrAccountDisabledMidFlow(t *testing.T) {
	s := newBrowserStack(t)
	ctx := context.Background()
	r := s.newRP(rpThird, rpSecret, rpCallback, oidc.ScopeOpenID)
	b := s.newBrowser("")
	authURL, _, _, _ := r.start()
	cb := b.approveAt(b.toWeChat(authURL), "kate")
	if err := s.App.Store.DeleteClient(ctx, rpThird); err != nil {
		t.Fatal(err)
	}
	s.App.Provider.InvalidateClient(rpThird)
	wantPage(t, b.get(cb), http.StatusBadRequest, "")

	first := s.newRP(rpFirst, rpSecret, rpCallback, oidc.ScopeOpenID)
	code, verifier := b.signIn(first, "kate")
	_, id := first.exchange(t, code, verifier)

	other := s.newBrowser("")
	authURL, _, _, _ = first.start()
	cb = other.approveAt(other.toWeChat(authURL), "kate")
	if _, err := s.App.Store.UpdateAccount(ctx, id.Subject, func(a storage.Account) (storage.Account, error) {
		a.Disabled = true
		return a, nil
	}); err != nil {
		t.Fatal(err)
	}
	wantPage(t, other.get(cb), http.StatusForbidden, "")
	// The first browser's session no longer signs anyone in: the login
	// page again, not a code.
	authURL, _, _, _ = first.start()
	if p := b.get(authURL); p.Status != http.StatusOK || p.Location != "" {
		t.Fatalf("a disabled account's session: %d %q", p.Status, p.Location)
	}
}

// No code, token, cookie or state reaches the logs during a sign-in.
func TestBrowserSignInLogsNoSecrets(t *testing.T) {
	var logs logBuffer
	s := newBrowserStackWith(t, app.Options{Logger: logs.logger()})
	r := s.newRP(rpFirst, rpSecret, rpCallback, oidc.ScopeOpenID, "offline_access")
	b := s.newBrowser("")
	authURL, state, _, verifier := r.start()
	cb := b.approveAt(b.toWeChat(authURL), "lily")
	wechatCode := mustQuery(t, cb, "code")
	wechatState := mustQuery(t, cb, "state")
	p := b.get(cb)
	code := callbackCode(t, p, state)
	tok, _ := r.exchange(t, code, verifier)
	// Errors are logged too: a failed exchange and a forged callback.
	_, _ = r.conf.Exchange(r.ctx, code, oauth2.VerifierOption(verifier))
	b.get("/oauth2/wechat/callback?code=" + wechatCode + "&state=" + wechatState)

	u, _ := url.Parse(s.URL)
	var cookies []string
	for _, c := range b.client.Jar.Cookies(u) {
		cookies = append(cookies, c.Value)
	}
	out := logs.String()
	// The sign-in was logged (request lines at debug level): the checks
	// below look at real log lines, not at nothing.
	if !strings.Contains(out, "/oauth2/wechat/callback") || !strings.Contains(out, "/oauth2/token") {
		t.Fatalf("the sign-in left no request lines in the logs:\n%.500s", out)
	}
	raw, _ := tok.Extra("id_token").(string)
	for name, secret := range map[string]string{
		"WeChat code": wechatCode, "state sent to WeChat": wechatState, "authorization code": code,
		"access token": tok.AccessToken, "refresh token": tok.RefreshToken, "ID token": raw, "PKCE verifier": verifier,
	} {
		if secret != "" && strings.Contains(out, secret) {
			t.Errorf("the logs hold the %s", name)
		}
	}
	for _, c := range cookies {
		if strings.Contains(out, c) {
			t.Error("the logs hold a cookie value")
		}
	}
}

func mustQuery(t *testing.T, raw, key string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Query().Get(key) == "" {
		t.Fatalf("no %s in %q", key, raw)
	}
	return u.Query().Get(key)
}

// A code exchanged by several requests at once is still single use: one
// wins, the others get invalid_grant (RFC 6749 §4.1.2), and as with any
// replay what the winner got is revoked.
func TestBrowserCodeExchangedConcurrently(t *testing.T) {
	s := newBrowserStack(t, func(c *config.Config) { c.Limits.DisableRates() })
	r := s.newRP(rpFirst, rpSecret, rpCallback, oidc.ScopeOpenID)
	b := s.newBrowser("")
	for round := 0; round < 20; round++ {
		code, verifier := b.signIn(r, "mona")
		const n = 16
		type result struct {
			tok *oauth2.Token
			err error
		}
		results := make(chan result, n)
		start := make(chan struct{})
		for range n {
			go func() {
				<-start
				tok, err := r.conf.Exchange(r.ctx, code, oauth2.VerifierOption(verifier))
				results <- result{tok, err}
			}()
		}
		close(start)
		won := 0
		var winner *oauth2.Token
		for range n {
			res := <-results
			switch err := res.err; {
			case err == nil:
				won++
				winner = res.tok
			case oauthErrorCode(err) != "invalid_grant":
				t.Errorf("round %d: a losing exchange answered %v, want invalid_grant", round, err)
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d of %d concurrent exchanges of one code succeeded, want exactly 1", round, won, n)
		}
		if s.introspect(winner.AccessToken)["active"] != false {
			t.Errorf("round %d: the winner's access token survived the replay", round)
		}
	}
}
