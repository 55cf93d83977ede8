package wechattest_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/wechat/wechattest"
)

func (f *fixture) wxacode(token, body string) resp {
	f.t.Helper()
	q := url.Values{}
	if token != "" {
		q.Set("access_token", token)
	}
	return f.do(http.MethodPost, "/wxa/getwxacodeunlimit", q, body)
}

// issue asks for a code of scene in app and fails the test unless it is a PNG.
func (f *fixture) issue(t *testing.T, token, scene string) {
	t.Helper()
	if r := f.wxacode(token, `{"scene":"`+scene+`"}`); r.status != 200 || r.ctype != "image/png" {
		t.Fatalf("getwxacodeunlimit %q: %d %s %.80q", scene, r.status, r.ctype, r.raw)
	}
}

func TestUnlimitedCodeAnswers(t *testing.T) {
	f := newFixture(t, wechattest.Options{})
	f.emu.RegisterApp(wechattest.App{AppID: appA, Secret: secretA, OpenPlatformID: "op1", Pages: []string{"pages/index/index", "pages/login/index"}})
	f.emu.RegisterApp(wechattest.App{AppID: appWeb, Secret: secretWeb, Kind: wechattest.KindWebsite})
	expired := f.token(t, appC, secretC)
	f.clock.Advance(2*time.Hour + time.Second)
	tokA := f.token(t, appA, secretA)
	tokB := f.token(t, appB, secretB)
	tokWeb := f.token(t, appWeb, secretWeb)

	ok := `{"scene":"abc"}`
	tests := []struct {
		name   string
		method string
		token  string
		body   string
		code   int    // 0: a PNG
		errmsg string // required errmsg prefix
	}{
		{"GET", http.MethodGet, tokA, ok, 43002, ""},
		{"no token", "", "", ok, 41001, ""},
		{"malformed token", "", "abc", ok, 40014, ""},
		{"unknown token", "", "EMU" + strings.Repeat("A", 128), ok, 40001, ""},
		{"expired token", "", expired, ok, 42001, ""},
		{"token of a website app", "", tokWeb, ok, 40013, ""},
		{"empty body", "", tokA, "", 44002, ""},
		{"blank body", "", tokA, "  \n", 44002, ""},
		{"malformed JSON", "", tokA, `{"scene":`, 47001, ""},
		{"width not a number", "", tokA, `{"scene":"abc","width":"430"}`, 47001, ""},
		{"too big", "", tokA, `{"scene":"abc","page":"` + strings.Repeat("p", 70<<10) + `"}`, 47001, ""},
		{"no scene", "", tokA, `{"page":"pages/index/index"}`, 40097, "invalid args, invalid scene"},
		{"scene with percent", "", tokA, `{"scene":"a%41"}`, 40097, "invalid args, invalid scene"},
		{"scene with space", "", tokA, `{"scene":"a b"}`, 40097, "invalid args, invalid scene"},
		{"scene non-ASCII", "", tokA, `{"scene":"票"}`, 40097, "invalid args, invalid scene"},
		{"scene of 33", "", tokA, `{"scene":"` + strings.Repeat("s", 33) + `"}`, 40097, "invalid args, invalid scene"},
		{"scene of 32", "", tokA, `{"scene":"` + strings.Repeat("s", 32) + `"}`, 0, ""},
		{"every allowed punctuation", "", tokA, `{"scene":"!#$&'()*+,/:;=?@-._~"}`, 0, ""},
		{"width 279", "", tokA, `{"scene":"abc","width":279}`, 40097, "invalid args, invalid width"},
		{"width 1281", "", tokA, `{"scene":"abc","width":1281}`, 40097, "invalid args, invalid width"},
		{"unknown env_version", "", tokA, `{"scene":"abc","env_version":"prod"}`, 40097, "invalid args, invalid env_version"},
		{"page not released", "", tokA, `{"scene":"abc","page":"pages/new/index"}`, 41030, "invalid page"},
		{"page not released, release named", "", tokA, `{"scene":"abc","page":"pages/new/index","env_version":"release","check_path":true}`, 41030, "invalid page"},
		{"page with leading slash", "", tokA, `{"scene":"abc","page":"/pages/login/index"}`, 41030, "invalid page"},
		{"page released", "", tokA, `{"scene":"abc","page":"pages/login/index"}`, 0, ""},
		{"home page", "", tokA, `{"scene":"abc","page":""}`, 0, ""},
		{"unreleased page without path check", "", tokA, `{"scene":"abc","page":"pages/new/index","check_path":false}`, 0, ""},
		{"unreleased page in trial", "", tokA, `{"scene":"abc","page":"pages/new/index","env_version":"trial"}`, 0, ""},
		{"unreleased page in develop", "", tokA, `{"scene":"abc","page":"pages/new/index","env_version":"develop"}`, 0, ""},
		{"any page without a page list", "", tokB, `{"scene":"abc","page":"pages/whatever/index"}`, 0, ""},
		{"colours accepted", "", tokB, `{"scene":"abc","auto_color":false,"line_color":{"r":0,"g":0,"b":0},"is_hyaline":true}`, 0, ""},
	}
	for _, tc := range tests {
		method := tc.method
		if method == "" {
			method = http.MethodPost
		}
		q := url.Values{}
		if tc.token != "" {
			q.Set("access_token", tc.token)
		}
		r := f.do(method, "/wxa/getwxacodeunlimit", q, tc.body)
		if tc.code != 0 {
			wantErr(t, tc.name, r, tc.code)
			if !strings.HasPrefix(r.str("errmsg"), tc.errmsg) {
				t.Errorf("%s: errmsg %q, want prefix %q", tc.name, r.str("errmsg"), tc.errmsg)
			}
			continue
		}
		if r.status != 200 || r.ctype != "image/png" {
			t.Errorf("%s: %d %s %.100q", tc.name, r.status, r.ctype, r.raw)
			continue
		}
		if _, err := png.Decode(strings.NewReader(r.raw)); err != nil {
			t.Errorf("%s: not a PNG: %v", tc.name, err)
		}
	}
}

