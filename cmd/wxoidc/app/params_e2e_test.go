package app_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Every parameter of the WeChat grant is validated before WeChat is
// called: a bad one answers 400 and leaves the one-use wx.login code
// unspent, so the retry with good parameters succeeds with the SAME code.
func TestWeChatGrantValidatesBeforeSpendingTheCode(t *testing.T) {
	s := newStack(t)
	for _, tc := range []struct {
		name     string
		extra    []string
		wantCode string
	}{
		{"short nonce", []string{"nonce", "1234567"}, "insufficient_entropy"},
		{"junk id_token_hint", []string{"id_token_hint", "not-a-jwt"}, "invalid_request"},
		{"well-formed foreign id_token_hint", []string{"id_token_hint", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."}, "invalid_request"},
		{"prompt", []string{"prompt", "login"}, "invalid_request"},
		{"prompt none", []string{"prompt", "none"}, "invalid_request"},
		{"max_age", []string{"max_age", "0"}, "invalid_request"},
		{"audience not allowed", []string{"audience", "https://other.example"}, "invalid_request"},
		{"scope not allowed", []string{"scope", "openid admin"}, "invalid_scope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			user := "params-" + tc.name
			code := s.login(appA, user)
			before := len(s.Emu.CallsTo("jscode2session"))
			form := wechatForm(miniA, code, "scope", "openid offline_access")
			form.Set(tc.extra[0], tc.extra[1])
			tr := s.token(form)
			if tr.Status != http.StatusBadRequest || tr.Error != tc.wantCode {
				t.Fatalf("bad request: %d %s %q, want 400 %s", tr.Status, tr.Error, tr.Description, tc.wantCode)
			}
			if n := len(s.Emu.CallsTo("jscode2session")) - before; n != 0 {
				t.Fatalf("WeChat was called %d times for a request refused as %s", n, tr.Error)
			}
			// The same code still works.
			tr = mustToken(t, s.token(wechatForm(miniA, code, "scope", "openid offline_access", "nonce", "nonce-0123456789")))
			if c := s.verifyID(miniA, tr); c.Nonce != "nonce-0123456789" || c.Subject == "" {
				t.Fatalf("retry claims = %+v", c)
			}
		})
	}
	// A nonce of exactly 8 characters is enough.
	tr := mustToken(t, s.token(wechatForm(miniA, s.login(appA, "eight"), "scope", "openid", "nonce", "12345678")))
	if c := s.verifyID(miniA, tr); c.Nonce != "12345678" {
		t.Fatalf("nonce = %q", c.Nonce)
	}
}

// A refresh request with a bad nonce is refused before the refresh token
// is rotated, so the same refresh token still works.
func TestRefreshValidatesNonceBeforeRotating(t *testing.T) {
	s := newStack(t)
	tr := mustToken(t, s.token(wechatForm(miniA, s.login(appA, "refresher"), "scope", "openid offline_access")))
	refresh := func(extra ...string) tokenResponse {
		f := url.Values{"grant_type": {"refresh_token"}, "client_id": {miniA}, "refresh_token": {tr.RefreshToken}}
		for i := 0; i+1 < len(extra); i += 2 {
			f.Set(extra[i], extra[i+1])
		}
		return s.token(f)
	}
	if bad := refresh("nonce", "short"); bad.Status != http.StatusBadRequest || bad.Error != "insufficient_entropy" {
		t.Fatalf("short nonce on refresh: %d %s %q", bad.Status, bad.Error, bad.Description)
	}
	next := mustToken(t, refresh("nonce", "nonce-0123456789"))
	if c := s.verifyID(miniA, next); c.Nonce != "nonce-0123456789" {
		t.Fatalf("refreshed ID token nonce = %q", c.Nonce)
	}
}

// RFC 6749 §6 over HTTP: a refresh asking for a scope the refresh token was
// not granted is refused with invalid_scope and rotates nothing; a narrower
// scope narrows the access token and the ID token (go-oidc verifies it),
// while the new refresh token keeps the full grant, which golang.org/x/oauth2
// (it sends no scope on refresh) then gets back.
func TestRefreshScopeNarrowing(t *testing.T) {
	s := newStack(t)
	const full = "openid wechat offline_access"
	tr := mustToken(t, s.token(wechatForm(miniA, s.login(appA, "narrower"), "scope", full)))
	refreshWith := func(scope string) tokenResponse {
		return s.token(url.Values{"grant_type": {"refresh_token"}, "client_id": {miniA}, "refresh_token": {tr.RefreshToken}, "scope": {scope}})
	}
	if bad := refreshWith("openid phone"); bad.Status != http.StatusBadRequest || bad.Error != "invalid_scope" || !strings.Contains(bad.Description, "'phone'") {
		t.Fatalf("refresh asking for more: %d %s %q", bad.Status, bad.Error, bad.Description)
	}
	narrow := mustToken(t, refreshWith("openid"))
	if narrow.Scope != "openid" {
		t.Fatalf("narrowed refresh: scope %q", narrow.Scope)
	}
	full0 := s.verifyID(miniA, tr)
	if c := s.verifyID(miniA, narrow); c.OpenID != "" || c.Subject != full0.Subject || full0.OpenID == "" {
		t.Errorf("narrowed ID token: %+v, first one %+v: want the same sub and no wechat scope's claims", c, full0)
	}
	again, err := refresh(s, miniA, narrow.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := again.Extra("scope").(string); got != full {
		t.Errorf("refresh after a narrowing: scope %q, want %q", got, full)
	}
}
