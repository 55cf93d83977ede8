package wechattest_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/wechat/wechattest"
)

const (
	appWeb     = "wx00000000000000a1" // website app, open platform op1
	secretWeb  = "secret-web-0123456789"
	appOA      = "wx00000000000000a2" // official account, op1
	secretOA   = "secret-oa-0123456789"
	appMobile  = "wx00000000000000a3" // mobile app, op1
	secretMob  = "secret-mobile-012345"
	appOAFree  = "wx00000000000000a4" // official account bound to no open platform
	secretFree = "secret-free-01234567"
)

func newWebFixture(t *testing.T) *fixture {
	f := newFixture(t, wechattest.Options{})
	f.emu.RegisterApp(wechattest.App{AppID: appWeb, Secret: secretWeb, Kind: wechattest.KindWebsite, OpenPlatformID: "op1"})
	f.emu.RegisterApp(wechattest.App{AppID: appOA, Secret: secretOA, Kind: wechattest.KindOfficialAccount, OpenPlatformID: "op1"})
	f.emu.RegisterApp(wechattest.App{AppID: appMobile, Secret: secretMob, Kind: wechattest.KindMobileApp, OpenPlatformID: "op1"})
	f.emu.RegisterApp(wechattest.App{AppID: appOAFree, Secret: secretFree, Kind: wechattest.KindOfficialAccount})
	return f
}

func (f *fixture) webCode(app, user, scope string) string {
	f.t.Helper()
	c, err := f.emu.WebCode(app, user, scope)
	if err != nil {
		f.t.Fatalf("WebCode(%s, %s, %s): %v", app, user, scope, err)
	}
	return c
}

func (f *fixture) exchange(app, secret, code string) resp {
	f.t.Helper()
	return f.do(http.MethodGet, "/sns/oauth2/access_token", url.Values{"appid": {app}, "secret": {secret}, "code": {code}, "grant_type": {"authorization_code"}}, "")
}

func (f *fixture) refreshWeb(app, rt string) resp {
	f.t.Helper()
	return f.do(http.MethodGet, "/sns/oauth2/refresh_token", url.Values{"appid": {app}, "grant_type": {"refresh_token"}, "refresh_token": {rt}}, "")
}

func (f *fixture) userinfo(at, openid string) resp {
	f.t.Helper()
	return f.do(http.MethodGet, "/sns/userinfo", url.Values{"access_token": {at}, "openid": {openid}, "lang": {"en"}}, "")
}

func (f *fixture) snsAuth(at, openid string) resp {
	f.t.Helper()
	return f.do(http.MethodGet, "/sns/auth", url.Values{"access_token": {at}, "openid": {openid}}, "")
}

