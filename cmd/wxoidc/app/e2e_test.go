package app_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/wxoidc/wxoidc/internal/testharness"
	"github.com/wxoidc/wxoidc/storage"
	"github.com/wxoidc/wxoidc/wechat/wechattest"
)

type idClaims struct {
	Subject       string   `json:"sub"`
	PhoneNumber   string   `json:"phone_number"`
	PhoneVerified bool     `json:"phone_number_verified"`
	AMR           []string `json:"amr"`
	AZP           string   `json:"azp"`
	Nonce         string   `json:"nonce"`
	AuthTime      int64    `json:"auth_time"`
	AppID         string   `json:"wechat_appid"`
	OpenID        string   `json:"wechat_openid"`
	UnionID       string   `json:"wechat_unionid"`
}

// discover finds the stack's provider with go-oidc, as a relying party or a
// resource server does.
func (s *stack) discover() (context.Context, *oidc.Provider) {
	s.t.Helper()
	ctx := oidc.ClientContext(context.Background(), s.client)
	p, err := oidc.NewProvider(ctx, s.URL)
	if err != nil {
		s.t.Fatalf("go-oidc discovery: %v", err)
	}
	return ctx, p
}

// userInfo fetches accessToken's UserInfo with go-oidc.
func (s *stack) userInfo(accessToken string) (*oidc.UserInfo, idClaims) {
	s.t.Helper()
	ctx, p := s.discover()
	ui, err := p.UserInfo(ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: accessToken, TokenType: "Bearer"}))
	if err != nil {
		s.t.Fatalf("userinfo via go-oidc: %v", err)
	}
	var c idClaims
	if err := ui.Claims(&c); err != nil {
		s.t.Fatalf("userinfo claims: %v", err)
	}
	return ui, c
}

// verifyID verifies an ID token the way a relying party does: go-oidc with
// discovery and the JWKS, plus at_hash against the access token.
func (s *stack) verifyID(clientID string, tr tokenResponse) idClaims {
	s.t.Helper()
	ctx, p := s.discover()
	tok, err := p.Verifier(&oidc.Config{ClientID: clientID}).Verify(ctx, tr.IDToken)
	if err != nil {
		s.t.Fatalf("go-oidc rejected the ID token: %v", err)
	}
	if err := tok.VerifyAccessToken(tr.AccessToken); err != nil {
		s.t.Fatalf("at_hash: %v", err)
	}
	var c idClaims
	if err := tok.Claims(&c); err != nil {
		s.t.Fatal(err)
	}
	return c
}

func TestPhoneCodeLogin(t *testing.T) {
	s := newStack(t)
	code := s.login(appA, "alice")
	ph := s.phone(appA, "alice", "+8613800138000")
	tr := mustToken(t, s.token(wechatForm(miniA, code, "phone_code", ph.Code, "scope", "openid phone wechat offline_access", "nonce", "n-0123456789")))
	if tr.TokenType != "bearer" || tr.RefreshToken == "" || tr.IDToken == "" || tr.ExpiresIn <= 0 {
		t.Fatalf("incomplete token response: %+v", tr)
	}
	if tr.Scope != "openid phone wechat offline_access" {
		t.Errorf("scope = %q", tr.Scope)
	}
	c := s.verifyID(miniA, tr)
	if c.PhoneNumber != "+8613800138000" || !c.PhoneVerified {
		t.Errorf("phone claims = %q %v", c.PhoneNumber, c.PhoneVerified)
	}
	if len(c.AMR) != 1 || c.AMR[0] != "wechat" || c.AZP != miniA || c.Nonce != "n-0123456789" || c.AuthTime == 0 {
		t.Errorf("claims = %+v", c)
	}
	if c.Subject == "" || c.Subject == s.Emu.OpenID(appA, "alice") || strings.Contains(c.Subject, "138") {
		t.Errorf("sub %q must be opaque", c.Subject)
	}
	if c.AppID != appA || c.OpenID != s.Emu.OpenID(appA, "alice") || c.UnionID != s.Emu.UnionID(appA, "alice") {
		t.Errorf("wechat claims = %+v", c)
	}
	// The response never carries WeChat's session key.
	raw, _ := json.Marshal(tr)
	if strings.Contains(string(raw), s.Emu.CurrentSessionKey(appA, "alice")) {
		t.Fatal("session key leaked into the token response")
	}
}

