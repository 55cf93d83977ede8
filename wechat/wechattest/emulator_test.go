package wechattest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/wechat/wechattest"
)

const (
	appA    = "wx1234567890abcdef"
	secretA = "secret-a-0123456789"
	appB    = "wxbbbbbbbbbbbbbbbb"
	secretB = "secret-b-0123456789"
	appC    = "wxcccccccccccccccc" // bound to the same open platform as A
	secretC = "secret-c-0123456789"
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

type fixture struct {
	t     *testing.T
	emu   *wechattest.Emulator
	srv   *httptest.Server
	clock *wechattest.ManualClock
}

func newFixture(t *testing.T, opts wechattest.Options) *fixture {
	t.Helper()
	clock := wechattest.NewManualClock(t0)
	opts.Clock = clock
	emu, srv := wechattest.NewServer(t, opts)
	emu.RegisterApp(wechattest.App{AppID: appA, Secret: secretA, OpenPlatformID: "op1", PhoneAPI: true})
	emu.RegisterApp(wechattest.App{AppID: appB, Secret: secretB, PhoneAPI: true})
	emu.RegisterApp(wechattest.App{AppID: appC, Secret: secretC, OpenPlatformID: "op1"})
	return &fixture{t: t, emu: emu, srv: srv, clock: clock}
}

// resp is a decoded answer.
type resp struct {
	status int
	ctype  string
	raw    string
	m      map[string]any
}

func (r resp) errcode() int {
	if v, ok := r.m["errcode"].(float64); ok {
		return int(v)
	}
	return 0
}

func (r resp) str(k string) string { s, _ := r.m[k].(string); return s }

func (f *fixture) do(method, path string, q url.Values, body string) resp {
	f.t.Helper()
	u := f.srv.URL + path
	if q != nil {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }()
	b, _ := io.ReadAll(res.Body)
	r := resp{status: res.StatusCode, ctype: res.Header.Get("Content-Type"), raw: string(b)}
	_ = json.Unmarshal(b, &r.m)
	return r
}

func (f *fixture) login(app, user string) string {
	f.t.Helper()
	c, err := f.emu.Login(app, user)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

func (f *fixture) jscode(app, secret, code string) resp {
	f.t.Helper()
	return f.do(http.MethodGet, "/sns/jscode2session", url.Values{"appid": {app}, "secret": {secret}, "js_code": {code}, "grant_type": {"authorization_code"}}, "")
}

func (f *fixture) stable(body string) resp {
	f.t.Helper()
	return f.do(http.MethodPost, "/cgi-bin/stable_token", nil, body)
}

func (f *fixture) stableToken(app, secret string, force bool) resp {
	f.t.Helper()
	b, _ := json.Marshal(map[string]any{"grant_type": "client_credential", "appid": app, "secret": secret, "force_refresh": force})
	return f.stable(string(b))
}

func (f *fixture) token(t *testing.T, app, secret string) string {
	t.Helper()
	r := f.stableToken(app, secret, false)
	if r.errcode() != 0 || r.str("access_token") == "" {
		t.Fatalf("stable_token: %s", r.raw)
	}
	return r.str("access_token")
}

func (f *fixture) phoneAPI(token, body string) resp {
	f.t.Helper()
	q := url.Values{}
	if token != "" {
		q.Set("access_token", token)
	}
	return f.do(http.MethodPost, "/wxa/business/getuserphonenumber", q, body)
}

func wantErr(t *testing.T, name string, r resp, code int) {
	t.Helper()
	if r.status != http.StatusOK || r.errcode() != code {
		t.Errorf("%s: status %d body %s, want errcode %d", name, r.status, r.raw, code)
		return
	}
	if !regexp.MustCompile(`, rid: [0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$`).MatchString(r.str("errmsg")) {
		t.Errorf("%s: errmsg %q lacks the rid suffix", name, r.str("errmsg"))
	}
	if r.ctype != "application/json; encoding=utf-8" {
		t.Errorf("%s: content type %q", name, r.ctype)
	}
}

func TestIdentities(t *testing.T) {
	f := newFixture(t, wechattest.Options{})
	idRe := regexp.MustCompile(`^o[A-Za-z0-9_-]{27}$`)
	oa, ob := f.emu.OpenID(appA, "alice"), f.emu.OpenID(appB, "alice")
	if !idRe.MatchString(oa) || !idRe.MatchString(ob) || oa == ob {
		t.Errorf("openids %q %q", oa, ob)
	}
	if f.emu.OpenID(appA, "alice") != oa || f.emu.OpenID(appA, "bob") == oa {
		t.Error("openid not stable per user")
	}
	// Deterministic across emulator instances (dev mode restarts).
	if wechattest.New(wechattest.Options{}).OpenID(appA, "alice") != oa {
		t.Error("openid differs across instances")
	}
	ua, uc := f.emu.UnionID(appA, "alice"), f.emu.UnionID(appC, "alice")
	if !idRe.MatchString(ua) || ua != uc {
		t.Errorf("unionid not shared across bound apps: %q %q", ua, uc)
	}
	if f.emu.UnionID(appB, "alice") != "" || f.emu.UnionID("wxunknown", "alice") != "" {
		t.Error("unbound app has a unionid")
	}
	if f.emu.UnionID(appA, "bob") == ua {
		t.Error("unionid shared across users")
	}
}

func TestJSCode2Session(t *testing.T) {
	f := newFixture(t, wechattest.Options{})
	code := f.login(appA, "alice")
	r := f.jscode(appA, secretA, code)
	if r.errcode() != 0 || r.m["errcode"] != nil {
		t.Fatalf("success: %s", r.raw)
	}
	if r.str("openid") != f.emu.OpenID(appA, "alice") || r.str("unionid") != f.emu.UnionID(appA, "alice") ||
		r.str("session_key") != f.emu.CurrentSessionKey(appA, "alice") || len(r.str("session_key")) != 24 {
		t.Errorf("success body %s", r.raw)
	}
	wantErr(t, "reuse", f.jscode(appA, secretA, code), 40163)

	rb := f.jscode(appB, secretB, f.login(appB, "alice"))
	if _, ok := rb.m["unionid"]; ok || rb.errcode() != 0 {
		t.Errorf("unbound app: %s", rb.raw)
	}

	phoneGrant, err := f.emu.Phone(appA, "alice", "+8613800138000")
	if err != nil {
		t.Fatal(err)
	}
	f.emu.BlockUser(appA, "mallory")
	tests := []struct {
		name string
		r    func() resp
		code int
	}{
		{"POST instead of GET", func() resp {
			return f.do(http.MethodPost, "/sns/jscode2session", nil, url.Values{"appid": {appA}, "secret": {secretA}, "js_code": {f.login(appA, "u")}}.Encode())
		}, 41002},
		{"missing appid", func() resp { return f.jscode("", secretA, f.login(appA, "u")) }, 41002},
		{"missing secret", func() resp { return f.jscode(appA, "", f.login(appA, "u")) }, 41004},
		{"missing code", func() resp { return f.jscode(appA, secretA, "") }, 41008},
		{"unknown appid", func() resp { return f.jscode("wx0000000000000000", secretA, f.login(appA, "u")) }, 40013},
		{"wrong secret", func() resp { return f.jscode(appA, "nope", f.login(appA, "u")) }, 40125},
		{"wrong grant_type", func() resp {
			return f.do(http.MethodGet, "/sns/jscode2session", url.Values{"appid": {appA}, "secret": {secretA}, "js_code": {f.login(appA, "u")}, "grant_type": {"client_credential"}}, "")
		}, 40002},
		{"unknown code", func() resp { return f.jscode(appA, secretA, "nosuchcode") }, 40029},
		{"code of another appid", func() resp { return f.jscode(appA, secretA, f.login(appB, "u")) }, 40029},
		{"phone code", func() resp { return f.jscode(appA, secretA, phoneGrant.Code) }, 40029},
		{"blocked user", func() resp { return f.jscode(appA, secretA, f.login(appA, "mallory")) }, 40226},
		{"expired", func() resp {
			c := f.login(appA, "u")
			f.clock.Advance(5 * time.Minute)
			return f.jscode(appA, secretA, c)
		}, 40029},
	}
	for _, tc := range tests {
		wantErr(t, tc.name, tc.r(), tc.code)
	}
	// A code just inside its 5 minutes works.
	c := f.login(appA, "u")
	f.clock.Advance(5*time.Minute - time.Second)
	if r := f.jscode(appA, secretA, c); r.errcode() != 0 {
		t.Errorf("code at 4m59s: %s", r.raw)
	}
	f.emu.UnblockUser(appA, "mallory")
	if r := f.jscode(appA, secretA, f.login(appA, "mallory")); r.errcode() != 0 {
		t.Errorf("unblocked: %s", r.raw)
	}
}

func TestJSCode2SessionRateLimit(t *testing.T) {
	f := newFixture(t, wechattest.Options{JSCode2SessionPerMinute: 3})
	for i := range 3 {
		if r := f.jscode(appA, secretA, f.login(appA, "alice")); r.errcode() != 0 {
			t.Fatalf("call %d: %s", i, r.raw)
		}
	}
	c := f.login(appA, "alice")
	wantErr(t, "4th call", f.jscode(appA, secretA, c), 45011)
	if r := f.jscode(appA, secretA, f.login(appA, "bob")); r.errcode() != 0 {
		t.Errorf("other user limited: %s", r.raw)
	}
	f.clock.Advance(time.Minute)
	if r := f.jscode(appA, secretA, c); r.errcode() != 0 {
		t.Errorf("next minute: %s (the limited call must not consume the code)", r.raw)
	}
}

func TestSessionKeyRotation(t *testing.T) {
	f := newFixture(t, wechattest.Options{SessionKeyMinRotation: time.Minute})
	c1 := f.login(appA, "alice")
	k1 := f.emu.CurrentSessionKey(appA, "alice")
	c2 := f.login(appA, "alice")
	if f.emu.CurrentSessionKey(appA, "alice") != k1 {
		t.Fatal("rotated within the minimum period")
	}
	f.clock.Advance(time.Minute)
	c3 := f.login(appA, "alice")
	k3 := f.emu.CurrentSessionKey(appA, "alice")
	if k3 == k1 {
		t.Fatal("did not rotate after the minimum period")
	}
	// Every exchange returns the key current at exchange time, whatever code.
	for _, c := range []string{c1, c2, c3} {
		if r := f.jscode(appA, secretA, c); r.str("session_key") != k3 {
			t.Errorf("exchange returned %q, want the current key", r.str("session_key"))
		}
	}
	if f.emu.CurrentSessionKey(appA, "nobody") != "" {
		t.Error("unknown user has a key")
	}
}

func TestGetUserPhoneNumber(t *testing.T) {
	f := newFixture(t, wechattest.Options{})
	tokA := f.token(t, appA, secretA)
	g, err := f.emu.Phone(appA, "alice", "+8613800138000")
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Minute)
	r := f.phoneAPI(tokA, `{"code":"`+g.Code+`","openid":"`+f.emu.OpenID(appA, "alice")+`"}`)
	if r.errcode() != 0 || r.str("errmsg") != "ok" {
		t.Fatalf("success: %s", r.raw)
	}
	var body struct {
		PhoneInfo struct {
			PhoneNumber, PurePhoneNumber string
			CountryCode                  any
			Watermark                    struct {
				Timestamp int64
				AppID     string
			}
		} `json:"phone_info"`
	}
	_ = json.Unmarshal([]byte(r.raw), &body)
	pi := body.PhoneInfo
	if pi.PhoneNumber != "13800138000" || pi.PurePhoneNumber != "13800138000" || pi.CountryCode != "86" ||
		pi.Watermark.AppID != appA || pi.Watermark.Timestamp != t0.Unix() {
		t.Errorf("phone_info %+v", pi)
	}
	wantErr(t, "reuse", f.phoneAPI(tokA, `{"code":"`+g.Code+`"}`), 40029)

	// Non-CN numbers carry +CC in phoneNumber.
	g2, _ := f.emu.Phone(appA, "bob", "+14155550123")
	r = f.phoneAPI(tokA, `{"code":"`+g2.Code+`"}`)
	if !strings.Contains(r.raw, `"phoneNumber":"+14155550123"`) || !strings.Contains(r.raw, `"countryCode":"1"`) {
		t.Errorf("non-CN: %s", r.raw)
	}

	tokB := f.token(t, appB, secretB)
	noPhone := f.token(t, appC, secretC)
	fresh := func() string { g, _ := f.emu.Phone(appA, "carol", "+8613800138001"); return g.Code }
	tests := []struct {
		name string
		r    func() resp
		code int
	}{
		{"GET", func() resp {
			return f.do(http.MethodGet, "/wxa/business/getuserphonenumber", url.Values{"access_token": {tokA}}, "")
		}, 43002},
		{"missing token", func() resp { return f.phoneAPI("", `{"code":"`+fresh()+`"}`) }, 41001},
		{"malformed token", func() resp { return f.phoneAPI("ACCESS_TOKEN", `{"code":"`+fresh()+`"}`) }, 40014},
		{"unknown token", func() resp { return f.phoneAPI(strings.Repeat("A", 131), `{"code":"`+fresh()+`"}`) }, 40001},
		{"token of another appid", func() resp { return f.phoneAPI(tokB, `{"code":"`+fresh()+`"}`) }, 40013},
		{"phone API not allowed", func() resp { return f.phoneAPI(noPhone, `{"code":"x"}`) }, 48001},
		{"empty body", func() resp { return f.phoneAPI(tokA, "") }, 44002},
		{"bad JSON", func() resp { return f.phoneAPI(tokA, `{"code":`) }, 47001},
		{"login code", func() resp { return f.phoneAPI(tokA, `{"code":"`+f.login(appA, "carol")+`"}`) }, 40029},
		{"unknown code", func() resp { return f.phoneAPI(tokA, `{"code":"zzz"}`) }, 40029},
		{"openid mismatch", func() resp {
			return f.phoneAPI(tokA, `{"code":"`+fresh()+`","openid":"`+f.emu.OpenID(appA, "dave")+`"}`)
		}, 40029},
		{"expired", func() resp {
			c := fresh()
			f.clock.Advance(5 * time.Minute)
			return f.phoneAPI(f.token(t, appA, secretA), `{"code":"`+c+`"}`)
		}, 40029},
	}
	for _, tc := range tests {
		wantErr(t, tc.name, tc.r(), tc.code)
	}
}

func TestClassicToken(t *testing.T) {
	f := newFixture(t, wechattest.Options{DailyTokenQuota: 4})
	get := func(q url.Values) resp { return f.do(http.MethodGet, "/cgi-bin/token", q, "") }
	ok := url.Values{"grant_type": {"client_credential"}, "appid": {appA}, "secret": {secretA}}
	r1 := get(ok)
	t1 := r1.str("access_token")
	if len(t1) < 100 || len(t1) > 512 || r1.m["expires_in"] != float64(7200) || r1.m["errcode"] != nil {
		t.Fatalf("token: %s", r1.raw)
	}
	f.clock.Advance(time.Minute)
	t2 := get(ok).str("access_token")
	if t2 == t1 {
		t.Fatal("/cgi-bin/token returned the same token twice")
	}
	g, _ := f.emu.Phone(appA, "alice", "+8613800138000")
	// The previous token works for 5 minutes after being superseded…
	f.clock.Advance(5*time.Minute - time.Second)
	if r := f.phoneAPI(t1, `{"code":"`+g.Code+`"}`); r.errcode() != 0 {
		t.Errorf("superseded token within 5 min: %s", r.raw)
	}
	// …then it is "not latest".
	f.clock.Advance(time.Second)
	wantErr(t, "superseded token", f.phoneAPI(t1, `{"code":"x"}`), 40001)
	// Tokens expire after 7200 s.
	f.clock.Advance(7200 * time.Second)
	wantErr(t, "expired token", f.phoneAPI(t2, `{"code":"x"}`), 42001)

	with := func(k, v string) url.Values {
		q := url.Values{}
		for kk, vv := range ok {
			q[kk] = vv
		}
		q.Set(k, v)
		return q
	}
	tests := []struct {
		name string
		r    resp
		code int
	}{
		{"POST", f.do(http.MethodPost, "/cgi-bin/token", ok, ""), 43001},
		{"grant_type", get(with("grant_type", "authorization_code")), 40002},
		{"missing appid", get(with("appid", "")), 41002},
		{"missing secret", get(with("secret", "")), 41004},
		{"unknown appid", get(with("appid", "wx0")), 40013},
		{"wrong secret", get(with("secret", "x")), 40125},
	}
	for _, tc := range tests {
		wantErr(t, tc.name, tc.r, tc.code)
	}
	get(ok)
	get(ok)
	wantErr(t, "daily quota", get(ok), 45009)
	f.clock.Advance(24 * time.Hour)
	if r := get(ok); r.errcode() != 0 {
		t.Errorf("next day: %s", r.raw)
	}
}

func TestStableToken(t *testing.T) {
	f := newFixture(t, wechattest.Options{ForceRefreshDailyLimit: 2})
	r := f.stableToken(appA, secretA, false)
	t1 := r.str("access_token")
	if r.m["expires_in"] != float64(7200) || r.m["errcode"] != nil {
		t.Fatalf("first: %s", r.raw)
	}
	// Same token, decreasing expires_in.
	f.clock.Advance(1000 * time.Second)
	r = f.stableToken(appA, secretA, false)
	if r.str("access_token") != t1 || r.m["expires_in"] != float64(6200) {
		t.Errorf("normal mode: %s", r.raw)
	}
	// Stable tokens are isolated from /cgi-bin/token.
	f.do(http.MethodGet, "/cgi-bin/token", url.Values{"grant_type": {"client_credential"}, "appid": {appA}, "secret": {secretA}}, "")
	f.clock.Advance(10 * time.Minute)
	g, _ := f.emu.Phone(appA, "alice", "+8613800138000")
	if r := f.phoneAPI(t1, `{"code":"`+g.Code+`"}`); r.errcode() != 0 {
		t.Errorf("stable token invalidated by /cgi-bin/token: %s", r.raw)
	}
	// In the last 300 s a new token is issued; the old one lives to its end.
	f.clock.Set(t0.Add(7200*time.Second - 300*time.Second))
	r = f.stableToken(appA, secretA, false)
	t2 := r.str("access_token")
	if t2 == t1 || r.m["expires_in"] != float64(7200) {
		t.Errorf("renewal window: %s", r.raw)
	}
	g, _ = f.emu.Phone(appA, "alice", "+8613800138000")
	if r := f.phoneAPI(t1, `{"code":"`+g.Code+`"}`); r.errcode() != 0 {
		t.Errorf("old token during its last 300 s: %s", r.raw)
	}
	f.clock.Advance(300 * time.Second)
	wantErr(t, "old token after its end", f.phoneAPI(t1, `{"code":"x"}`), 42001)

	// force_refresh revokes at once; again within 30 s changes nothing.
	r = f.stableToken(appA, secretA, true)
	t3 := r.str("access_token")
	if t3 == t2 {
		t.Fatal("force_refresh kept the token")
	}
	wantErr(t, "force-refreshed token", f.phoneAPI(t2, `{"code":"x"}`), 40001)
	f.clock.Advance(29 * time.Second)
	if r := f.stableToken(appA, secretA, true); r.str("access_token") != t3 {
		t.Error("force within 30 s renewed")
	}
	f.clock.Advance(time.Second)
	t4 := f.stableToken(appA, secretA, true).str("access_token")
	if t4 == t3 {
		t.Error("force after 30 s did not renew")
	}
	// Daily force limit (2 here) reached: unchanged.
	f.clock.Advance(time.Minute)
	if f.stableToken(appA, secretA, true).str("access_token") != t4 {
		t.Error("force beyond the daily limit renewed")
	}

	tests := []struct {
		name string
		r    resp
		code int
	}{
		{"GET", f.do(http.MethodGet, "/cgi-bin/stable_token", nil, ""), 43002},
		{"empty body", f.stable(""), 44002},
		{"bad JSON", f.stable(`{"appid":`), 47001},
		{"grant_type", f.stable(`{"grant_type":"x","appid":"` + appA + `","secret":"` + secretA + `"}`), 40002},
		{"missing appid", f.stable(`{"grant_type":"client_credential","secret":"` + secretA + `"}`), 41002},
		{"missing secret", f.stable(`{"grant_type":"client_credential","appid":"` + appA + `"}`), 41004},
		{"unknown appid", f.stableToken("wx0", secretA, false), 40013},
		{"wrong secret", f.stableToken(appA, "nope", false), 40125},
	}
	for _, tc := range tests {
		wantErr(t, tc.name, tc.r, tc.code)
	}
}

func TestTokenAppRestrictions(t *testing.T) {
	f := newFixture(t, wechattest.Options{StableTokenMinuteQuota: 2, StableTokenDailyQuota: 3})
	f.emu.RegisterApp(wechattest.App{AppID: appB, Secret: secretB, IPWhitelist: []string{"203.0.113.0/24"}})
	r := f.stableToken(appB, secretB, false)
	wantErr(t, "whitelist", r, 40164)
	if !strings.Contains(r.str("errmsg"), "invalid ip 127.0.0.1") {
		t.Errorf("errmsg %q", r.str("errmsg"))
	}
	f.emu.RegisterApp(wechattest.App{AppID: appB, Secret: secretB, IPWhitelist: []string{"127.0.0.1"}})
	if r := f.stableToken(appB, secretB, false); r.errcode() != 0 {
		t.Errorf("whitelisted: %s", r.raw)
	}
	f.emu.RegisterApp(wechattest.App{AppID: appB, Secret: secretB, SecretFrozen: true})
	wantErr(t, "frozen", f.stableToken(appB, secretB, false), 40243)
	wantErr(t, "frozen classic", f.do(http.MethodGet, "/cgi-bin/token", url.Values{"grant_type": {"client_credential"}, "appid": {appB}, "secret": {secretB}}, ""), 40243)

	f.stableToken(appA, secretA, false)
	f.stableToken(appA, secretA, false)
	wantErr(t, "minute quota", f.stableToken(appA, secretA, false), 45011)
	f.clock.Advance(time.Minute)
	if r := f.stableToken(appA, secretA, false); r.errcode() != 0 {
		t.Errorf("next minute: %s", r.raw)
	}
	wantErr(t, "daily quota", f.stableToken(appA, secretA, false), 45009)
}

func TestSessionKeyAPIs(t *testing.T) {
	// The doc's HMAC vector (docs/wechat.md §4.4).
	if got := wechattest.SessionKeySignature("o0q0otL8aEzpcZL/FT9WsQ=="); got != "46e043c5525c2d817c44be603d30837a808a1d930d038f6fdc3e62a201fed128" {
		t.Fatalf("signature = %s", got)
	}
	f := newFixture(t, wechattest.Options{SessionKeyLifetime: 72 * time.Hour})
	tok := f.token(t, appA, secretA)
	f.login(appA, "alice")
	openid := f.emu.OpenID(appA, "alice")
	check := func(path, sig, method string) resp {
		return f.do(http.MethodGet, path, url.Values{"access_token": {tok}, "openid": {openid}, "signature": {sig}, "sig_method": {method}}, "")
	}
	sig := wechattest.SessionKeySignature(f.emu.CurrentSessionKey(appA, "alice"))
	if r := check("/wxa/checksession", sig, "hmac_sha256"); r.errcode() != 0 || r.str("errmsg") != "ok" || r.m["errcode"] == nil {
		t.Errorf("checksession: %s", r.raw)
	}
	wantErr(t, "bad signature", check("/wxa/checksession", strings.Repeat("0", 64), "hmac_sha256"), 87009)
	wantErr(t, "bad sig_method", check("/wxa/checksession", sig, "md5"), 87008)
	wantErr(t, "no token", f.do(http.MethodGet, "/wxa/checksession", url.Values{"openid": {openid}}, ""), 41001)
	openid = f.emu.OpenID(appA, "stranger")
	wantErr(t, "unknown openid", check("/wxa/checksession", sig, "hmac_sha256"), 40003)
	openid = f.emu.OpenID(appA, "alice")

	// Reset: new key, the old one dies, the expiry is kept.
	f.clock.Advance(71 * time.Hour)
	tok = f.token(t, appA, secretA)
	r := check("/wxa/resetusersessionkey", sig, "hmac_sha256")
	newKey := r.str("session_key")
	if r.errcode() != 0 || r.str("openid") != openid || newKey == "" || newKey != f.emu.CurrentSessionKey(appA, "alice") {
		t.Fatalf("reset: %s", r.raw)
	}
	wantErr(t, "old key after reset", check("/wxa/checksession", sig, "hmac_sha256"), 87009)
	newSig := wechattest.SessionKeySignature(newKey)
	if r := check("/wxa/checksession", newSig, "hmac_sha256"); r.errcode() != 0 {
		t.Errorf("new key: %s", r.raw)
	}
	f.clock.Advance(time.Hour)
	wantErr(t, "new key past the old expiry", check("/wxa/checksession", newSig, "hmac_sha256"), 87009)
}

func TestFaultsGoAPI(t *testing.T) {
	f := newFixture(t, wechattest.Options{})
	// Filters: appid and user.
	f.emu.Inject(wechattest.Fault{API: wechattest.APIJSCode2Session, AppID: appA, User: "bob", ErrCode: 45011})
	if r := f.jscode(appA, secretA, f.login(appA, "alice")); r.errcode() != 0 {
		t.Errorf("fault hit the wrong user: %s", r.raw)
	}
	if r := f.jscode(appB, secretB, f.login(appB, "bob")); r.errcode() != 0 {
		t.Errorf("fault hit the wrong app: %s", r.raw)
	}
	// Fail without consuming: the code still works afterwards.
	c := f.login(appA, "bob")
	wantErr(t, "injected 45011", f.jscode(appA, secretA, c), 45011)
	if r := f.jscode(appA, secretA, c); r.errcode() != 0 {
		t.Errorf("fault consumed the code: %s", r.raw)
	}
	// Consume then fail: the code is gone.
	f.emu.Inject(wechattest.Fault{API: wechattest.APIJSCode2Session, ErrCode: -1, ConsumeCode: true})
	c = f.login(appA, "bob")
	wantErr(t, "injected -1", f.jscode(appA, secretA, c), -1)
	wantErr(t, "after consume", f.jscode(appA, secretA, c), 40163)
	// Times: -1 = until cleared.
	f.emu.Inject(wechattest.Fault{API: wechattest.APIStableToken, HTTPStatus: 502, Body: "bad gateway", Times: -1})
	for range 3 {
		if r := f.stableToken(appA, secretA, false); r.status != 502 || r.raw != "bad gateway" || !strings.HasPrefix(r.ctype, "text/plain") {
			t.Errorf("502 fault: %d %q", r.status, r.raw)
		}
	}
	f.emu.ClearFaults()
	if r := f.stableToken(appA, secretA, false); r.errcode() != 0 {
		t.Errorf("after clear: %s", r.raw)
	}
	// Raw bodies, content type, success shapes.
	f.emu.Inject(wechattest.Fault{API: wechattest.APIStableToken, RawBody: true})
	if r := f.stableToken(appA, secretA, false); r.status != 200 || r.raw != "" {
		t.Errorf("empty body: %d %q", r.status, r.raw)
	}
	f.emu.Inject(wechattest.Fault{API: wechattest.APIStableToken, ContentType: "text/plain", SuccessErrCode: wechattest.ErrCodePresent})
	if r := f.stableToken(appA, secretA, false); r.ctype != "text/plain" || r.m["errcode"] != float64(0) || r.str("access_token") == "" {
		t.Errorf("modifier fault: %s %s", r.ctype, r.raw)
	}
	g, _ := f.emu.Phone(appA, "alice", "+8613800138000")
	f.emu.Inject(wechattest.Fault{API: wechattest.APIPhoneNumber, SuccessErrCode: wechattest.ErrCodeAbsent})
	if r := f.phoneAPI(f.token(t, appA, secretA), `{"code":"`+g.Code+`"}`); r.m["errcode"] != nil || r.m["phone_info"] == nil {
		t.Errorf("errcode absent: %s", r.raw)
	}
	// Unknown errcodes get a generic message.
	f.emu.Inject(wechattest.Fault{ErrCode: 12345})
	wantErr(t, "any API", f.stableToken(appA, secretA, false), 12345)
}

func TestFaultDelay(t *testing.T) {
	f := newFixture(t, wechattest.Options{})
	f.emu.Inject(wechattest.Fault{API: wechattest.APIJSCode2Session, Delay: 20 * time.Millisecond})
	start := time.Now()
	if r := f.jscode(appA, secretA, f.login(appA, "alice")); r.errcode() != 0 {
		t.Fatal(r.raw)
	}
	if time.Since(start) < 20*time.Millisecond {
		t.Error("delay not applied")
	}
}

func TestHelperEndpoints(t *testing.T) {
	f := newFixture(t, wechattest.Options{})
	// Mounted under a prefix, as dev mode does.
	mux := http.NewServeMux()
	mux.Handle("/wechat-emulator/", http.StripPrefix("/wechat-emulator", f.emu.Handler()))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	post := func(path, body string) (int, map[string]any) {
		res, err := http.Post(srv.URL+"/wechat-emulator"+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = res.Body.Close() }()
		var m map[string]any
		_ = json.NewDecoder(res.Body).Decode(&m)
		return res.StatusCode, m
	}
	st, m := post("/login", `{"appid":"`+appA+`","user":"alice"}`)
	code, _ := m["code"].(string)
	if st != 200 || len(code) != 32 {
		t.Fatalf("login: %d %v", st, m)
	}
	res, err := http.Get(srv.URL + "/wechat-emulator/sns/jscode2session?" + url.Values{"appid": {appA}, "secret": {secretA}, "js_code": {code}, "grant_type": {"authorization_code"}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	var sess map[string]any
	_ = json.NewDecoder(res.Body).Decode(&sess)
	_ = res.Body.Close()
	if sess["openid"] != f.emu.OpenID(appA, "alice") {
		t.Errorf("exchange under the prefix: %v", sess)
	}
	st, m = post("/phone", `{"appid":"`+appA+`","user":"alice","phone_number":"+8613800138000"}`)
	if st != 200 || m["code"] == "" || m["encryptedData"] == "" || m["iv"] == "" {
		t.Errorf("phone: %d %v", st, m)
	}
	for _, tc := range []struct{ path, body, want string }{
		{"/login", `{"appid":"wxnope","user":"alice"}`, "unknown appid"},
		{"/login", `{"appid":"` + appA + `","user":""}`, "invalid user"},
		{"/login", `not json`, "bad JSON"},
		{"/phone", `{"appid":"` + appA + `","user":"alice","phone_number":"13800138000"}`, "invalid phone_number"},
		{"/phone", `{"appid":"` + appA + `","user":"alice","phone_number":"+86abc"}`, "invalid phone_number"},
		{"/phone", `{"appid":"wxnope","user":"alice","phone_number":"+8613800138000"}`, "unknown appid"},
		{"/phone", `{"appid":"` + appA + `","user":"alice","phone_number":"+8613800138000","tamper":"bogus"}`, "unknown tamper"},
		{"/faults", `{"delay":"soon"}`, "bad delay"},
		{"/faults", `{"success_errcode":"maybe"}`, "bad success_errcode"},
	} {
		st, m := post(tc.path, tc.body)
		if msg, _ := m["error"].(string); st != 400 || !strings.Contains(msg, tc.want) {
			t.Errorf("%s %s: %d %v, want 400 %q", tc.path, tc.body, st, m, tc.want)
		}
	}
	res, _ = http.Get(srv.URL + "/wechat-emulator/login")
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /login: %d", res.StatusCode)
	}
	_ = res.Body.Close()

	// Faults over HTTP.
	if st, _ := post("/faults", `{"api":"jscode2session","errcode":-1,"delay":"1ms","times":2}`); st != http.StatusNoContent {
		t.Fatalf("POST /faults: %d", st)
	}
	_, m = post("/login", `{"appid":"`+appA+`","user":"bob"}`)
	r := f.jscode(appA, secretA, m["code"].(string))
	wantErr(t, "HTTP-injected fault", r, -1)
	req, _ := http.NewRequest(http.MethodDelete, srv.URL+"/wechat-emulator/faults", nil)
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE /faults: %v", err)
	}
	if r := f.jscode(appA, secretA, m["code"].(string)); r.errcode() != 0 {
		t.Errorf("after DELETE /faults: %s", r.raw)
	}

	// The call log over HTTP.
	res, _ = http.Get(srv.URL + "/wechat-emulator/calls")
	var calls []map[string]any
	_ = json.NewDecoder(res.Body).Decode(&calls)
	_ = res.Body.Close()
	if len(calls) < 3 || calls[len(calls)-1]["api"] != "jscode2session" {
		t.Errorf("calls: %v", calls)
	}
	req, _ = http.NewRequest(http.MethodDelete, srv.URL+"/wechat-emulator/calls", nil)
	_, _ = http.DefaultClient.Do(req)
	if len(f.emu.Calls()) != 0 {
		t.Error("DELETE /calls did not reset")
	}
	res, _ = http.Get(srv.URL + "/wechat-emulator/nope")
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown path: %d", res.StatusCode)
	}
}