func TestWebCodeHooks(t *testing.T) {
	f := newWebFixture(t)
	for _, tc := range []struct {
		name, app, user, scope string
		want                   error
	}{
		{"website login", appWeb, "alice", wechattest.ScopeLogin, nil},
		{"website base", appWeb, "alice", wechattest.ScopeBase, wechattest.ErrInvalidScope},
		{"oa base", appOA, "alice", wechattest.ScopeBase, nil},
		{"oa userinfo", appOA, "alice", wechattest.ScopeUserInfo, nil},
		{"oa login", appOA, "alice", wechattest.ScopeLogin, wechattest.ErrInvalidScope},
		{"oa empty scope", appOA, "alice", "", wechattest.ErrInvalidScope},
		{"mini-program", appA, "alice", wechattest.ScopeLogin, wechattest.ErrNotWebApp},
		{"mobile app", appMobile, "alice", wechattest.ScopeUserInfo, wechattest.ErrNotWebApp},
		{"unknown app", "wxnope", "alice", wechattest.ScopeLogin, wechattest.ErrUnknownApp},
		{"empty user", appWeb, "", wechattest.ScopeLogin, wechattest.ErrInvalidUser},
	} {
		_, err := f.emu.WebCode(tc.app, tc.user, tc.scope)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := f.emu.AppLogin(appWeb, "alice"); !errors.Is(err, wechattest.ErrNotMobileApp) {
		t.Errorf("AppLogin on a website app: %v", err)
	}
	if _, err := f.emu.AppLogin(appMobile, "\x01"); !errors.Is(err, wechattest.ErrInvalidUser) {
		t.Errorf("AppLogin with a bad user: %v", err)
	}
}

// TestWebExchange: the success answers, their unionid rules and the snapshot flag.
func TestWebExchange(t *testing.T) {
	f := newWebFixture(t)
	app, _ := f.emu.AppLogin(appMobile, "alice")
	for _, tc := range []struct {
		name, app, secret, code, scope string
		unionid                        bool
	}{
		{"website", appWeb, secretWeb, f.webCode(appWeb, "alice", wechattest.ScopeLogin), "snsapi_login", true},
		{"oa userinfo", appOA, secretOA, f.webCode(appOA, "alice", wechattest.ScopeUserInfo), "snsapi_userinfo", true},
		{"oa base", appOA, secretOA, f.webCode(appOA, "alice", wechattest.ScopeBase), "snsapi_base", false},
		{"oa unbound", appOAFree, secretFree, f.webCode(appOAFree, "alice", wechattest.ScopeUserInfo), "snsapi_userinfo", false},
		{"mobile app", appMobile, secretMob, app, "snsapi_userinfo", true},
	} {
		r := f.exchange(tc.app, tc.secret, tc.code)
		if r.status != 200 || r.errcode() != 0 || r.m["errcode"] != nil {
			t.Fatalf("%s: %s", tc.name, r.raw)
		}
		if r.str("openid") != f.emu.OpenID(tc.app, "alice") || r.str("scope") != tc.scope ||
			len(r.str("access_token")) < 100 || len(r.str("refresh_token")) < 100 || r.m["expires_in"] != float64(7200) {
			t.Errorf("%s: %s", tc.name, r.raw)
		}
		_, has := r.m["unionid"]
		if has != tc.unionid {
			t.Errorf("%s: unionid present = %v, want %v", tc.name, has, tc.unionid)
		}
		if tc.unionid && r.str("unionid") != f.emu.UnionID(appA, "alice") {
			t.Errorf("%s: unionid %q differs from the mini-program's %q", tc.name, r.str("unionid"), f.emu.UnionID(appA, "alice"))
		}
		if _, snap := r.m["is_snapshotuser"]; snap {
			t.Errorf("%s: is_snapshotuser for a normal user", tc.name)
		}
	}
	f.emu.SetSnapshotUser(appOA, "ghost", true)
	r := f.exchange(appOA, secretOA, f.webCode(appOA, "ghost", wechattest.ScopeBase))
	if r.m["is_snapshotuser"] != float64(1) {
		t.Errorf("snapshot user: %s", r.raw)
	}
	f.emu.SetSnapshotUser(appOA, "ghost", false)
	if r := f.exchange(appOA, secretOA, f.webCode(appOA, "ghost", wechattest.ScopeBase)); r.m["is_snapshotuser"] != nil {
		t.Errorf("snapshot flag cleared: %s", r.raw)
	}
}

func TestWebExchangeErrors(t *testing.T) {
	tests := []struct {
		name string
		run  func(f *fixture) resp
		code int
	}{
		{"unknown code", func(f *fixture) resp { return f.exchange(appWeb, secretWeb, "0a3Ghh000NJ4vR1Xcx300zP9BB0Ghh0b") }, 40029},
		{"website code expired after 10 min", func(f *fixture) resp {
			c := f.webCode(appWeb, "u", wechattest.ScopeLogin)
			f.clock.Advance(10 * time.Minute)
			return f.exchange(appWeb, secretWeb, c)
		}, 40029},
		{"oa code expired after 5 min", func(f *fixture) resp {
			c := f.webCode(appOA, "u", wechattest.ScopeBase)
			f.clock.Advance(5 * time.Minute)
			return f.exchange(appOA, secretOA, c)
		}, 40029},
		{"code of another appid", func(f *fixture) resp {
			return f.exchange(appOA, secretOA, f.webCode(appWeb, "u", wechattest.ScopeLogin))
		}, 40029},
		{"wx.login code", func(f *fixture) resp { return f.exchange(appWeb, secretWeb, f.login(appA, "u")) }, 40029},
		{"web code at jscode2session", func(f *fixture) resp {
			return f.jscode(appA, secretA, f.webCode(appWeb, "u", wechattest.ScopeLogin))
		}, 40029},
		{"second use", func(f *fixture) resp {
			c := f.webCode(appWeb, "u", wechattest.ScopeLogin)
			if r := f.exchange(appWeb, secretWeb, c); r.errcode() != 0 {
				f.t.Fatal(r.raw)
			}
			return f.exchange(appWeb, secretWeb, c)
		}, 40163},
		{"wrong secret", func(f *fixture) resp {
			return f.exchange(appWeb, "wrong", f.webCode(appWeb, "u", wechattest.ScopeLogin))
		}, 40125},
		{"unknown appid", func(f *fixture) resp { return f.exchange("wxnope", "s", f.webCode(appWeb, "u", wechattest.ScopeLogin)) }, 40013},
		{"no appid", func(f *fixture) resp { return f.exchange("", "s", "c") }, 41002},
		{"no secret", func(f *fixture) resp { return f.exchange(appWeb, "", "c") }, 41004},
		{"no code", func(f *fixture) resp { return f.exchange(appWeb, secretWeb, "") }, 41008},
		{"wrong grant_type", func(f *fixture) resp {
			return f.do(http.MethodGet, "/sns/oauth2/access_token", url.Values{"appid": {appWeb}, "secret": {secretWeb}, "code": {"c"}, "grant_type": {"x"}}, "")
		}, 40002},
		{"POST", func(f *fixture) resp { return f.do(http.MethodPost, "/sns/oauth2/access_token", nil, "appid=x") }, 41002},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newWebFixture(t)
			wantErr(t, tc.name, tc.run(f), tc.code)
		})
	}
	// The codes' lifetimes hold just before they end.
	f := newWebFixture(t)
	c := f.webCode(appWeb, "u", wechattest.ScopeLogin)
	m, _ := f.emu.AppLogin(appMobile, "u")
	o := f.webCode(appOA, "u", wechattest.ScopeBase)
	f.clock.Advance(5*time.Minute - time.Second)
	if r := f.exchange(appOA, secretOA, o); r.errcode() != 0 {
		t.Errorf("oa code at 4m59s: %s", r.raw)
	}
	f.clock.Advance(5 * time.Minute)
	if r := f.exchange(appWeb, secretWeb, c); r.errcode() != 0 {
		t.Errorf("website code at 9m59s: %s", r.raw)
	}
	if r := f.exchange(appMobile, secretMob, m); r.errcode() != 0 {
		t.Errorf("mobile code at 9m59s: %s", r.raw)
	}
}

