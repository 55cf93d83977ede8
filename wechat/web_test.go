package wechat_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/internal/testharness"
	"github.com/wxoidc/wxoidc/wechat"
	"github.com/wxoidc/wxoidc/wechat/wechattest"
)

const (
	webAppID    = "wx00000000000000a1" // website app, bound to openPlatID
	webSecret   = "web-secret-0123456789abcdef0123456"
	oaAppID     = "wx00000000000000a2" // official account, bound
	oaSecret    = "oa-secret-0123456789abcdef01234567"
	mobileAppID = "wx00000000000000a3" // mobile app, bound
	mobileSecr  = "mobile-secret-0123456789abcdef0123"
)

var (
	webApp    = wechat.App{AppID: webAppID, Secret: webSecret}
	oaApp     = wechat.App{AppID: oaAppID, Secret: oaSecret}
	mobileApp = wechat.App{AppID: mobileAppID, Secret: mobileSecr}
)

func newWebEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	e := newEnv(t, opts...)
	e.emu.RegisterApp(wechattest.App{AppID: webAppID, Secret: webSecret, Kind: wechattest.KindWebsite, OpenPlatformID: openPlatID})
	e.emu.RegisterApp(wechattest.App{AppID: oaAppID, Secret: oaSecret, Kind: wechattest.KindOfficialAccount, OpenPlatformID: openPlatID})
	e.emu.RegisterApp(wechattest.App{AppID: mobileAppID, Secret: mobileSecr, Kind: wechattest.KindMobileApp, OpenPlatformID: openPlatID})
	e.secret(webSecret, oaSecret, mobileSecr)
	return e
}

func (e *env) webCode(appID, user, scope string) string {
	e.t.Helper()
	c, err := e.emu.WebCode(appID, user, scope)
	if err != nil {
		e.t.Fatalf("WebCode: %v", err)
	}
	e.secret(c)
	return c
}

// exchangeWeb runs WebAccessToken and records the tokens as secrets.
func (e *env) exchangeWeb(app wechat.App, code string) (wechat.WebToken, error) {
	e.t.Helper()
	tok, err := e.client.WebAccessToken(context.Background(), app, code)
	e.checkWeb(tok, err)
	return tok, err
}

func (e *env) checkWeb(tok wechat.WebToken, err error) {
	e.t.Helper()
	if tok.AccessToken != "" {
		e.secret(tok.AccessToken, tok.RefreshToken)
	}
	if err != nil {
		e.assertNoLeak("error", err.Error())
	}
}

// webCategories adds the web sentinels to the category check.
var webCategories = map[string]error{
	"ErrSnapshotUser":        wechat.ErrSnapshotUser,
	"ErrInvalidRefreshToken": wechat.ErrInvalidRefreshToken,
	"ErrRefreshTokenExpired": wechat.ErrRefreshTokenExpired,
	"ErrScopeUnauthorized":   wechat.ErrScopeUnauthorized,
	"ErrWebTokenInvalid":     wechat.ErrWebTokenInvalid,
	"ErrWebTokenExpired":     wechat.ErrWebTokenExpired,
}

// assertWebCategories checks err against every sentinel, web ones included.
func assertWebCategories(t *testing.T, err error, want ...error) {
	t.Helper()
	assertCategories(t, err, want...)
	for name, sentinel := range webCategories {
		wanted := false
		for _, w := range want {
			wanted = wanted || w == sentinel
		}
		if got := errors.Is(err, sentinel); got != wanted {
			t.Errorf("errors.Is(err, %s) = %v, want %v (err: %v)", name, got, wanted, err)
		}
	}
}