func TestAccessTokenIsRFC9068JWT(t *testing.T) {
	s := newStack(t)
	tr := mustToken(t, s.token(wechatForm(miniA, s.login(appA, "bob"), "scope", "openid", "audience", resource)))
	parts := strings.Split(tr.AccessToken, ".")
	if len(parts) != 3 {
		t.Fatalf("access token is not a JWS: %q", tr.AccessToken)
	}
	var hdr map[string]interface{}
	decodeSegment(t, parts[0], &hdr)
	if hdr["typ"] != "at+jwt" || hdr["kid"] == nil || hdr["kid"] == "" {
		t.Errorf("header = %v", hdr)
	}
	ctx, p := s.discover()
	// A resource server verifies through the JWKS with a stock library.
	tok, err := p.Verifier(&oidc.Config{ClientID: resource}).Verify(ctx, tr.AccessToken)
	if err != nil {
		t.Fatalf("resource server rejected the access token: %v", err)
	}
	var c map[string]interface{}
	_ = tok.Claims(&c)
	if c["client_id"] != miniA || c["scope"] != "openid" || c["jti"] == nil || c["jti"] == "" || c["iat"] == nil {
		t.Errorf("claims = %v", c)
	}
}

func decodeSegment(t *testing.T, seg string, v interface{}) {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

func TestDefaultAudienceAndAudienceChecks(t *testing.T) {
	s := newStack(t)
	tr := mustToken(t, s.token(wechatForm(miniA, s.login(appA, "carol"))))
	if got := s.introspect(tr.AccessToken)["aud"]; !testharness.JSONStringsEqual(got, s.URL) {
		t.Errorf("default aud = %v, want [%s]", got, s.URL)
	}
	bad := s.token(wechatForm(miniA, s.login(appA, "carol"), "audience", "https://evil.example.com"))
	if bad.Status != http.StatusBadRequest || bad.Error != "invalid_request" {
		t.Errorf("foreign audience: %d %s", bad.Status, bad.Error)
	}
	badScope := s.token(wechatForm(miniA, s.login(appA, "carol"), "scope", "openid admin"))
	if badScope.Status != http.StatusBadRequest || badScope.Error != "invalid_scope" {
		t.Errorf("unknown scope: %d %s", badScope.Status, badScope.Error)
	}
}

// The classic race (docs/wechat.md §4.3): the phone data is encrypted under the
// session key of an earlier wx.login, and the request carries a newer code.
func TestLegacyPhoneAfterNewerLogin(t *testing.T) {
	s := newStack(t)
	first := mustToken(t, s.token(wechatForm(miniA, s.login(appA, "dave"), "scope", "openid")))
	sub := s.verifyID(miniA, first).Subject

	data := s.phone(appA, "dave", "+8613911112222") // under the key of the first login
	newer := s.login(appA, "dave")                  // rotates the key
	tr := mustToken(t, s.token(wechatForm(miniA, newer, "encrypted_data", data.EncryptedData, "iv", data.IV, "scope", "openid phone")))
	c := s.verifyID(miniA, tr)
	if c.Subject != sub || c.PhoneNumber != "+8613911112222" || !c.PhoneVerified {
		t.Errorf("claims = %+v (want sub %s)", c, sub)
	}
}

func TestLegacyPhoneTamperedIsInvalidGrant(t *testing.T) {
	s := newStack(t)
	code := s.login(appA, "erin")
	for _, tamper := range []wechattest.Tamper{wechattest.TamperCiphertext, wechattest.TamperWatermark, wechattest.TamperNonJSON, wechattest.TamperIVLength} {
		g, err := s.Emu.PhoneTampered(appA, "erin", "+8613800000001", tamper)
		if err != nil {
			t.Fatal(err)
		}
		tr := s.token(wechatForm(miniA, code, "encrypted_data", g.EncryptedData, "iv", g.IV))
		if tr.Status != http.StatusBadRequest || tr.Error != "invalid_grant" {
			t.Errorf("tamper %v: %d %s", tamper, tr.Status, tr.Error)
		}
		code = s.login(appA, "erin")
	}
}

func TestSilentLoginThenPhoneLater(t *testing.T) {
	s := newStack(t)
	silent := mustToken(t, s.token(wechatForm(miniA, s.login(appA, "frank"), "scope", "openid phone")))
	c1 := s.verifyID(miniA, silent)
	if c1.PhoneNumber != "" {
		t.Fatalf("phone before the button: %q", c1.PhoneNumber)
	}
	ph := s.phone(appA, "frank", "+8613700001111")
	later := mustToken(t, s.token(wechatForm(miniA, s.login(appA, "frank"), "phone_code", ph.Code, "scope", "openid phone")))
	c2 := s.verifyID(miniA, later)
	if c2.Subject != c1.Subject || c2.PhoneNumber != "+8613700001111" {
		t.Errorf("second login: %+v, want sub %s", c2, c1.Subject)
	}
	// A third, silent login keeps the verified phone.
	third := mustToken(t, s.token(wechatForm(miniA, s.login(appA, "frank"), "scope", "openid phone")))
	if c3 := s.verifyID(miniA, third); c3.PhoneNumber != "+8613700001111" {
		t.Errorf("phone not kept: %+v", c3)
	}
}

func TestUnionIDLinksAppsToOneAccount(t *testing.T) {
	s := newStack(t)
	a := s.verifyID(miniA, mustToken(t, s.token(wechatForm(miniA, s.login(appA, "grace"), "scope", "openid wechat"))))
	b := s.verifyID(miniB, mustToken(t, s.token(wechatForm(miniB, s.login(appB, "grace"), "scope", "openid wechat"))))
	if a.Subject != b.Subject {
		t.Fatalf("same person via two apps of one open platform: subs %s and %s", a.Subject, b.Subject)
	}
	if a.OpenID == b.OpenID || a.UnionID != b.UnionID || b.AppID != appB {
		t.Errorf("identities: %+v / %+v", a, b)
	}
	other := s.verifyID(miniB, mustToken(t, s.token(wechatForm(miniB, s.login(appB, "heidi"), "scope", "openid"))))
	if other.Subject == a.Subject {
		t.Error("different people share an account")
	}
}

func TestPhoneRequiredClient(t *testing.T) {
	s := newStack(t)
	tr := s.token(wechatForm(miniPhone, s.login(appA, "ivan"), "scope", "openid"))
	if tr.Status != http.StatusBadRequest || tr.Error != "invalid_request" || !strings.Contains(tr.Description, "phone") {
		t.Fatalf("no phone: %d %s %q", tr.Status, tr.Error, tr.Description)
	}
	ph := s.phone(appA, "ivan", "+8613600000000")
	mustToken(t, s.token(wechatForm(miniPhone, s.login(appA, "ivan"), "phone_code", ph.Code, "scope", "openid")))
	// Now the account has a phone: a silent login is enough.
	mustToken(t, s.token(wechatForm(miniPhone, s.login(appA, "ivan"), "scope", "openid")))
}

func oauthClient(s *stack, clientID string) *oauth2.Config {
	return &oauth2.Config{ClientID: clientID, Endpoint: oauth2.Endpoint{TokenURL: s.URL + "/oauth2/token", AuthStyle: oauth2.AuthStyleInParams}}
}

func refresh(s *stack, clientID, rt string) (*oauth2.Token, error) {
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, s.client)
	return oauthClient(s, clientID).TokenSource(ctx, &oauth2.Token{RefreshToken: rt}).Token()
}