// The PNG is the standard QR code of ScanURL at the requested width.
func TestUnlimitedCodeImage(t *testing.T) {
	f := newFixture(t, wechattest.Options{})
	tok := f.token(t, appA, secretA)
	scene := "t/k=1&x"
	for _, tc := range []struct {
		body  string
		width int
	}{
		{`{"scene":"t/k=1&x"}`, 430},
		{`{"scene":"t/k=1&x","width":0}`, 430},
		{`{"scene":"t/k=1&x","width":280}`, 280},
		{`{"scene":"t/k=1&x","width":1280}`, 1280},
	} {
		r := f.wxacode(tok, tc.body)
		img, err := png.Decode(strings.NewReader(r.raw))
		if err != nil {
			t.Fatalf("%s: %v", tc.body, err)
		}
		if b := img.Bounds(); b.Dx() != tc.width || b.Dy() != tc.width {
			t.Errorf("%s: image %v, want %dx%d", tc.body, b, tc.width, tc.width)
		}
		want, err := wechattest.CodePNG(wechattest.ScanURL(appA, scene), tc.width)
		if err != nil {
			t.Fatal(err)
		}
		if r.raw != string(want) {
			t.Errorf("%s: not the QR code of %s", tc.body, wechattest.ScanURL(appA, scene))
		}
	}
	if got, want := wechattest.ScanURL(appA, scene), "wxemu://scan?appid="+appA+"&scene=t%2Fk%3D1%26x"; got != want {
		t.Errorf("ScanURL = %q, want %q", got, want)
	}
	c, ok := f.emu.IssuedCode(scene)
	if !ok || c.AppID != appA || c.Width != 1280 || c.EnvVersion != wechattest.EnvRelease || c.Page != "" || !c.IssuedAt.Equal(t0) {
		t.Errorf("IssuedCode = %+v, %v", c, ok)
	}
	calls := f.emu.CallsTo(wechattest.APIUnlimitedCode)
	if len(calls) != 4 || calls[3].AppID != appA || calls[3].Outcome != 0 || calls[3].Faulted {
		t.Errorf("call log: %+v", calls)
	}
}