func TestWebAccessTokenSuccess(t *testing.T) {
	e := newWebEnv(t)
	mobileCode, err := e.emu.AppLogin(mobileAppID, "alice")
	if err != nil {
		t.Fatal(err)
	}
	e.secret(mobileCode)
	unionID := e.emu.UnionID(testAppID, "alice")
	for _, tc := range []struct {
		name    string
		app     wechat.App
		code    string
		scope   string
		unionID string
	}{
		{"website", webApp, e.webCode(webAppID, "alice", wechat.ScopeSNSAPILogin), "snsapi_login", unionID},
		{"official account userinfo", oaApp, e.webCode(oaAppID, "alice", wechat.ScopeSNSAPIUserInfo), "snsapi_userinfo", unionID},
		{"official account base", oaApp, e.webCode(oaAppID, "alice", wechat.ScopeSNSAPIBase), "snsapi_base", ""},
		{"mobile app", mobileApp, mobileCode, "snsapi_userinfo", unionID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := e.exchangeWeb(tc.app, tc.code)
			if err != nil {
				t.Fatal(err)
			}
			if tok.OpenID != e.emu.OpenID(tc.app.AppID, "alice") || tok.UnionID != tc.unionID || tok.Scope != tc.scope ||
				tok.ExpiresIn != 7200*time.Second || tok.AccessToken == "" || tok.RefreshToken == "" {
				t.Errorf("token: %v", tok)
			}
		})
	}
	if unionID == "" {
		t.Fatal("the mini-program is not bound: the test proves nothing")
	}
}

func TestWebTokenRedacted(t *testing.T) {
	tok := wechat.WebToken{AccessToken: "ACCESS-TOKEN-VALUE", RefreshToken: "REFRESH-TOKEN-VALUE", OpenID: "o1", ExpiresIn: time.Hour}
	j, _ := json.Marshal(tok)
	var logs testharness.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("x", "tok", tok)
	for _, s := range []string{fmt.Sprint(tok), fmt.Sprintf("%+v %#v %q %x %s", tok, tok, tok, tok, tok), string(j), logs.String()} {
		if strings.Contains(s, "TOKEN-VALUE") || !strings.Contains(s, "o1") {
			t.Errorf("not redacted or openid lost: %s", s)
		}
	}
}

func TestWebAccessTokenErrors(t *testing.T) {
	tests := []struct {
		name string
		run  func(e *env) (wechat.App, string)
		code int
		want []error
	}{
		{"unknown code", func(e *env) (wechat.App, string) { return webApp, "0a3Ghh000NJ4vR1Xcx300zP9BB0Ghh0b" }, 40029, []error{wechat.ErrInvalidCode}},
		{"expired website code", func(e *env) (wechat.App, string) {
			c := e.webCode(webAppID, "u", wechat.ScopeSNSAPILogin)
			e.clock.Advance(10 * time.Minute)
			return webApp, c
		}, 40029, []error{wechat.ErrInvalidCode}},
		{"code of another app", func(e *env) (wechat.App, string) {
			return oaApp, e.webCode(webAppID, "u", wechat.ScopeSNSAPILogin)
		}, 40029, []error{wechat.ErrInvalidCode}},
		{"wx.login code", func(e *env) (wechat.App, string) { return webApp, e.login(testAppID, "u") }, 40029, []error{wechat.ErrInvalidCode}},
		{"reused code", func(e *env) (wechat.App, string) {
			c := e.webCode(webAppID, "u", wechat.ScopeSNSAPILogin)
			if _, err := e.exchangeWeb(webApp, c); err != nil {
				e.t.Fatal(err)
			}
			return webApp, c
		}, 40163, []error{wechat.ErrCodeUsed}},
		{"wrong secret", func(e *env) (wechat.App, string) {
			e.secret("wrong-web-secret")
			return wechat.App{AppID: webAppID, Secret: "wrong-web-secret"}, e.webCode(webAppID, "u", wechat.ScopeSNSAPILogin)
		}, 40125, []error{wechat.ErrConfig}},
		{"unknown appid", func(e *env) (wechat.App, string) {
			return wechat.App{AppID: "wx0000000000000001", Secret: webSecret}, e.webCode(webAppID, "u", wechat.ScopeSNSAPILogin)
		}, 40013, []error{wechat.ErrConfig}},
		{"rate limited", func(e *env) (wechat.App, string) {
			e.emu.Inject(wechattest.Fault{API: wechattest.APIWebAccessToken, ErrCode: 45011})
			return webApp, e.webCode(webAppID, "u", wechat.ScopeSNSAPILogin)
		}, 45011, []error{wechat.ErrRateLimited}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newWebEnv(t)
			app, code := tc.run(e)
			e.emu.ResetCalls()
			_, err := e.exchangeWeb(app, code)
			assertWebCategories(t, err, tc.want...)
			if got := errCode(err); got != tc.code {
				t.Errorf("errcode = %d, want %d", got, tc.code)
			}
			if n := e.calls(wechattest.APIWebAccessToken); n != 1 {
				t.Errorf("%d calls, want 1", n)
			}
		})
	}
}