func oauthErrorCode(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}

func TestRefreshRotationAndReuseRevokesChain(t *testing.T) {
	s := newStack(t)
	ph := s.phone(appA, "judy", "+8613500000000")
	first := mustToken(t, s.token(wechatForm(miniA, s.login(appA, "judy"), "phone_code", ph.Code, "scope", "openid phone offline_access")))
	sub := s.verifyID(miniA, first).Subject

	second, err := refresh(s, miniA, first.RefreshToken)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if second.RefreshToken == first.RefreshToken || second.AccessToken == first.AccessToken {
		t.Fatal("refresh did not rotate")
	}
	idt, _ := second.Extra("id_token").(string)
	c := s.verifyID(miniA, tokenResponse{IDToken: idt, AccessToken: second.AccessToken})
	if c.Subject != sub || c.PhoneNumber != "+8613500000000" {
		t.Errorf("refreshed ID token claims = %+v", c)
	}
	if s.introspect(first.AccessToken)["active"] != false {
		t.Error("the rotated chain's old access token is still active")
	}
	// Reuse of the rotated token: refused, and the whole chain is revoked.
	if _, err := refresh(s, miniA, first.RefreshToken); oauthErrorCode(err) != "invalid_grant" {
		t.Fatalf("reuse: %v", err)
	}
	if _, err := refresh(s, miniA, second.RefreshToken); oauthErrorCode(err) != "invalid_grant" {
		t.Fatalf("chain not revoked after reuse: %v", err)
	}
	if s.introspect(second.AccessToken)["active"] != false {
		t.Error("access token of the revoked chain is still active")
	}
}