// TestCallLog: outcomes are recorded; nothing secret is.
func TestCallLog(t *testing.T) {
	f := newFixture(t, wechattest.Options{MaxCalls: 4})
	code := f.login(appA, "alice")
	f.jscode(appA, secretA, code)
	f.jscode(appA, secretA, code)
	f.emu.Inject(wechattest.Fault{API: wechattest.APIJSCode2Session, HTTPStatus: 500})
	f.jscode(appA, secretA, code)
	tok := f.token(t, appA, secretA)
	calls := f.emu.Calls()
	want := []struct {
		api     string
		outcome int
		faulted bool
	}{{"jscode2session", 0, false}, {"jscode2session", 40163, false}, {"jscode2session", -500, true}, {"stable_token", 0, false}}
	if len(calls) != len(want) {
		t.Fatalf("calls %+v", calls)
	}
	for i, w := range want {
		c := calls[i]
		if c.API != w.api || c.Outcome != w.outcome || c.Faulted != w.faulted || c.AppID != appA || !c.At.Equal(t0) {
			t.Errorf("call %d = %+v, want %+v", i, c, w)
		}
	}
	if calls[0].User != "alice" {
		t.Errorf("user not resolved: %+v", calls[0])
	}
	dump, _ := json.Marshal(calls)
	for _, s := range []string{code, secretA, tok, f.emu.CurrentSessionKey(appA, "alice")} {
		if bytes.Contains(dump, []byte(s)) {
			t.Errorf("call log contains a secret: %s", dump)
		}
	}
	// Bounded: the oldest half goes when full.
	f.jscode(appA, secretA, code)
	if n := len(f.emu.Calls()); n != 3 {
		t.Errorf("call log size %d, want 3 after trimming", n)
	}
	f.emu.ResetCalls()
	if len(f.emu.Calls()) != 0 {
		t.Error("ResetCalls")
	}
}

