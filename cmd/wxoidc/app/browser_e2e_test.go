package app_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// A stock relying party (x/oauth2 + go-oidc, PKCE, nonce) signs alice in
// through the website QR page; the ID token verifies, and alice has the
// same sub as through the mini-program grant (unionid linking).
func TestBrowserSignInWebsiteQR(t *testing.T) {
	s := newBrowserStack(t)
	r := s.newRP(rpFirst, rpSecret, rpCallback, oidc.ScopeOpenID, "wechat")
	b := s.newBrowser("")
	authURL, state, nonce, verifier := r.start()

	login := b.follow(authURL, "alice")
	if login.Status != http.StatusOK || !strings.Contains(login.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Fatalf("login page: %d %v", login.Status, login.Header)
	}
	if cc := login.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("login page Cache-Control = %q", cc)
	}
	back := b.follow(loginLink(t, login), "alice")
	code := callbackCode(t, back, state)
	if cc := back.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("the redirect with the code has Cache-Control %q, want no-store", cc)
	}
	tok, id := r.exchange(t, code, verifier)
	if id.Nonce != nonce {
		t.Errorf("nonce = %q, want %q", id.Nonce, nonce)
	}
	var claims struct {
		AMR      []string `json:"amr"`
		AuthTime int64    `json:"auth_time"`
		SID      string   `json:"sid"`
		AppID    string   `json:"wechat_appid"`
		OpenID   string   `json:"wechat_openid"`
		UnionID  string   `json:"wechat_unionid"`
	}
	if err := id.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(claims.AMR, []string{"wechat"}) || claims.AuthTime == 0 || claims.SID == "" {
		t.Errorf("claims = %+v, want amr [wechat], auth_time and sid", claims)
	}
	if claims.AppID != appWeb || claims.OpenID != s.Emu.OpenID(appWeb, "alice") || claims.UnionID != s.Emu.UnionID(appWeb, "alice") {
		t.Errorf("wechat claims = %+v", claims)
	}
	if tok.RefreshToken != "" {
		t.Error("a refresh token without offline_access")
	}

	// The same person through the mini-program grant: the same sub.
	tr := s.token(wechatForm(miniA, s.login(appA, "alice"), "scope", "openid"))
	if tr.Status != http.StatusOK {
		t.Fatalf("mini-program grant: %+v", tr)
	}
	if mini := s.verifyID(miniA, tr); mini.Subject != id.Subject {
		t.Errorf("mini-program sub %q, browser sub %q: one person, two accounts", mini.Subject, id.Subject)
	}

	// A second request in the same browser needs no WeChat trip at all.
	authURL, state, _, verifier = r.start()
	again := b.follow(authURL, "")
	code = callbackCode(t, again, state)
	_, id2 := r.exchange(t, code, verifier)
	if id2.Subject != id.Subject {
		t.Errorf("second sign-in sub %q, want %q", id2.Subject, id.Subject)
	}
}

// Inside WeChat's browser, a new person goes straight to the official
// account's OAuth: silent snsapi_base first, then snsapi_userinfo once so
// the unionid links them; a known person needs only the silent trip.
func TestBrowserSignInInsideWeChat(t *testing.T) {
	s := newBrowserStack(t)
	r := s.newRP(rpFirst, rpSecret, rpCallback, oidc.ScopeOpenID)

	// bob signs in to the mini-program first.
	tr := s.token(wechatForm(miniA, s.login(appA, "bob"), "scope", "openid"))
	if tr.Status != http.StatusOK {
		t.Fatalf("mini-program grant: %+v", tr)
	}

	b := s.newBrowser(wechatUA)
	authURL, state, _, verifier := r.start()
	first := b.get(authURL)
	if first.Status != http.StatusFound || !strings.Contains(first.Location, "/connect/oauth2/authorize?") || !strings.Contains(first.Location, "scope=snsapi_base") {
		t.Fatalf("inside WeChat: want a redirect to the OA OAuth with snsapi_base, got %d %q", first.Status, first.Location)
	}
	var scopes []string
	target := first.Location
	for i := 0; i < 4 && strings.Contains(target, "/connect/oauth2/authorize?"); i++ {
		u, _ := url.Parse(target)
		scopes = append(scopes, u.Query().Get("scope"))
		p := b.get(strings.SplitN(target, "#", 2)[0] + "&user=bob")
		p = b.get(b.abs(p.Location)) // our callback
		target = p.Location
		if strings.HasPrefix(target, "https://rp.example.com") {
			code := callbackCode(t, p, state)
			_, id := r.exchange(t, code, verifier)
			if mini := s.verifyID(miniA, tr); id.Subject != mini.Subject {
				t.Errorf("OA sub %q, mini-program sub %q", id.Subject, mini.Subject)
			}
		}
	}
	if !slices.Equal(scopes, []string{"snsapi_base", "snsapi_userinfo"}) {
		t.Fatalf("WeChat scopes asked = %v, want snsapi_base then snsapi_userinfo", scopes)
	}

	// Known now: a fresh browser goes through one silent trip.
	b2 := s.newBrowser(wechatUA)
	authURL, state, _, _ = r.start()
	back := b2.follow(authURL, "bob")
	callbackCode(t, back, state)
}

