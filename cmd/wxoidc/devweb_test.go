package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/wxoidc/wxoidc/config"
	"github.com/wxoidc/wxoidc/wechat"
)

// TestDevWebApps: dev mode configures and registers the website app, the
// official account and the mobile app of docs/contract.md §5 next to the
// mini-program, all on one open platform (alice has one unionid everywhere),
// and points the browser pages at the emulator.
func TestDevWebApps(t *testing.T) {
	cfg, err := devConfig(t.TempDir(), "127.0.0.1:8080", "127.0.0.1:8081", nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := "http://127.0.0.1:8080" + devEmulatorPrefix; cfg.WeChat.BrowserBaseURL != want {
		t.Errorf("browser base URL %q, want %q", cfg.WeChat.BrowserBaseURL, want)
	}
	kinds := map[string]string{}
	for _, a := range cfg.WeChat.Apps {
		kinds[a.AppID] = a.Kind
		if a.OpenPlatform != devOpenPlatform {
			t.Errorf("%s: open platform %q", a.AppID, a.OpenPlatform)
		}
	}
	want := map[string]string{
		devAppID: config.WeChatKindMiniProgram, devWebsiteAppID: config.WeChatKindWebsite,
		devOfficialAppID: config.WeChatKindOfficialAccount, devMobileAppID: config.WeChatKindMobileApp,
	}
	if len(kinds) != len(want) {
		t.Errorf("apps %v, want %v", kinds, want)
	}
	for id, k := range want {
		if kinds[id] != k {
			t.Errorf("%s: kind %q, want %q", id, kinds[id], k)
		}
	}

	emu, err := newDevEmulator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(devEmulatorPrefix+"/", http.StripPrefix(devEmulatorPrefix, emu.Handler()))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	base := srv.URL + devEmulatorPrefix
	unionID := emu.UnionID(devAppID, "alice")
	if unionID == "" {
		t.Fatal("the mini-program is not bound to an open platform")
	}
	exchange := func(appID, secret, code string) map[string]any {
		t.Helper()
		res, err := http.Get(base + "/sns/oauth2/access_token?" + url.Values{"appid": {appID}, "secret": {secret}, "code": {code}, "grant_type": {"authorization_code"}}.Encode())
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		m := map[string]any{}
		_ = json.NewDecoder(res.Body).Decode(&m)
		return m
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range []struct {
		appID, secret, page string
	}{
		{devWebsiteAppID, devWebsiteSecret, "qrconnect"},
		{devOfficialAppID, devOfficialSecret, "authorize"},
	} {
		var u string
		if tc.page == "qrconnect" {
			u, err = wechat.QRConnectURL(base, tc.appID, "http://127.0.0.1:8090/callback", "st4te", "")
		} else {
			u, err = wechat.OAuthAuthorizeURL(base, tc.appID, "http://127.0.0.1:8090/callback", wechat.ScopeSNSAPIUserInfo, "st4te")
		}
		if err != nil {
			t.Fatal(err)
		}
		// The shortcut goes before the fragment, as a script would add it.
		pu, _ := url.Parse(u)
		pu.Fragment = ""
		pu.RawQuery += "&user=alice"
		res, err := noRedirect.Get(pu.String())
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		loc, _ := url.Parse(res.Header.Get("Location"))
		if res.StatusCode != http.StatusFound || loc.Query().Get("state") != "st4te" {
			t.Fatalf("%s page: %d %s", tc.page, res.StatusCode, loc)
		}
		if m := exchange(tc.appID, tc.secret, loc.Query().Get("code")); m["unionid"] != unionID {
			t.Errorf("%s: unionid %v, want the mini-program's %s (%v)", tc.appID, m["unionid"], unionID, m)
		}
	}
	res, err := http.Post(base+"/app-login", "application/json", strings.NewReader(`{"appid":"`+devMobileAppID+`","user":"alice"}`))
	if err != nil {
		t.Fatal(err)
	}
	var login struct{ Code string }
	_ = json.NewDecoder(res.Body).Decode(&login)
	res.Body.Close()
	if m := exchange(devMobileAppID, devMobileAppSecret, login.Code); m["unionid"] != unionID {
		t.Errorf("mobile app: unionid %v, want %s (%v)", m["unionid"], unionID, m)
	}

	// A config file without them gets them too (the demo clients use them).
	path, _ := writeDevFile(t, "http://127.0.0.1:18080", "127.0.0.1:18080", "127.0.0.1:18081")
	fc, err := devFileConfig(path, nil, false, "", false, "")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, a := range fc.WeChat.Apps {
		got[a.AppID] = true
	}
	for id := range want {
		if !got[id] {
			t.Errorf("file config lacks dev app %s", id)
		}
	}
	if !got[fileAppID] || fc.WeChat.BrowserBaseURL != "http://127.0.0.1:18080"+devEmulatorPrefix {
		t.Errorf("file config: apps %v, browser base %q", got, fc.WeChat.BrowserBaseURL)
	}
}

// The browser section's web-rp command: plain `go run ./examples/web-rp`
// on the default issuer (web-rp's default), with -issuer on any other.
func TestWalkthroughWebRPCommand(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:8080": "\n  go run ./examples/web-rp\n",
		"127.0.0.1:9080": "\n  go run ./examples/web-rp -issuer http://127.0.0.1:9080\n",
	} {
		cfg, err := devConfig(t.TempDir(), addr, "127.0.0.1:8081", nil)
		if err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		if err := printWalkthrough(&out, cfg, walkthroughData{Dir: "DIR", AdminToken: devAdminToken}); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), want) {
			t.Errorf("%s: the walkthrough lacks %q:\n%s", addr, want, out.String())
		}
		if !strings.Contains(out.String(), "http://"+addr+"/oauth2/authorize?client_id="+devWeb) {
			t.Errorf("%s: no authorization request of %s", addr, devWeb)
		}
	}
}