func TestWebAccessTokenSnapshotUser(t *testing.T) {
	e := newWebEnv(t)
	e.emu.SetSnapshotUser(oaAppID, "ghost", true)
	tok, err := e.exchangeWeb(oaApp, e.webCode(oaAppID, "ghost", wechat.ScopeSNSAPIBase))
	assertWebCategories(t, err, wechat.ErrSnapshotUser)
	if tok != (wechat.WebToken{}) {
		t.Errorf("a snapshot user got a token: %v", tok)
	}
	// Even a malformed snapshot answer is refused, never accepted.
	e.emu.Inject(wechattest.Fault{API: wechattest.APIWebAccessToken, RawBody: true, Body: `{"is_snapshotuser":"1"}`})
	_, err = e.exchangeWeb(oaApp, e.webCode(oaAppID, "ghost", wechat.ScopeSNSAPIBase))
	assertWebCategories(t, err, wechat.ErrSnapshotUser)
	e.emu.Inject(wechattest.Fault{API: wechattest.APIWebAccessToken, RawBody: true, Body: `{"is_snapshotuser":true,"access_token":"a","refresh_token":"r","expires_in":7200,"openid":"o1"}`})
	_, err = e.exchangeWeb(oaApp, e.webCode(oaAppID, "ghost", wechat.ScopeSNSAPIBase))
	assertWebCategories(t, err, wechat.ErrTransport)
}

// TestWebAccessTokenNoteA: the code-exchange retry policy applies.
func TestWebAccessTokenNoteA(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fault  wechattest.Fault
		wantOK bool
		want   []error
	}{
		{"busy without consuming", wechattest.Fault{ErrCode: -1}, true, nil},
		{"busy after consuming", wechattest.Fault{ErrCode: -1, ConsumeCode: true}, false, []error{wechat.ErrBusy}},
		{"502 after consuming", wechattest.Fault{HTTPStatus: 502, ConsumeCode: true}, false, []error{wechat.ErrBusy, wechat.ErrTransport}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newWebEnv(t)
			f := tc.fault
			f.API = wechattest.APIWebAccessToken
			e.emu.Inject(f)
			tok, err := e.exchangeWeb(webApp, e.webCode(webAppID, "gina", wechat.ScopeSNSAPILogin))
			if tc.wantOK {
				if err != nil || tok.OpenID == "" {
					t.Fatalf("got %v, want success", err)
				}
			} else {
				assertWebCategories(t, err, tc.want...)
				if errCode(err) != 40163 {
					t.Errorf("errcode %d, want the retry's 40163", errCode(err))
				}
			}
			if n := e.calls(wechattest.APIWebAccessToken); n != 2 {
				t.Errorf("%d calls, want 2", n)
			}
		})
	}
}