func TestRefreshRefusedForOtherClientAndDisabledAccount(t *testing.T) {
	s := newStack(t)
	tr := mustToken(t, s.token(wechatForm(miniA, s.login(appA, "ken"), "scope", "openid offline_access")))
	if _, err := refresh(s, miniB, tr.RefreshToken); oauthErrorCode(err) != "invalid_grant" {
		t.Fatalf("other client's refresh token: %v", err)
	}
	tr = mustToken(t, s.token(wechatForm(miniA, s.login(appA, "ken"), "scope", "openid offline_access")))
	sub := s.verifyID(miniA, tr).Subject
	if _, err := s.App.Store.UpdateAccount(context.Background(), sub, func(a storage.Account) (storage.Account, error) {
		a.Disabled = true
		return a, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := refresh(s, miniA, tr.RefreshToken); oauthErrorCode(err) != "invalid_grant" {
		t.Fatalf("disabled account refresh: %v", err)
	}
	if got := s.token(wechatForm(miniA, s.login(appA, "ken"))); got.Error != "invalid_grant" {
		t.Fatalf("disabled account login: %d %s", got.Status, got.Error)
	}
}

func TestNoRefreshTokenWithoutOfflineAccess(t *testing.T) {
	s := newStack(t)
	tr := mustToken(t, s.token(wechatForm(miniA, s.login(appA, "leo"), "scope", "openid")))
	if tr.RefreshToken != "" {
		t.Fatal("refresh token issued without offline_access")
	}
	tr = mustToken(t, s.token(wechatForm(miniA, s.login(appA, "leo"), "scope", "offline_access")))
	if tr.IDToken != "" || tr.RefreshToken == "" {
		t.Fatalf("without openid: id_token=%q refresh=%q", tr.IDToken, tr.RefreshToken)
	}
}

func TestRevocation(t *testing.T) {
	s := newStack(t)
	tr := mustToken(t, s.token(wechatForm(miniA, s.login(appA, "mallory"), "scope", "openid offline_access")))
	// A public client revokes its own refresh token (RFC 7009).
	resp, body := s.postForm("/oauth2/revoke", url.Values{"token": {tr.RefreshToken}, "client_id": {miniA}, "token_type_hint": {"refresh_token"}}, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d %s", resp.StatusCode, body)
	}
	if _, err := refresh(s, miniA, tr.RefreshToken); oauthErrorCode(err) != "invalid_grant" {
		t.Fatalf("refresh after revocation: %v", err)
	}
	if s.introspect(tr.AccessToken)["active"] != false {
		t.Error("access token of a revoked refresh token is still active")
	}
	// Unknown tokens revoke fine (RFC 7009 §2.2).
	resp, _ = s.postForm("/oauth2/revoke", url.Values{"token": {"no-such-token"}, "client_id": {miniA}}, nil)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("revoke unknown token: %d", resp.StatusCode)
	}
	// Another client cannot revoke it.
	tr2 := mustToken(t, s.token(wechatForm(miniA, s.login(appA, "mallory"), "scope", "openid offline_access")))
	// Whatever the answer (fosite says unauthorized_client), nothing is revoked.
	resp, _ = s.postForm("/oauth2/revoke", url.Values{"token": {tr2.RefreshToken}, "client_id": {miniB}}, nil)
	if resp.StatusCode >= 500 {
		t.Errorf("revoke by another client: %d", resp.StatusCode)
	}
	if _, err := refresh(s, miniA, tr2.RefreshToken); err != nil {
		t.Errorf("another client's revocation affected the token: %v", err)
	}
}

func TestIntrospection(t *testing.T) {
	s := newStack(t)
	tr := mustToken(t, s.token(wechatForm(miniA, s.login(appA, "nina"), "scope", "openid offline_access")))
	got := s.introspect(tr.AccessToken)
	if got["active"] != true || got["client_id"] != miniA || got["scope"] != "openid offline_access" || got["sub"] == "" || got["exp"] == nil || got["token_type"] != "Bearer" {
		t.Errorf("introspection = %v", got)
	}
	rt := s.introspect(tr.RefreshToken)
	if rt["active"] != true || rt["token_type"] != "refresh_token" {
		t.Errorf("refresh introspection = %v", rt)
	}
	if s.introspect("garbage")["active"] != false || s.introspect(tr.AccessToken + "x")["active"] != false {
		t.Error("invalid tokens must be inactive")
	}
	// Only authenticated confidential clients may introspect.
	cases := []struct {
		name string
		form url.Values
		h    http.Header
	}{
		{"public client", url.Values{"token": {tr.AccessToken}, "client_id": {miniA}}, nil},
		{"no auth", url.Values{"token": {tr.AccessToken}}, nil},
		{"wrong secret", url.Values{"token": {tr.AccessToken}, "client_id": {postCli}, "client_secret": {"nope"}}, nil},
		{"bearer token", url.Values{"token": {tr.AccessToken}}, http.Header{"Authorization": {"Bearer " + tr.AccessToken}}},
	}
	for _, c := range cases {
		resp, body := s.postForm("/oauth2/introspect", c.form, c.h)
		if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d %s", c.name, resp.StatusCode, body)
		}
		if strings.Contains(string(body), `"active"`) {
			t.Errorf("%s: got an introspection answer: %s", c.name, body)
		}
	}
	// client_secret_post works for a client registered with it.
	resp, body := s.postForm("/oauth2/introspect", url.Values{"token": {tr.AccessToken}, "client_id": {postCli}, "client_secret": {backendPw}}, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"active":true`) {
		t.Errorf("client_secret_post introspection: %d %s", resp.StatusCode, body)
	}
}

func TestUserInfo(t *testing.T) {
	s := newStack(t)
	ph := s.phone(appA, "olivia", "+8613400000000")
	tr := mustToken(t, s.token(wechatForm(miniA, s.login(appA, "olivia"), "phone_code", ph.Code, "scope", "openid phone")))
	sub := s.verifyID(miniA, tr).Subject
	ui, c := s.userInfo(tr.AccessToken)
	if ui.Subject != sub || c.PhoneNumber != "+8613400000000" || !c.PhoneVerified {
		t.Errorf("userinfo = %+v / %+v", ui, c)
	}
	// POST with the token in the body (RFC 6750 §2.2).
	resp, body := s.postForm("/userinfo", url.Values{"access_token": {tr.AccessToken}}, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), sub) {
		t.Errorf("POST userinfo: %d %s", resp.StatusCode, body)
	}
	// No token, bad token, token without openid.
	for name, h := range map[string]string{"none": "", "bad": "Bearer nope", "basic": "Basic Zm9vOmJhcg=="} {
		req, _ := http.NewRequest("GET", s.URL+"/userinfo", nil)
		if h != "" {
			req.Header.Set("Authorization", h)
		}
		resp, err := s.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: %d %q", name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}
	noOIDC := mustToken(t, s.token(wechatForm(miniA, s.login(appA, "olivia"), "scope", "phone")))
	req, _ := http.NewRequest("GET", s.URL+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+noOIDC.AccessToken)
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("token without openid: %d", resp.StatusCode)
	}
}

func TestClientCredentials(t *testing.T) {
	s := newStack(t)
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, s.client)
	basic := clientcredentials.Config{ClientID: backend, ClientSecret: backendPw, TokenURL: s.URL + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader, EndpointParams: url.Values{"audience": {resource}}}
	tok, err := basic.Token(ctx)
	if err != nil {
		t.Fatalf("client_secret_basic: %v", err)
	}
	got := s.introspect(tok.AccessToken)
	if got["active"] != true || got["sub"] != backend || got["client_id"] != backend || !testharness.JSONStringsEqual(got["aud"], resource) {
		t.Errorf("introspection = %v", got)
	}
	post := clientcredentials.Config{ClientID: postCli, ClientSecret: backendPw, TokenURL: s.URL + "/oauth2/token", AuthStyle: oauth2.AuthStyleInParams}
	if _, err := post.Token(ctx); err != nil {
		t.Fatalf("client_secret_post: %v", err)
	}
	// The registered method is enforced, and bad secrets fail.
	wrong := clientcredentials.Config{ClientID: backend, ClientSecret: backendPw, TokenURL: s.URL + "/oauth2/token", AuthStyle: oauth2.AuthStyleInParams}
	if _, err := wrong.Token(ctx); oauthErrorCode(err) != "invalid_client" {
		t.Errorf("basic client using post: %v", err)
	}
	bad := clientcredentials.Config{ClientID: backend, ClientSecret: "wrong", TokenURL: s.URL + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader}
	if _, err := bad.Token(ctx); oauthErrorCode(err) != "invalid_client" {
		t.Errorf("wrong secret: %v", err)
	}
	// A public mini-program client may not use client_credentials.
	tr := s.token(url.Values{"grant_type": {"client_credentials"}, "client_id": {miniA}})
	if tr.Status < 400 || tr.Status >= 500 || (tr.Error != "unauthorized_client" && tr.Error != "invalid_client" && tr.Error != "invalid_grant") {
		t.Errorf("public client_credentials: %d %s", tr.Status, tr.Error)
	}
}