// A third-party client asks for consent; allow is remembered, deny goes
// back with access_denied, and a form without its CSRF token is refused.
func TestBrowserConsent(t *testing.T) {
	s := newBrowserStack(t)
	r := s.newRP(rpThird, rpSecret, rpCallback, oidc.ScopeOpenID, "phone")
	b := s.newBrowser("")

	authURL, state, _, verifier := r.start()
	consent := b.follow(b.abs(loginLink(t, b.follow(authURL, ""))), "carol")
	if consent.Status != http.StatusOK || !strings.Contains(consent.Body, `action="/oauth2/consent"`) {
		t.Fatalf("want the consent page, got %d %q %.300s", consent.Status, consent.Location, consent.Body)
	}
	fields := formFields(consent)
	if fields.Get("csrf") == "" || fields.Get("client_id") != rpThird {
		t.Fatalf("consent form fields = %v", fields)
	}

	// Without and with a tampered CSRF token: refused with a page.
	for _, tamper := range []func(url.Values){
		func(f url.Values) { f.Del("csrf") },
		func(f url.Values) { f.Set("csrf", "1.AAAA") },
		func(f url.Values) { f.Set("scope", "openid phone offline_access") },
	} {
		f := cloneValues(fields)
		f.Set("decision", "allow")
		tamper(f)
		p := b.do(http.MethodPost, s.URL+"/oauth2/consent", f)
		if p.Status != http.StatusForbidden && p.Status != http.StatusBadRequest {
			t.Errorf("tampered consent form: %d %q", p.Status, p.Location)
		}
		if strings.HasPrefix(p.Location, "https://rp.example.com") && strings.Contains(p.Location, "code=") {
			t.Fatal("a tampered consent form produced a code")
		}
	}

	deny := cloneValues(fields)
	deny.Set("decision", "deny")
	p := b.do(http.MethodPost, s.URL+"/oauth2/consent", deny)
	if q := callbackError(t, p); q.Get("error") != "access_denied" || q.Get("state") != state {
		t.Errorf("deny: %v", q)
	}

	allow := cloneValues(fields)
	allow.Set("decision", "allow")
	p = b.do(http.MethodPost, s.URL+"/oauth2/consent", allow)
	r.exchange(t, callbackCode(t, p, state), verifier)

	// Remembered: no consent page the next time; prompt=consent forces it.
	authURL, state, _, _ = r.start()
	callbackCode(t, b.follow(authURL, ""), state)
	authURL, _, _, _ = r.start(oauth2.SetAuthURLParam("prompt", "consent"))
	if p := b.follow(authURL, ""); p.Status != http.StatusOK || !strings.Contains(p.Body, `action="/oauth2/consent"`) {
		t.Errorf("prompt=consent: %d %q", p.Status, p.Location)
	}
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// prompt=none answers login_required without a session and a code with
// one; logout ends the session and goes back to the registered URI.
func TestBrowserPromptNoneAndLogout(t *testing.T) {
	s := newBrowserStack(t)
	r := s.newRP(rpFirst, rpSecret, rpCallback, oidc.ScopeOpenID)
	b := s.newBrowser("")
	none := oauth2.SetAuthURLParam("prompt", "none")

	authURL, state, _, _ := r.start(none)
	if q := callbackError(t, b.get(authURL)); q.Get("error") != "login_required" || q.Get("state") != state || q.Get("iss") != s.URL {
		t.Fatalf("prompt=none without a session: %v", q)
	}
	authURL, state, _, verifier := r.start()
	tok, _ := r.exchange(t, callbackCode(t, b.follow(b.abs(loginLink(t, b.follow(authURL, ""))), "dave"), state), verifier)
	authURL, state, _, _ = r.start(none)
	callbackCode(t, b.get(authURL), state)

	// RP-initiated logout with the ID token as hint: no confirmation.
	hint, _ := tok.Extra("id_token").(string)
	q := url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {rpLoggedOut}, "state": {"bye-bye-state"}}
	out := b.get("/oauth2/logout?" + q.Encode())
	if out.Status != http.StatusSeeOther || out.Location != rpLoggedOut+"?state=bye-bye-state" {
		t.Fatalf("logout: %d %q %.200s", out.Status, out.Location, out.Body)
	}
	authURL, _, _, _ = r.start(none)
	if q := callbackError(t, b.get(authURL)); q.Get("error") != "login_required" {
		t.Fatalf("prompt=none after logout: %v", q)
	}

	// An unregistered post-logout URI never redirects.
	q.Set("post_logout_redirect_uri", "https://evil.example.com/")
	if p := b.get("/oauth2/logout?" + q.Encode()); p.Location != "" || p.Status != http.StatusBadRequest {
		t.Errorf("unregistered post_logout_redirect_uri: %d %q", p.Status, p.Location)
	}
}
