package app_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/wxoidc/wxoidc/config"
	"github.com/wxoidc/wxoidc/provider"
	"github.com/wxoidc/wxoidc/storage"
	"github.com/wxoidc/wxoidc/wechat/wechattest"
)

const (
	appMobile    = "wx00000000000000c3"
	secretMobile = "secret-of-mobile-app-01234"
	nativeApp    = "native-app"
)

func withMobileApp(c *config.Config) {
	c.WeChat.Apps = append(c.WeChat.Apps, config.WeChatApp{AppID: appMobile, Secret: config.InlineSecret(secretMobile), Kind: provider.AppKindMobileApp, OpenPlatform: platform})
}

func newAppGrantStack(t *testing.T) *stack {
	t.Helper()
	s := newStack(t, withMobileApp)
	s.Emu.RegisterApp(wechattest.App{AppID: appMobile, Secret: secretMobile, Kind: wechattest.KindMobileApp, OpenPlatformID: platform})
	c := storage.Client{
		ID: nativeApp, TokenEndpointAuthMethod: provider.AuthMethodNone, WeChatAppID: appMobile,
		GrantTypes:      []string{provider.GrantTypeWeChatApp, provider.GrantTypeRefreshToken},
		Scopes:          []string{"openid", "phone", "wechat", "offline_access"},
		DefaultAudience: s.URL,
	}
	createClient(t, s.App, c, "")
	return s
}

func (s *stack) appCode(user string) string {
	s.t.Helper()
	code, err := s.Emu.AppLogin(appMobile, user)
	if err != nil {
		s.t.Fatal(err)
	}
	return code
}

func appForm(clientID, code string, extra ...string) map[string][]string {
	f := wechatForm(clientID, code, extra...)
	f.Set("grant_type", provider.GrantTypeWeChatApp)
	return f
}

// The mobile app grant (docs/contract.md §1.7): a WeChat Open SDK code for
// the standard token response, and the same person's sub as through the
// mini-program (unionid).
func TestAppGrant(t *testing.T) {
	s := newAppGrantStack(t)
	tr := s.token(appForm(nativeApp, s.appCode("alice"), "scope", "openid wechat offline_access", "nonce", "nonce-of-the-app"))
	if tr.Status != http.StatusOK || tr.RefreshToken == "" || tr.IDToken == "" {
		t.Fatalf("app grant: %+v", tr)
	}
	id := s.verifyID(nativeApp, tr)
	if id.Nonce != "nonce-of-the-app" {
		t.Errorf("nonce = %q", id.Nonce)
	}
	claims := id
	if claims.AppID != appMobile || claims.OpenID != s.Emu.OpenID(appMobile, "alice") || len(claims.AMR) != 1 || claims.AMR[0] != "wechat" {
		t.Errorf("claims = %+v", claims)
	}
	mini := s.verifyID(miniA, mustToken(t, s.token(wechatForm(miniA, s.login(appA, "alice"), "scope", "openid"))))
	if mini.Subject != id.Subject {
		t.Errorf("app sub %q, mini-program sub %q: one person, two accounts", id.Subject, mini.Subject)
	}
	// Refresh works like any other grant's.
	if rt, err := refresh(s, nativeApp, tr.RefreshToken); err != nil || rt.AccessToken == "" {
		t.Errorf("refresh: %v", err)
	}
}

func TestAppGrantErrors(t *testing.T) {
	s := newAppGrantStack(t)
	used := s.appCode("bob")
	if tr := s.token(appForm(nativeApp, used)); tr.Status != http.StatusOK {
		t.Fatalf("first use: %+v", tr)
	}
	s.Emu.SetSnapshotUser(appMobile, "snap", true)
	for _, tc := range []struct {
		name   string
		form   map[string][]string
		status int
		code   string
	}{
		{"reused code", appForm(nativeApp, used), 400, "invalid_grant"},
		{"unknown code", appForm(nativeApp, "no-such-code"), 400, "invalid_grant"},
		{"a wx.login code", appForm(nativeApp, s.login(appA, "bob")), 400, "invalid_grant"},
		{"missing code", appForm(nativeApp, ""), 400, "invalid_request"},
		{"phone parameters", appForm(nativeApp, s.appCode("bob"), "phone_code", "x"), 400, "invalid_request"},
		{"prompt is not for this grant", appForm(nativeApp, s.appCode("bob"), "prompt", "login"), 400, "invalid_request"},
		{"short nonce", appForm(nativeApp, s.appCode("bob"), "nonce", "n"), 400, "insufficient_entropy"},
		{"snapshot user", appForm(nativeApp, s.appCode("snap")), 400, "invalid_grant"},
		{"a mini-program client", appForm(miniA, s.appCode("bob")), 400, "unauthorized_client"},
		{"the mini-program grant for the app client", wechatForm(nativeApp, s.appCode("bob")), 400, "unauthorized_client"},
		{"scope not allowed", appForm(nativeApp, s.appCode("bob"), "scope", "openid admin"), 400, "invalid_scope"},
	} {
		tr := s.token(tc.form)
		if tr.Status != tc.status || tr.Error != tc.code {
			t.Errorf("%s: %d %s (%s), want %d %s", tc.name, tr.Status, tr.Error, tr.Description, tc.status, tc.code)
		}
		if strings.Contains(tr.Description, secretMobile) {
			t.Errorf("%s: the description leaks the app secret", tc.name)
		}
	}
}