func TestScan(t *testing.T) {
	f := newFixture(t, wechattest.Options{})
	f.issue(t, f.token(t, appA, secretA), "ticket-1")
	f.clock.Advance(time.Minute)
	appID, code, err := f.emu.Scan("ticket-1", "alice")
	if err != nil || appID != appA {
		t.Fatalf("Scan: %q, %v", appID, err)
	}
	r := f.jscode(appA, secretA, code)
	if r.errcode() != 0 || r.str("openid") != f.emu.OpenID(appA, "alice") || r.str("unionid") != f.emu.UnionID(appA, "alice") {
		t.Fatalf("jscode2session of a scan code: %s", r.raw)
	}
	// The same person as a wx.login outside the scan.
	if l := f.jscode(appA, secretA, f.login(appA, "alice")); l.str("openid") != r.str("openid") || l.str("unionid") != r.str("unionid") {
		t.Errorf("login openid %s, scan openid %s", l.str("openid"), r.str("openid"))
	}
	wantErr(t, "scan code reused", f.jscode(appA, secretA, code), 40163)
	if r := f.jscode(appB, secretB, code); r.errcode() != 40029 {
		t.Errorf("scan code accepted by another app: %s", r.raw)
	}
	// A scan code lives 5 minutes, like wx.login's.
	_, late, err := f.emu.Scan("ticket-1", "bob")
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(5 * time.Minute)
	wantErr(t, "expired scan code", f.jscode(appA, secretA, late), 40029)

	scans := f.emu.Scans()
	if len(scans) != 2 || scans[0] != (wechattest.ScanEvent{Scene: "ticket-1", AppID: appA, User: "alice", At: t0.Add(time.Minute)}) || scans[1].User != "bob" {
		t.Errorf("Scans = %+v", scans)
	}

	for _, tc := range []struct {
		name, scene, user string
		want              error
	}{
		{"unknown scene", "ticket-2", "alice", wechattest.ErrUnknownScene},
		{"empty scene", "", "alice", wechattest.ErrUnknownScene},
		{"empty user", "ticket-1", "", wechattest.ErrInvalidUser},
		{"control character in user", "ticket-1", "a\nb", wechattest.ErrInvalidUser},
	} {
		if _, _, err := f.emu.Scan(tc.scene, tc.user); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// The app stopped being a mini-program since the code was issued.
	f.emu.RegisterApp(wechattest.App{AppID: appA, Secret: secretA, Kind: wechattest.KindWebsite})
	if _, _, err := f.emu.Scan("ticket-1", "alice"); !errors.Is(err, wechattest.ErrNotMiniProgram) {
		t.Errorf("scan of a website app's code: %v", err)
	}
	if n := len(f.emu.Scans()); n != 2 {
		t.Errorf("failed scans were logged: %d", n)
	}
}

func TestScanHelperEndpoint(t *testing.T) {
	f := newFixture(t, wechattest.Options{})
	f.issue(t, f.token(t, appB, secretB), "ticket-9")
	post := func(method, body string) (int, string, map[string]string) {
		req, err := http.NewRequest(method, f.srv.URL+"/scan", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = res.Body.Close() }()
		var m map[string]string
		_ = json.NewDecoder(res.Body).Decode(&m)
		return res.StatusCode, res.Header.Get("Content-Type"), m
	}
	st, ct, m := post(http.MethodPost, `{"scene":"ticket-9","user":"carol"}`)
	if st != 200 || ct != "application/json" || m["appid"] != appB || m["scene"] != "ticket-9" || len(m["code"]) != 32 {
		t.Fatalf("POST /scan: %d %s %v", st, ct, m)
	}
	if r := f.jscode(appB, secretB, m["code"]); r.str("openid") != f.emu.OpenID(appB, "carol") {
		t.Errorf("exchange: %s", r.raw)
	}
	// Without a scene: the code issued last (ticket-9 here).
	if st, _, m := post(http.MethodPost, `{"user":"dan"}`); st != 200 || m["scene"] != "ticket-9" || m["appid"] != appB {
		t.Fatalf("POST /scan without a scene: %d %v", st, m)
	} else if r := f.jscode(appB, secretB, m["code"]); r.str("openid") != f.emu.OpenID(appB, "dan") {
		t.Errorf("exchange of the latest scan: %s", r.raw)
	}
	for _, tc := range []struct {
		method, body string
		status       int
		want         string
	}{
		{http.MethodPost, `{"scene":"ticket-0","user":"carol"}`, 404, "unknown scene"},
		{http.MethodPost, `{"scene":"ticket-9"}`, 400, "user is required"},
		{http.MethodPost, `{"scene":"ticket-9","user":"` + strings.Repeat("u", 129) + `"}`, 400, "invalid user"},
		{http.MethodPost, `not json`, 400, "bad JSON"},
		{http.MethodGet, ``, 405, "use POST"},
	} {
		st, ct, m := post(tc.method, tc.body)
		if st != tc.status || ct != "application/json" || !strings.Contains(m["error"], tc.want) {
			t.Errorf("%s %s: %d %s %v, want %d %q", tc.method, tc.body, st, ct, m, tc.status, tc.want)
		}
	}
}

// Only the last MaxScenes codes are remembered; issuing a scene again makes
// it the newest. The scan log is bounded too.
func TestIssuedCodesBound(t *testing.T) {
	f := newFixture(t, wechattest.Options{MaxScenes: 3})
	tok := f.token(t, appA, secretA)
	for i := 1; i <= 5; i++ {
		f.issue(t, tok, fmt.Sprintf("s%d", i))
	}
	if n := f.emu.IssuedCodes(); n != 3 {
		t.Errorf("%d codes remembered, want 3", n)
	}
	remembered := func(want map[string]bool) {
		t.Helper()
		// In scene order: the scan log's order is checked below.
		for _, scene := range slices.Sorted(maps.Keys(want)) {
			w := want[scene]
			if _, ok := f.emu.IssuedCode(scene); ok != w {
				t.Errorf("IssuedCode(%s) found = %v, want %v", scene, ok, w)
			}
			if _, _, err := f.emu.Scan(scene, "u"); (err == nil) != w {
				t.Errorf("Scan(%s): %v", scene, err)
			}
		}
	}
	remembered(map[string]bool{"s1": false, "s2": false, "s3": true, "s4": true, "s5": true})
	f.issue(t, tok, "s3")
	f.issue(t, tok, "s6")
	remembered(map[string]bool{"s3": true, "s4": false, "s5": true, "s6": true})
	if n := f.emu.IssuedCodes(); n != 3 {
		t.Errorf("%d codes remembered, want 3", n)
	}
	// Another app issuing the same scene takes it over.
	f.issue(t, f.token(t, appB, secretB), "s5")
	if c, _ := f.emu.IssuedCode("s5"); c.AppID != appB {
		t.Errorf("s5 belongs to %s, want %s", c.AppID, appB)
	}
	if scans := f.emu.Scans(); len(scans) > 3 || scans[len(scans)-1].Scene != "s6" {
		t.Errorf("scan log: %+v", scans)
	}
}

func TestUnlimitedCodeFaults(t *testing.T) {
	f := newFixture(t, wechattest.Options{})
	tok := f.token(t, appA, secretA)
	// A JSON error served as image/jpeg, as WeChat does.
	f.emu.Inject(wechattest.Fault{API: wechattest.APIUnlimitedCode, AppID: appA, ErrCode: 45009, ContentType: "image/jpeg"})
	r := f.wxacode(tok, `{"scene":"f1"}`)
	if r.status != 200 || r.ctype != "image/jpeg" || r.errcode() != 45009 || !strings.HasPrefix(r.str("errmsg"), "reach max api daily quota limit, rid: ") {
		t.Errorf("fault: %d %s %s", r.status, r.ctype, r.raw)
	}
	if _, ok := f.emu.IssuedCode("f1"); ok {
		t.Error("a failed request recorded its scene")
	}
	calls := f.emu.CallsTo(wechattest.APIUnlimitedCode)
	if len(calls) != 1 || !calls[0].Faulted || calls[0].Outcome != 45009 || calls[0].AppID != appA {
		t.Errorf("call log: %+v", calls)
	}
	// A modifier fault changes a success's Content-Type, not its bytes.
	f.emu.Inject(wechattest.Fault{API: wechattest.APIUnlimitedCode, ContentType: "image/jpeg"})
	if r := f.wxacode(tok, `{"scene":"f2"}`); r.ctype != "image/jpeg" || !strings.HasPrefix(r.raw, "\x89PNG\r\n\x1a\n") {
		t.Errorf("modifier fault: %s %.20q", r.ctype, r.raw)
	}
	// Over HTTP, by endpoint key.
	res, err := http.Post(f.srv.URL+"/faults", "application/json", strings.NewReader(`{"api":"wxa_getwxacodeunlimit","errcode":41030,"content_type":"image/jpeg"}`))
	if err != nil || res.StatusCode != http.StatusNoContent {
		t.Fatalf("POST /faults: %v %v", res, err)
	}
	_ = res.Body.Close()
	if r := f.wxacode(tok, `{"scene":"f3"}`); r.ctype != "image/jpeg" || r.errcode() != 41030 {
		t.Errorf("HTTP fault: %s %s", r.ctype, r.raw)
	}
	// A raw body with an image type (e.g. a truncated image).
	f.emu.Inject(wechattest.Fault{API: wechattest.APIUnlimitedCode, RawBody: true, Body: "\x89PNG", ContentType: "image/png"})
	if r := f.wxacode(tok, `{"scene":"f4"}`); r.ctype != "image/png" || r.raw != "\x89PNG" {
		t.Errorf("raw fault: %s %q", r.ctype, r.raw)
	}
	if r := f.wxacode(tok, `{"scene":"f5"}`); r.ctype != "image/png" || r.status != 200 {
		t.Errorf("after the faults: %s %.40q", r.ctype, r.raw)
	}
}