func TestWebRefresh(t *testing.T) {
	f := newWebFixture(t)
	r := f.exchange(appOA, secretOA, f.webCode(appOA, "bob", wechattest.ScopeUserInfo))
	at, rt := r.str("access_token"), r.str("refresh_token")

	// Unexpired: same access token, expiry extended.
	f.clock.Advance(time.Hour)
	r = f.refreshWeb(appOA, rt)
	if r.errcode() != 0 || r.str("access_token") != at || r.str("refresh_token") != rt || r.m["expires_in"] != float64(7200) ||
		r.str("openid") != f.emu.OpenID(appOA, "bob") || r.str("scope") != "snsapi_userinfo" {
		t.Fatalf("refresh of a live token: %s", r.raw)
	}
	f.clock.Advance(7200*time.Second - time.Second) // alive only thanks to the extension
	if r := f.snsAuth(at, f.emu.OpenID(appOA, "bob")); r.errcode() != 0 {
		t.Errorf("extended token: %s", r.raw)
	}
	// Expired: a new access token; the old one stays dead.
	f.clock.Advance(time.Hour)
	wantErr(t, "expired web token", f.snsAuth(at, f.emu.OpenID(appOA, "bob")), 42001)
	r = f.refreshWeb(appOA, rt)
	if r.errcode() != 0 || r.str("access_token") == at || r.str("access_token") == "" {
		t.Fatalf("refresh of an expired token: %s", r.raw)
	}
	if r := f.userinfo(r.str("access_token"), f.emu.OpenID(appOA, "bob")); r.errcode() != 0 {
		t.Errorf("userinfo with the new token: %s", r.raw)
	}
	wantErr(t, "another appid", f.refreshWeb(appWeb, rt), 40030)
	wantErr(t, "unknown refresh token", f.refreshWeb(appOA, "EMUnot-a-refresh-token"), 40030)
	wantErr(t, "access token as refresh token", f.refreshWeb(appOA, at), 40030)
	wantErr(t, "missing refresh token", f.refreshWeb(appOA, ""), 41003)
	wantErr(t, "missing appid", f.refreshWeb("", rt), 41002)
	wantErr(t, "unknown appid", f.refreshWeb("wxnope", rt), 40013)
	wantErr(t, "wrong grant_type", f.do(http.MethodGet, "/sns/oauth2/refresh_token", url.Values{"appid": {appOA}, "grant_type": {"authorization_code"}, "refresh_token": {rt}}, ""), 40002)
	// 30 days, not extended by use.
	f.clock.Set(t0.Add(30*24*time.Hour - time.Second))
	if r := f.refreshWeb(appOA, rt); r.errcode() != 0 {
		t.Errorf("refresh at 29d23h59m59s: %s", r.raw)
	}
	f.clock.Advance(time.Second)
	wantErr(t, "refresh after 30 days", f.refreshWeb(appOA, rt), 42002)
}