func TestGoHelperErrors(t *testing.T) {
	f := newFixture(t, wechattest.Options{})
	f.emu.RegisterApp(wechattest.App{AppID: "wxoa", Secret: "s", Kind: wechattest.KindOfficialAccount})
	if _, err := f.emu.Login("wxoa", "alice"); err == nil {
		t.Error("Login on an official account")
	}
	if _, err := f.emu.Login("wxnope", "alice"); err == nil {
		t.Error("Login on an unknown app")
	}
	if _, err := f.emu.Phone(appA, "alice", "+0123456789"); err == nil {
		t.Error("Phone accepted a bad number")
	}
	if _, _, err := f.emu.Encrypt(appA, "nobody", []byte("{}")); err == nil {
		t.Error("Encrypt without a session key")
	}
}

// TestConcurrentUse hammers every endpoint from many goroutines (run with -race).
func TestConcurrentUse(t *testing.T) {
	f := newFixture(t, wechattest.Options{MaxCalls: 100})
	tok := f.token(t, appA, secretA)
	done := make(chan error)
	for i := range 8 {
		go func() {
			user := "user" + string(rune('a'+i))
			for range 25 {
				code, err := f.emu.Login(appA, user)
				if err != nil {
					done <- err
					return
				}
				r := f.jscode(appA, secretA, code)
				g, err := f.emu.Phone(appA, user, "+8613800138000")
				if err != nil {
					done <- err
					return
				}
				p := f.phoneAPI(tok, `{"code":"`+g.Code+`"}`)
				if r.errcode() != 0 || p.errcode() != 0 {
					done <- fmt.Errorf("user %s: %s / %s", user, r.raw, p.raw)
					return
				}
				f.stableToken(appA, secretA, false)
				_ = f.emu.Calls()
			}
			done <- nil
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