func TestWebAccessTokenLocalValidation(t *testing.T) {
	e := newWebEnv(t)
	for _, tc := range []struct {
		name string
		app  wechat.App
		code string
		want error
	}{
		{"empty code", webApp, "", wechat.ErrInvalidCode},
		{"code with a space", webApp, "a b", wechat.ErrInvalidCode},
		{"oversize code", webApp, strings.Repeat("c", 513), wechat.ErrInvalidCode},
		{"no appid", wechat.App{Secret: webSecret}, "abc", wechat.ErrConfig},
		{"no secret", wechat.App{AppID: webAppID}, "abc", wechat.ErrConfig},
	} {
		_, err := e.client.WebAccessToken(context.Background(), tc.app, tc.code)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if n := e.calls(wechattest.APIWebAccessToken); n != 0 {
		t.Errorf("%d calls reached WeChat", n)
	}
}

func TestWebTransportFailures(t *testing.T) {
	for _, body := range []string{
		`<html>`, `{"openid":"o1"}`, `{"access_token":"a","refresh_token":"r","expires_in":0,"openid":"o1"}`,
		`{"access_token":"a b","refresh_token":"r","expires_in":7200,"openid":"o1"}`,
		`{"access_token":"a","refresh_token":"r","expires_in":7200,"openid":""}`,
		`{"access_token":"a","refresh_token":"","expires_in":7200,"openid":"o1"}`,
	} {
		e := newWebEnv(t, func(_ *wechattest.Options, c *wechat.Config) { c.DisableRetries = true })
		e.emu.Inject(wechattest.Fault{API: wechattest.APIWebAccessToken, RawBody: true, Body: body})
		_, err := e.exchangeWeb(webApp, e.webCode(webAppID, "ivy", wechat.ScopeSNSAPILogin))
		assertWebCategories(t, err, wechat.ErrTransport)
	}
}

func TestWebRefreshToken(t *testing.T) {
	e := newWebEnv(t)
	tok, err := e.exchangeWeb(oaApp, e.webCode(oaAppID, "bob", wechat.ScopeSNSAPIUserInfo))
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(3 * time.Hour)
	// No secret needed.
	got, err := e.client.WebRefreshToken(context.Background(), wechat.App{AppID: oaAppID}, tok.RefreshToken)
	e.checkWeb(got, err)
	if err != nil {
		t.Fatal(err)
	}
	if got.AccessToken == tok.AccessToken || got.RefreshToken != tok.RefreshToken || got.OpenID != tok.OpenID ||
		got.Scope != "snsapi_userinfo" || got.ExpiresIn != 7200*time.Second {
		t.Errorf("refresh: %v", got)
	}
	if _, err := e.client.WebUserInfo(context.Background(), got.AccessToken, got.OpenID, ""); err != nil {
		t.Errorf("userinfo with the refreshed token: %v", err)
	}

	for _, tc := range []struct {
		name string
		app  wechat.App
		rt   string
		adv  time.Duration
		code int
		want error
	}{
		{"unknown", oaApp, "EMU" + strings.Repeat("r", 128), 0, 40030, wechat.ErrInvalidRefreshToken},
		{"another app", webApp, tok.RefreshToken, 0, 40030, wechat.ErrInvalidRefreshToken},
		{"expired", oaApp, tok.RefreshToken, 30 * 24 * time.Hour, 42002, wechat.ErrRefreshTokenExpired},
	} {
		e.clock.Advance(tc.adv)
		_, err := e.client.WebRefreshToken(context.Background(), tc.app, tc.rt)
		e.checkWeb(wechat.WebToken{}, err)
		assertWebCategories(t, err, tc.want)
		if errCode(err) != tc.code {
			t.Errorf("%s: errcode %d, want %d", tc.name, errCode(err), tc.code)
		}
	}
	for _, tc := range []struct {
		name string
		app  wechat.App
		rt   string
		want error
	}{
		{"empty", oaApp, "", wechat.ErrInvalidRefreshToken},
		{"control character", oaApp, "a\nb", wechat.ErrInvalidRefreshToken},
		{"no appid", wechat.App{}, "abc", wechat.ErrConfig},
	} {
		if _, err := e.client.WebRefreshToken(context.Background(), tc.app, tc.rt); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestWebUserInfo(t *testing.T) {
	e := newWebEnv(t)
	tok, err := e.exchangeWeb(webApp, e.webCode(webAppID, "carol", wechat.ScopeSNSAPILogin))
	if err != nil {
		t.Fatal(err)
	}
	u, err := e.client.WebUserInfo(context.Background(), tok.AccessToken, tok.OpenID, "en")
	if err != nil {
		t.Fatal(err)
	}
	if u != (wechat.WebUser{OpenID: tok.OpenID, UnionID: e.emu.UnionID(webAppID, "carol"), Nickname: "carol"}) {
		t.Errorf("user: %+v", u)
	}
	// Display fields are cleaned; a foreign openid is refused.
	e.emu.Inject(wechattest.Fault{API: wechattest.APIWebUserInfo, RawBody: true,
		Body: `{"openid":"` + tok.OpenID + `","nickname":"\u0007 Ca\u0000rol \n","headimgurl":"javascript:alert(1)"}`})
	u, err = e.client.WebUserInfo(context.Background(), tok.AccessToken, tok.OpenID, "")
	if err != nil || u.Nickname != "Carol" || u.HeadImgURL != "" {
		t.Errorf("cleaned user: %+v %v", u, err)
	}
	e.emu.Inject(wechattest.Fault{API: wechattest.APIWebUserInfo, RawBody: true, Body: `{"openid":"oSomeoneElse","nickname":"x","headimgurl":"https://thirdwx.qlogo.cn/x/132"}`})
	_, err = e.client.WebUserInfo(context.Background(), tok.AccessToken, tok.OpenID, "")
	assertWebCategories(t, err, wechat.ErrTransport)

	base, err := e.exchangeWeb(oaApp, e.webCode(oaAppID, "carol", wechat.ScopeSNSAPIBase))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, at, openid string
		adv              time.Duration
		code             int
		want             error
	}{
		{"snsapi_base token", base.AccessToken, base.OpenID, 0, 48001, wechat.ErrScopeUnauthorized},
		{"another openid", tok.AccessToken, base.OpenID, 0, 40003, wechat.ErrWebTokenInvalid},
		{"unknown token", "EMU" + strings.Repeat("t", 128), tok.OpenID, 0, 40001, wechat.ErrWebTokenInvalid},
		{"malformed token", "short", tok.OpenID, 0, 40014, wechat.ErrWebTokenInvalid},
		{"expired token", tok.AccessToken, tok.OpenID, 7200 * time.Second, 42001, wechat.ErrWebTokenExpired},
	} {
		e.clock.Advance(tc.adv)
		_, err := e.client.WebUserInfo(context.Background(), tc.at, tc.openid, "zh_CN")
		e.checkWeb(wechat.WebToken{}, err)
		assertWebCategories(t, err, tc.want)
		if errCode(err) != tc.code {
			t.Errorf("%s: errcode %d, want %d", tc.name, errCode(err), tc.code)
		}
	}
	for _, tc := range []struct {
		name, at, openid, lang string
		want                   error
	}{
		{"empty token", "", tok.OpenID, "", wechat.ErrWebTokenInvalid},
		{"empty openid", tok.AccessToken, "", "", wechat.ErrConfig},
		{"bad lang", tok.AccessToken, tok.OpenID, "fr", wechat.ErrConfig},
	} {
		if _, err := e.client.WebUserInfo(context.Background(), tc.at, tc.openid, tc.lang); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestWebCheckToken(t *testing.T) {
	e := newWebEnv(t)
	tok, err := e.exchangeWeb(oaApp, e.webCode(oaAppID, "dan", wechat.ScopeSNSAPIBase))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.client.WebCheckToken(context.Background(), tok.AccessToken, tok.OpenID); err != nil {
		t.Fatalf("valid token: %v", err)
	}
	err = e.client.WebCheckToken(context.Background(), tok.AccessToken, e.emu.OpenID(oaAppID, "erin"))
	e.checkWeb(wechat.WebToken{}, err)
	assertWebCategories(t, err, wechat.ErrWebTokenInvalid)
	if errCode(err) != 40003 {
		t.Errorf("errcode %d, want 40003", errCode(err))
	}
	e.emu.Inject(wechattest.Fault{API: wechattest.APIWebAuth, ErrCode: -1, Times: 2})
	err = e.client.WebCheckToken(context.Background(), tok.AccessToken, tok.OpenID)
	assertWebCategories(t, err, wechat.ErrBusy)
	if n := e.calls(wechattest.APIWebAuth); n != 4 {
		t.Errorf("%d auth calls, want 4 (busy is retried once)", n)
	}
	e.clock.Advance(7200 * time.Second)
	err = e.client.WebCheckToken(context.Background(), tok.AccessToken, tok.OpenID)
	assertWebCategories(t, err, wechat.ErrWebTokenExpired)
	if err := e.client.WebCheckToken(context.Background(), "a\tb", tok.OpenID); !errors.Is(err, wechat.ErrWebTokenInvalid) {
		t.Errorf("malformed token: %v", err)
	}
}

// TestWebErrorCatalogue: the web sentinels apply only to their APIs.
func TestWebErrorCatalogue(t *testing.T) {
	for _, tc := range []struct {
		api  string
		code int
		want []error
	}{
		{wechattest.APIWebAccessToken, 40029, []error{wechat.ErrInvalidCode}},
		{wechattest.APIWebAccessToken, 40163, []error{wechat.ErrCodeUsed}},
		{wechattest.APIWebAccessToken, 48001, []error{wechat.ErrConfig}},
		{wechattest.APIWebAccessToken, 40030, nil},
		{wechattest.APIWebRefreshToken, 40030, []error{wechat.ErrInvalidRefreshToken}},
		{wechattest.APIWebRefreshToken, 42002, []error{wechat.ErrRefreshTokenExpired}},
		{wechattest.APIWebRefreshToken, 40013, []error{wechat.ErrConfig}},
		{wechattest.APIWebRefreshToken, 45011, []error{wechat.ErrRateLimited}},
		{wechattest.APIWebUserInfo, 48001, []error{wechat.ErrScopeUnauthorized}},
		{wechattest.APIWebUserInfo, 40003, []error{wechat.ErrWebTokenInvalid}},
		{wechattest.APIWebUserInfo, 42001, []error{wechat.ErrWebTokenExpired}},
		{wechattest.APIWebAuth, 40003, []error{wechat.ErrWebTokenInvalid}},
		{wechattest.APIWebAuth, 40001, []error{wechat.ErrWebTokenInvalid}},
		{wechattest.APIWebAuth, 42002, nil},
	} {
		e := newWebEnv(t)
		tok, err := e.exchangeWeb(oaApp, e.webCode(oaAppID, "kim", wechat.ScopeSNSAPIUserInfo))
		if err != nil {
			t.Fatal(err)
		}
		e.emu.Inject(wechattest.Fault{API: tc.api, ErrCode: tc.code})
		switch tc.api {
		case wechattest.APIWebAccessToken:
			_, err = e.exchangeWeb(oaApp, e.webCode(oaAppID, "kim", wechat.ScopeSNSAPIUserInfo))
		case wechattest.APIWebRefreshToken:
			_, err = e.client.WebRefreshToken(context.Background(), oaApp, tok.RefreshToken)
		case wechattest.APIWebUserInfo:
			_, err = e.client.WebUserInfo(context.Background(), tok.AccessToken, tok.OpenID, "")
		case wechattest.APIWebAuth:
			err = e.client.WebCheckToken(context.Background(), tok.AccessToken, tok.OpenID)
		}
		var we *wechat.Error
		if !errors.As(err, &we) || we.Code != tc.code || we.API != tc.api {
			t.Errorf("%s %d: %v", tc.api, tc.code, err)
			continue
		}
		t.Run(fmt.Sprintf("%s_%d", tc.api, tc.code), func(t *testing.T) { assertWebCategories(t, err, tc.want...) })
	}
}

// TestWebObserved: the observer sees the web APIs by name.
func TestWebObserved(t *testing.T) {
	obs := &callRecorder{}
	e := newWebEnv(t, func(_ *wechattest.Options, c *wechat.Config) { c.Observer = obs })
	tok, err := e.exchangeWeb(webApp, e.webCode(webAppID, "lee", wechat.ScopeSNSAPILogin))
	if err != nil {
		t.Fatal(err)
	}
	_ = e.client.WebCheckToken(context.Background(), tok.AccessToken, tok.OpenID)
	want := []observedCall{{"sns_oauth2_access_token", "0"}, {"sns_auth", "0"}}
	if fmt.Sprint(obs.calls) != fmt.Sprint(want) {
		t.Errorf("observed %v, want %v", obs.calls, want)
	}
}