func TestWebUserInfoAndAuth(t *testing.T) {
	f := newWebFixture(t)
	ex := func(app, secret, scope string) (string, string) {
		r := f.exchange(app, secret, f.webCode(app, "carol", scope))
		return r.str("access_token"), r.str("openid")
	}
	at, oid := ex(appWeb, secretWeb, wechattest.ScopeLogin)
	r := f.userinfo(at, oid)
	if r.errcode() != 0 || r.m["errcode"] != nil || r.str("openid") != oid || r.str("nickname") != "carol" ||
		r.m["sex"] != float64(0) || r.str("province") != "" || r.str("city") != "" || r.str("country") != "" ||
		r.str("unionid") != f.emu.UnionID(appWeb, "carol") {
		t.Errorf("userinfo: %s", r.raw)
	}
	if r := f.snsAuth(at, oid); r.errcode() != 0 || r.str("errmsg") != "ok" {
		t.Errorf("auth: %s", r.raw)
	}
	base, baseOID := ex(appOA, secretOA, wechattest.ScopeBase)
	wantErr(t, "userinfo with snsapi_base", f.userinfo(base, baseOID), 48001)
	if r := f.snsAuth(base, baseOID); r.errcode() != 0 {
		t.Errorf("auth with a base token: %s", r.raw)
	}
	free, freeOID := ex(appOAFree, secretFree, wechattest.ScopeUserInfo)
	if r := f.userinfo(free, freeOID); r.errcode() != 0 || r.m["unionid"] != nil {
		t.Errorf("userinfo of an unbound app: %s", r.raw)
	}
	for _, tc := range []struct {
		name, at, openid string
		code             int
	}{
		{"other openid", at, f.emu.OpenID(appWeb, "dave"), 40003},
		{"openid of another app", at, f.emu.OpenID(appOA, "carol"), 40003},
		{"no openid", at, "", 40003},
		{"no token", "", oid, 41001},
		{"malformed token", "short", oid, 40014},
		{"unknown token", "EMU" + strings.Repeat("x", 128), oid, 40001},
		{"app access token", f.token(t, appA, secretA), oid, 40001},
	} {
		wantErr(t, "userinfo: "+tc.name, f.userinfo(tc.at, tc.openid), tc.code)
		wantErr(t, "auth: "+tc.name, f.snsAuth(tc.at, tc.openid), tc.code)
	}
	f.clock.Advance(7200 * time.Second)
	wantErr(t, "userinfo expired", f.userinfo(at, oid), 42001)
	// A web token is no app access token.
	wantErr(t, "web token at getuserphonenumber", f.phoneAPI(at, `{"code":"x"}`), 40001)
}

