package app_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/wxoidc/wxoidc/admin"
	"github.com/wxoidc/wxoidc/provider"
	"github.com/wxoidc/wxoidc/storage"
)

const rpBackchannel = "rp-backchannel"

// logoutReceiver is a relying party's back-channel logout endpoint.
type logoutReceiver struct {
	mu     sync.Mutex
	tokens []string
	got    chan struct{}
}

func newLogoutReceiver(t *testing.T) (*logoutReceiver, string) {
	r := &logoutReceiver{got: make(chan struct{}, 10)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/x-www-form-urlencoded" || req.ParseForm() != nil {
			http.Error(w, "bad logout request", http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.tokens = append(r.tokens, req.PostForm.Get("logout_token"))
		r.mu.Unlock()
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK) // §2.8
		r.got <- struct{}{}
	}))
	t.Cleanup(srv.Close)
	return r, srv.URL + "/backchannel-logout"
}

func (r *logoutReceiver) received() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.tokens...)
}

// A relying party registered with a back-channel logout URI signs a
// person in through the website QR page; RP-initiated logout sends it
// exactly one Logout Token, which go-oidc verifies like an ID token, with
// the ID token's sid and sub, the back-channel event and no nonce. A
// client the same login signed in to without a URI gets nothing.
func TestBackchannelLogoutEndToEnd(t *testing.T) {
	s := newBrowserStack(t)
	receiver, uri := newLogoutReceiver(t)
	ctx := context.Background()
	c := storage.Client{
		ID: rpBackchannel, Name: "Example back-channel RP", TokenEndpointAuthMethod: provider.AuthMethodClientSecretBasic,
		GrantTypes: []string{provider.GrantTypeAuthorizationCode}, Scopes: []string{"openid"},
		RedirectURIs: []string{rpCallback}, PostLogoutRedirectURIs: []string{rpLoggedOut}, SkipConsent: true,
		WeChatApps: []string{appWeb}, DefaultAudience: s.URL, BackchannelLogoutURI: uri,
	}
	createClient(t, s.App, c, rpSecret)

	var disc struct {
		Supported bool `json:"backchannel_logout_supported"`
		Session   bool `json:"backchannel_logout_session_supported"`
	}
	resp, err := s.client.Get(s.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(resp.Body).Decode(&disc)
	resp.Body.Close()
	if err != nil || !disc.Supported || !disc.Session {
		t.Fatalf("discovery: %+v %v, want back-channel logout with sid", disc, err)
	}

	// Sign in to the back-channel RP through the QR page, then to a
	// first-party RP without a URI in the same browser.
	r := s.newRP(rpBackchannel, rpSecret, rpCallback, oidc.ScopeOpenID)
	b := s.newBrowser("")
	authURL, state, _, verifier := r.start()
	back := b.follow(loginLink(t, b.follow(authURL, "erin")), "erin")
	tok, id := r.exchange(t, callbackCode(t, back, state), verifier)
	var idClaims struct {
		SID string `json:"sid"`
	}
	if err := id.Claims(&idClaims); err != nil || idClaims.SID == "" {
		t.Fatalf("ID token sid: %q %v", idClaims.SID, err)
	}
	other := s.newRP(rpFirst, rpSecret, rpCallback, oidc.ScopeOpenID)
	authURL, state, _, verifier = other.start()
	other.exchange(t, callbackCode(t, b.follow(authURL, ""), state), verifier)

	hint, _ := tok.Extra("id_token").(string)
	q := url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {rpLoggedOut}}
	if out := b.get("/oauth2/logout?" + q.Encode()); out.Status != http.StatusSeeOther || out.Location != rpLoggedOut {
		t.Fatalf("logout: %d %q", out.Status, out.Location)
	}
	select {
	case <-receiver.got:
	case <-time.After(20 * time.Second): // bounds a broken delivery only
		t.Fatal("no logout token arrived")
	}
	// Let anything else queued go, then count.
	s.App.Provider.Shutdown(ctx)
	tokens := receiver.received()
	if len(tokens) != 1 {
		t.Fatalf("%d logout tokens, want exactly 1", len(tokens))
	}
	raw := tokens[0]

	op, err := oidc.NewProvider(r.ctx, s.URL)
	if err != nil {
		t.Fatal(err)
	}
	lt, err := op.Verifier(&oidc.Config{ClientID: rpBackchannel}).Verify(r.ctx, raw)
	if err != nil {
		t.Fatalf("go-oidc rejected the logout token: %v", err)
	}
	var claims map[string]json.RawMessage
	if err := lt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if ev := string(claims["events"]); ev != `{"http://schemas.openid.net/event/backchannel-logout":{}}` {
		t.Errorf("events = %s", ev)
	}
	var sid string
	_ = json.Unmarshal(claims["sid"], &sid)
	if sid != idClaims.SID || lt.Subject != id.Subject {
		t.Errorf("logout token sid %q sub %q, want the ID token's %q and %q", sid, lt.Subject, idClaims.SID, id.Subject)
	}
	if _, ok := claims["nonce"]; ok {
		t.Error("a logout token must not carry a nonce (§2.4)")
	}
	if _, ok := claims["jti"]; !ok {
		t.Error("no jti")
	}
	headerPart, _, _ := strings.Cut(raw, ".")
	headerJSON, err := base64.RawURLEncoding.DecodeString(headerPart)
	if err != nil {
		t.Fatal(err)
	}
	var header struct {
		Typ string `json:"typ"`
	}
	if err := json.Unmarshal(headerJSON, &header); err != nil || header.Typ != "logout+jwt" {
		t.Errorf("header %s, want typ logout+jwt", headerJSON)
	}
}

// An operator disabling the account (or ending its sessions) logs it out
// of its clients too: they get their logout tokens.
func TestBackchannelLogoutOnAccountDisable(t *testing.T) {
	s := newBrowserStack(t)
	receiver, uri := newLogoutReceiver(t)
	ctx := context.Background()
	c := storage.Client{
		ID: rpBackchannel, TokenEndpointAuthMethod: provider.AuthMethodClientSecretBasic,
		GrantTypes: []string{provider.GrantTypeAuthorizationCode}, Scopes: []string{"openid"},
		RedirectURIs: []string{rpCallback}, SkipConsent: true, WeChatApps: []string{appWeb}, DefaultAudience: s.URL, BackchannelLogoutURI: uri,
	}
	createClient(t, s.App, c, rpSecret)
	r := s.newRP(rpBackchannel, rpSecret, rpCallback, oidc.ScopeOpenID)
	b := s.newBrowser("")
	authURL, state, _, verifier := r.start()
	_, id := r.exchange(t, callbackCode(t, b.follow(loginLink(t, b.follow(authURL, "")), "fay"), state), verifier)

	change, err := s.App.Ops.SetAccountDisabled(admin.WithActor(ctx, admin.ActorCLI), id.Subject, true)
	if err != nil || change.SessionsEnded != 1 {
		t.Fatalf("disable: %+v %v, want one session ended", change, err)
	}
	select {
	case <-receiver.got:
	case <-time.After(20 * time.Second): // bounds a broken delivery only
		t.Fatal("no logout token arrived after the account was disabled")
	}
	s.App.Provider.Shutdown(ctx)
	if n := len(receiver.received()); n != 1 {
		t.Fatalf("%d logout tokens, want 1", n)
	}
}