// TestWebFaultsAndCallLog: faults match the new endpoints by API, appid and
// user, and the call log records them without secrets.
func TestWebFaultsAndCallLog(t *testing.T) {
	f := newWebFixture(t)
	f.emu.Inject(wechattest.Fault{API: wechattest.APIWebAccessToken, User: "erin", ErrCode: -1})
	other := f.webCode(appWeb, "frank", wechattest.ScopeLogin)
	if r := f.exchange(appWeb, secretWeb, other); r.errcode() != 0 {
		t.Errorf("fault for erin hit frank: %s", r.raw)
	}
	c := f.webCode(appWeb, "erin", wechattest.ScopeLogin)
	wantErr(t, "injected", f.exchange(appWeb, secretWeb, c), -1)
	r := f.exchange(appWeb, secretWeb, c)
	if r.errcode() != 0 {
		t.Fatalf("fault without ConsumeCode consumed the code: %s", r.raw)
	}
	at, rt, oid := r.str("access_token"), r.str("refresh_token"), r.str("openid")

	c2 := f.webCode(appWeb, "erin", wechattest.ScopeLogin)
	f.emu.Inject(wechattest.Fault{API: wechattest.APIWebAccessToken, HTTPStatus: 502, ConsumeCode: true})
	if r := f.exchange(appWeb, secretWeb, c2); r.status != 502 {
		t.Errorf("502 fault: %d", r.status)
	}
	wantErr(t, "consumed by the 502", f.exchange(appWeb, secretWeb, c2), 40163)

	for _, tc := range []struct {
		api string
		do  func() resp
	}{
		{wechattest.APIWebRefreshToken, func() resp { return f.refreshWeb(appWeb, rt) }},
		{wechattest.APIWebUserInfo, func() resp { return f.userinfo(at, oid) }},
		{wechattest.APIWebAuth, func() resp { return f.snsAuth(at, oid) }},
	} {
		f.emu.Inject(wechattest.Fault{API: tc.api, AppID: appWeb, User: "erin", ErrCode: 45011})
		wantErr(t, tc.api+" fault", tc.do(), 45011)
		if r := tc.do(); r.errcode() != 0 {
			t.Errorf("%s after the fault: %s", tc.api, r.raw)
		}
		f.emu.Inject(wechattest.Fault{API: tc.api, ContentType: "text/plain", SuccessErrCode: wechattest.ErrCodePresent})
		if r := tc.do(); r.errcode() != 0 || r.ctype != "text/plain" || r.str("errmsg") != "ok" {
			t.Errorf("%s shaped success: %s %s", tc.api, r.ctype, r.raw)
		}
	}
	calls := f.emu.CallsTo(wechattest.APIWebUserInfo)
	if len(calls) != 3 || calls[0].AppID != appWeb || calls[0].User != "erin" || calls[0].Outcome != 45011 || !calls[0].Faulted || calls[1].Outcome != 0 {
		t.Errorf("userinfo calls: %+v", calls)
	}
	if n := len(f.emu.CallsTo(wechattest.APIWebAccessToken)); n != 5 {
		t.Errorf("%d access_token calls logged, want 5", n)
	}
	if n := len(f.emu.CallsTo(wechattest.APIWebAuth)); n != 3 {
		t.Errorf("%d auth calls logged, want 3", n)
	}
}

// noRedirect is a client that shows the 302 instead of following it.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func getPage(t *testing.T, u string) (*http.Response, string) {
	t.Helper()
	res, err := noRedirect.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := res.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return res, b.String()
}

// pageURL builds an authorize URL with WeChat's parameters in WeChat's order.
func pageURL(base, path string, kv ...string) string {
	var parts []string
	for i := 0; i+1 < len(kv); i += 2 {
		parts = append(parts, kv[i]+"="+url.QueryEscape(kv[i+1]))
	}
	return base + path + "?" + strings.Join(parts, "&") + "#wechat_redirect"
}

func TestBrowserPages(t *testing.T) {
	f := newWebFixture(t)
	// Mounted under the dev-mode prefix.
	mux := http.NewServeMux()
	mux.Handle("/wechat-emulator/", http.StripPrefix("/wechat-emulator", f.emu.Handler()))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	base := srv.URL + "/wechat-emulator"
	qr := func(extra ...string) string {
		kv := append([]string{"appid", appWeb, "redirect_uri", "https://rp.example/cb", "response_type", "code", "scope", "snsapi_login", "state", "abc123"}, extra...)
		return pageURL(base, "/connect/qrconnect", kv...)
	}

	// The form.
	res, body := getPage(t, qr("lang", "en"))
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("form: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	for _, want := range []string{"wxoidc WeChat emulator", `name="user"`, "Approve", "Deny", `value="abc123"`, `action="./qrconnect"`, appWeb, "rp.example"} {
		if !strings.Contains(body, want) {
			t.Errorf("form lacks %q:\n%s", want, body)
		}
	}
	if res.Header.Get("Cache-Control") != "no-store" || !strings.Contains(res.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Errorf("page headers: %v", res.Header)
	}

	// Approve with user=NAME: 302 with a working code.
	res, _ = getPage(t, qr("user", "alice"))
	loc, _ := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusFound || loc.Host != "rp.example" || loc.Path != "/cb" || loc.Query().Get("state") != "abc123" {
		t.Fatalf("approve: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	r := f.exchange(appWeb, secretWeb, loc.Query().Get("code"))
	if r.errcode() != 0 || r.str("openid") != f.emu.OpenID(appWeb, "alice") || r.str("scope") != "snsapi_login" {
		t.Errorf("exchange of the page's code: %s", r.raw)
	}

	// Deny: state only.
	for _, u := range []string{qr("deny", "1"), qr("user", "alice", "deny", "1")} {
		res, _ = getPage(t, u)
		if res.StatusCode != http.StatusFound || res.Header.Get("Location") != "https://rp.example/cb?state=abc123" {
			t.Errorf("deny: %d %q", res.StatusCode, res.Header.Get("Location"))
		}
	}

	// A redirect_uri with a query keeps it; the official account page.
	oa := pageURL(base, "/connect/oauth2/authorize", "appid", appOA, "redirect_uri", "http://127.0.0.1:8080/oauth2/wechat/callback?x=1&y=a%2Fb",
		"response_type", "code", "scope", "snsapi_base", "state", "S", "user", "bob")
	res, _ = getPage(t, oa)
	got := res.Header.Get("Location")
	if res.StatusCode != http.StatusFound || !strings.HasPrefix(got, "http://127.0.0.1:8080/oauth2/wechat/callback?x=1&y=a%2Fb&code=") || !strings.HasSuffix(got, "&state=S") {
		t.Errorf("authorize with a query: %d %q", res.StatusCode, got)
	}
	loc, _ = url.Parse(got)
	if r := f.exchange(appOA, secretOA, loc.Query().Get("code")); r.errcode() != 0 || r.str("scope") != "snsapi_base" {
		t.Errorf("exchange of the OA page's code: %s", r.raw)
	}

	// The form's own submission with an empty name re-shows the form.
	res, body = getPage(t, qr("user", ""))
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(body, "Type a user name") || !strings.Contains(body, `name="user"`) {
		t.Errorf("empty user: %d %s", res.StatusCode, body)
	}
	res, _ = noRedirect.Post(qr(), "application/x-www-form-urlencoded", nil)
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", res.StatusCode)
	}
	_ = res.Body.Close()
}

func TestBrowserPageBadParameters(t *testing.T) {
	f := newWebFixture(t)
	srv := httptest.NewServer(f.emu.Handler())
	defer srv.Close()
	long := strings.Repeat("a", 129)
	for _, tc := range []struct {
		name, path string
		kv         []string
		want       string
	}{
		{"no appid", "/connect/qrconnect", []string{"redirect_uri", "https://rp/cb", "response_type", "code", "scope", "snsapi_login", "state", "s"}, "appid is missing"},
		{"unknown appid", "/connect/qrconnect", []string{"appid", "wxnope", "redirect_uri", "https://rp/cb", "response_type", "code", "scope", "snsapi_login", "state", "s"}, "not a registered app"},
		{"OA at qrconnect", "/connect/qrconnect", []string{"appid", appOA, "redirect_uri", "https://rp/cb", "response_type", "code", "scope", "snsapi_login", "state", "s"}, "kind"},
		{"website at authorize", "/connect/oauth2/authorize", []string{"appid", appWeb, "redirect_uri", "https://rp/cb", "response_type", "code", "scope", "snsapi_base", "state", "s"}, "kind"},
		{"mini-program at authorize", "/connect/oauth2/authorize", []string{"appid", appA, "redirect_uri", "https://rp/cb", "response_type", "code", "scope", "snsapi_base", "state", "s"}, "kind"},
		{"no redirect_uri", "/connect/qrconnect", []string{"appid", appWeb, "response_type", "code", "scope", "snsapi_login", "state", "s"}, "redirect_uri is missing"},
		{"relative redirect_uri", "/connect/qrconnect", []string{"appid", appWeb, "redirect_uri", "/cb", "response_type", "code", "scope", "snsapi_login", "state", "s"}, "absolute"},
		{"ftp redirect_uri", "/connect/qrconnect", []string{"appid", appWeb, "redirect_uri", "ftp://rp/cb", "response_type", "code", "scope", "snsapi_login", "state", "s"}, "absolute"},
		{"redirect_uri with fragment", "/connect/qrconnect", []string{"appid", appWeb, "redirect_uri", "https://rp/cb#x", "response_type", "code", "scope", "snsapi_login", "state", "s"}, "fragment"},
		{"response_type token", "/connect/qrconnect", []string{"appid", appWeb, "redirect_uri", "https://rp/cb", "response_type", "token", "scope", "snsapi_login", "state", "s"}, "response_type"},
		{"no response_type", "/connect/oauth2/authorize", []string{"appid", appOA, "redirect_uri", "https://rp/cb", "scope", "snsapi_base", "state", "s"}, "response_type"},
		{"qrconnect scope base", "/connect/qrconnect", []string{"appid", appWeb, "redirect_uri", "https://rp/cb", "response_type", "code", "scope", "snsapi_base", "state", "s"}, "scope"},
		{"authorize scope login", "/connect/oauth2/authorize", []string{"appid", appOA, "redirect_uri", "https://rp/cb", "response_type", "code", "scope", "snsapi_login", "state", "s"}, "scope"},
		{"no scope", "/connect/oauth2/authorize", []string{"appid", appOA, "redirect_uri", "https://rp/cb", "response_type", "code", "state", "s"}, "scope"},
		{"state too long", "/connect/qrconnect", []string{"appid", appWeb, "redirect_uri", "https://rp/cb", "response_type", "code", "scope", "snsapi_login", "state", long}, "state"},
		{"state charset", "/connect/oauth2/authorize", []string{"appid", appOA, "redirect_uri", "https://rp/cb", "response_type", "code", "scope", "snsapi_base", "state", "a-b"}, "state"},
		{"bad lang", "/connect/qrconnect", []string{"appid", appWeb, "redirect_uri", "https://rp/cb", "response_type", "code", "scope", "snsapi_login", "state", "s", "lang", "fr"}, "lang"},
		{"bad user with shortcut", "/connect/qrconnect", []string{"appid", appWeb, "redirect_uri", "https://rp/cb", "response_type", "code", "scope", "snsapi_login", "state", "s", "user", strings.Repeat("u", 129)}, "user name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, extra := range [][]string{nil, {"deny", "1"}} {
				if extra != nil && tc.name == "bad user with shortcut" {
					continue // deny does not look at the user
				}
				res, body := getPage(t, pageURL(srv.URL, tc.path, append(tc.kv, extra...)...))
				if res.StatusCode != http.StatusBadRequest || res.Header.Get("Location") != "" ||
					!strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, tc.want) ||
					!strings.Contains(body, "wxoidc WeChat emulator") {
					t.Errorf("%v: %d %q %s", extra, res.StatusCode, res.Header.Get("Location"), body)
				}
			}
		})
	}
	// Empty state is WeChat-valid: the redirect carries state= anyway.
	res, _ := getPage(t, pageURL(srv.URL, "/connect/oauth2/authorize", "appid", appOA, "redirect_uri", "https://rp/cb", "response_type", "code", "scope", "snsapi_userinfo", "deny", "1"))
	if res.StatusCode != http.StatusFound || res.Header.Get("Location") != "https://rp/cb?state=" {
		t.Errorf("empty state: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
}

func TestAppLoginHelper(t *testing.T) {
	f := newWebFixture(t)
	mux := http.NewServeMux()
	mux.Handle("/wechat-emulator/", http.StripPrefix("/wechat-emulator", f.emu.Handler()))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	post := func(body string) (int, map[string]string) {
		res, err := http.Post(srv.URL+"/wechat-emulator/app-login", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = res.Body.Close() }()
		m := map[string]string{}
		_ = json.NewDecoder(res.Body).Decode(&m)
		return res.StatusCode, m
	}
	st, m := post(`{"appid":"` + appMobile + `","user":"alice"}`)
	if st != 200 || len(m["code"]) != 32 {
		t.Fatalf("app-login: %d %v", st, m)
	}
	r := f.exchange(appMobile, secretMob, m["code"])
	if r.errcode() != 0 || r.str("scope") != "snsapi_userinfo" || r.str("unionid") != f.emu.UnionID(appA, "alice") {
		t.Errorf("exchange of the app-login code: %s", r.raw)
	}
	for _, tc := range []struct{ body, want string }{
		{`{"appid":"wxnope","user":"alice"}`, "unknown appid"},
		{`{"appid":"` + appA + `","user":"alice"}`, "not a mobile app"},
		{`{"appid":"` + appMobile + `","user":""}`, "invalid user"},
		{`not json`, "bad JSON"},
	} {
		st, m := post(tc.body)
		if st != 400 || !strings.Contains(m["error"], tc.want) {
			t.Errorf("%s: %d %v, want 400 %q", tc.body, st, m, tc.want)
		}
	}
	res, _ := http.Get(srv.URL + "/wechat-emulator/app-login")
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /app-login: %d", res.StatusCode)
	}
	_ = res.Body.Close()
}
