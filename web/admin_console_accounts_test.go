package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/admin"
	"github.com/wxoidc/wxoidc/admin/admintest"
	"github.com/wxoidc/wxoidc/provider"
	"github.com/wxoidc/wxoidc/storage"
)

// consolePhone is the verified phone of the fixture's account, and
// consolePhoneDigits the same number as people type it; neither may ever
// appear in an address or the server log.
const (
	consolePhone       = "+8613800138000"
	consolePhoneTyped  = "+86 138-0013-8000"
	consolePhoneDigits = "13800138000"
)

// seedConsoleAccount creates client "web" and account sub with a WeChat
// identity (openid), a verified phone (consolePhone, unless phone is
// empty), a browser login session signed in to "web" and its consent.
func (f *consoleFixture) seedConsoleAccount(sub, openid, phone string) {
	f.t.Helper()
	ctx := admin.WithActor(f.t.Context(), admin.ActorCLI)
	if _, err := f.env.Service.GetClient(ctx, "web"); err != nil {
		id, apps := "web", []string{admintest.AppID}
		if _, err := f.env.Service.CreateClient(ctx, admin.ClientSpec{
			ID: &id, GrantTypes: &[]string{"authorization_code"}, Scopes: &[]string{"openid", "profile"},
			RedirectURIs: &[]string{"https://app.example/cb"}, WeChatApps: &apps,
		}); err != nil {
			f.t.Fatal(err)
		}
	}
	now := f.clock.Now().Add(-time.Hour)
	f.env.Account(f.t, sub, openid, now)
	if phone != "" {
		hash := provider.PhoneHashFunc(f.env.Config.PhoneIndexKey)(phone)
		if err := f.env.Store.SetAccountPhone(ctx, sub, storage.AccountPhone{
			Encrypted: []byte("sealed phone"), Hash: hash, Source: "phone_code", VerifiedAt: now,
		}); err != nil {
			f.t.Fatal(err)
		}
	}
	f.env.SignIn(f.t, sub, "login-"+sub, now, []string{"openid", "profile"}, "web")
}

// noPhone fails when the phone number shows up in an answer's address or
// in the server log.
func (f *consoleFixture) noPhone(t *testing.T, where string, a consoleAnswer) {
	t.Helper()
	for _, p := range []string{consolePhoneDigits, "138-0013", url.QueryEscape(consolePhoneTyped)} {
		if strings.Contains(a.location, p) {
			t.Errorf("%s: the phone is in the Location %q", where, a.location)
		}
		if strings.Contains(f.logs.String(), p) {
			t.Errorf("%s: the phone is in the server log", where)
		}
	}
}

func TestConsoleAccountLookup(t *testing.T) {
	f := newConsoleFixture(t)
	f.seedConsoleAccount("sub-1", "o-1", consolePhone)
	c := f.client()
	csrf := f.signIn(c, strings.TrimPrefix(opsAuth, "Bearer "))
	en := map[string]string{"Accept-Language": "en"}

	page := f.do(c, "GET", "/admin/ui/accounts", nil, en)
	if page.status != http.StatusOK || !strings.Contains(page.body, `<option value="`+admintest.AppID+`" selected>`) {
		t.Fatalf("lookup page: %d %s", page.status, page.body)
	}

	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
		words  string // in the page, or the end of the redirect
		keeps  string // what was typed, shown again
	}{
		{"by sub", url.Values{"by": {"sub"}, "sub": {"sub-1"}}, http.StatusSeeOther, "/admin/ui/accounts/sub-1", ""},
		{"by openid", url.Values{"by": {"openid"}, "openid": {"o-1"}, "appid": {admintest.AppID}}, http.StatusSeeOther, "/admin/ui/accounts/sub-1", ""},
		{"by phone", url.Values{"by": {"phone"}, "phone": {consolePhone}}, http.StatusSeeOther, "/admin/ui/accounts/sub-1", ""},
		{"by phone as typed", url.Values{"by": {"phone"}, "phone": {consolePhoneTyped}}, http.StatusSeeOther, "/admin/ui/accounts/sub-1", ""},
		{"unknown sub", url.Values{"by": {"sub"}, "sub": {"nobody"}}, http.StatusNotFound, "No account has the sub nobody.", `value="nobody"`},
		{"empty sub", url.Values{"by": {"sub"}, "sub": {" "}}, http.StatusBadRequest, "Type the account&#39;s sub.", ""},
		{"unknown openid", url.Values{"by": {"openid"}, "openid": {"o-x"}, "appid": {admintest.AppID}}, http.StatusNotFound, "No account has openid o-x", `value="o-x"`},
		{"openid without appid", url.Values{"by": {"openid"}, "openid": {"o-1"}}, http.StatusBadRequest, "Choose the WeChat app", `value="o-1"`},
		{"openid of an unknown app", url.Values{"by": {"openid"}, "openid": {"o-1"}, "appid": {"wx-other"}}, http.StatusBadRequest, "wx-other is not a WeChat app configured", `value="o-1"`},
		{"malformed phone", url.Values{"by": {"phone"}, "phone": {"138 0013 8000"}}, http.StatusBadRequest, "not a phone number in E.164 form", `value="138 0013 8000"`},
		{"phone with letters", url.Values{"by": {"phone"}, "phone": {"+86 138x"}}, http.StatusBadRequest, "not a phone number in E.164 form", `value="&#43;86 138x"`},
		{"unknown phone", url.Values{"by": {"phone"}, "phone": {"+8613900139000"}}, http.StatusNotFound, "No account has that phone number verified.", `value="&#43;8613900139000"`},
		{"empty phone", url.Values{"by": {"phone"}}, http.StatusBadRequest, "Type the phone number.", ""},
		{"no method", url.Values{"sub": {"sub-1"}}, http.StatusBadRequest, "Choose how to look the account up.", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.form.Set("csrf", csrf)
			a := f.do(c, "POST", "/admin/ui/accounts/search", tc.form, en)
			if a.status != tc.status {
				t.Fatalf("%d, want %d: %s", a.status, tc.status, a.body)
			}
			if tc.status == http.StatusSeeOther {
				if a.location != tc.words {
					t.Errorf("redirect to %q, want %q", a.location, tc.words)
				}
			} else if !strings.Contains(a.body, tc.words) || !strings.Contains(a.body, tc.keeps) {
				t.Errorf("the page lacks %q or %q: %s", tc.words, tc.keeps, a.body)
			}
			f.noPhone(t, tc.name, a)
		})
	}

	// The account page: identities, the app's kind, sessions and consents;
	// the phone is said to be verified, never shown.
	acc := f.do(c, "GET", "/admin/ui/accounts/sub-1", nil, en)
	if acc.status != http.StatusOK {
		t.Fatalf("account page: %d %s", acc.status, acc.body)
	}
	for _, want := range []string{"<code>o-1</code>", "mini-program", "login-sub-1", "<code>web</code>", "openid profile", "verified", "getPhoneNumber", "never shown"} {
		if !strings.Contains(acc.body, want) {
			t.Errorf("account page lacks %q", want)
		}
	}
	if strings.Contains(acc.body, consolePhoneDigits) {
		t.Error("the account page shows the phone number")
	}
	if a := f.do(c, "GET", "/admin/ui/accounts/nobody", nil, en); a.status != http.StatusNotFound || !strings.Contains(a.body, "No account has the sub nobody.") {
		t.Errorf("unknown account page: %d", a.status)
	}

	// A recycled number on two accounts: both listed, neither opened.
	f.seedConsoleAccount("sub-2", "o-2", consolePhone)
	two := f.do(c, "POST", "/admin/ui/accounts/search", url.Values{"csrf": {csrf}, "by": {"phone"}, "phone": {consolePhone}}, en)
	if two.status != http.StatusOK || !strings.Contains(two.body, "2 accounts have this phone number") ||
		!strings.Contains(two.body, "/admin/ui/accounts/sub-1") || !strings.Contains(two.body, "/admin/ui/accounts/sub-2") {
		t.Errorf("two accounts: %d %s", two.status, two.body)
	}
	f.noPhone(t, "two accounts", two)

	// In Chinese, the same mistakes in Chinese.
	zh := f.do(c, "POST", "/admin/ui/accounts/search", url.Values{"csrf": {csrf}, "by": {"phone"}, "phone": {"12345"}}, map[string]string{"Accept-Language": "zh-CN"})
	if zh.status != http.StatusBadRequest || !strings.Contains(zh.body, "手机号格式不正确") {
		t.Errorf("zh-CN: %d %s", zh.status, zh.body)
	}
}

// Each action asks for the sub first; a wrong one changes nothing, the
// right one does what the page said and is audited as the console's.
func TestConsoleAccountActions(t *testing.T) {
	f := newConsoleFixture(t)
	f.seedConsoleAccount("sub-1", "o-1", consolePhone)
	c := f.client()
	csrf := f.signIn(c, strings.TrimPrefix(opsAuth, "Bearer "))
	en := map[string]string{"Accept-Language": "en"}
	account := func() admin.AccountView {
		t.Helper()
		a, err := f.env.Service.FindAccount(t.Context(), admin.AccountQuery{Sub: "sub-1"})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}

	form := f.do(c, "GET", "/admin/ui/accounts/sub-1/disable", nil, en)
	if form.status != http.StatusOK || !strings.Contains(form.body, "Its browser login sessions (1 now) end at once") || !strings.Contains(form.body, "Type sub-1 to confirm") {
		t.Fatalf("disable form: %d %s", form.status, form.body)
	}
	for _, tc := range []struct {
		name, path string
		form       url.Values
	}{
		{"disable, nothing typed", "/admin/ui/accounts/sub-1/disable", url.Values{}},
		{"disable, wrong sub", "/admin/ui/accounts/sub-1/disable", url.Values{"confirm": {"sub-2"}}},
		{"revoke tokens, wrong sub", "/admin/ui/accounts/sub-1/revoke-tokens", url.Values{"confirm": {"sub"}}},
		{"end sessions, wrong sub", "/admin/ui/accounts/sub-1/end-sessions", url.Values{"confirm": {"SUB-1"}}},
		{"revoke consent, wrong sub", "/admin/ui/accounts/sub-1/revoke-consent", url.Values{"confirm": {"x"}, "client_id": {"web"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.form.Set("csrf", csrf)
			a := f.do(c, "POST", tc.path, tc.form, en)
			if a.status != http.StatusSeeOther || !strings.HasPrefix(a.location, tc.path) {
				t.Fatalf("%d %q", a.status, a.location)
			}
			back := f.do(c, "GET", a.location, nil, en)
			if !strings.Contains(back.body, "does not match; nothing was changed") {
				t.Errorf("no mismatch message: %s", back.body)
			}
			if acc := account(); acc.Disabled || len(acc.LoginSessions) != 1 || len(acc.Consents) != 1 {
				t.Errorf("a wrong confirmation changed the account: %+v", acc)
			}
		})
	}
	if _, ok := findAudit(t, f.env.Service, "accounts.disable"); ok {
		t.Error("a refused disable was audited")
	}
	if a := f.do(c, "GET", "/admin/ui/accounts/sub-1/explode", nil, en); a.status != http.StatusNotFound {
		t.Errorf("unknown action: %d", a.status)
	}
	if a := f.do(c, "GET", "/admin/ui/accounts/sub-1/revoke-consent?client_id=other", nil, en); a.status != http.StatusSeeOther {
		t.Errorf("revoke a consent that is not there: %d", a.status)
	}

	step := func(path string, form url.Values, words string) {
		t.Helper()
		form.Set("csrf", csrf)
		a := f.do(c, "POST", path, form, en)
		if a.status != http.StatusSeeOther || a.location != "/admin/ui/accounts/sub-1" {
			t.Fatalf("%s: %d %q %s", path, a.status, a.location, a.body)
		}
		if page := f.do(c, "GET", a.location, nil, en); !strings.Contains(page.body, words) {
			t.Errorf("%s: the page lacks %q", path, words)
		}
	}
	step("/admin/ui/accounts/sub-1/revoke-consent", url.Values{"confirm": {"sub-1"}, "client_id": {"web"}}, "The consent of sub-1 for client web is revoked.")
	step("/admin/ui/accounts/sub-1/revoke-tokens", url.Values{"confirm": {"sub-1"}}, "Tokens of account sub-1 revoked: 0.")
	step("/admin/ui/accounts/sub-1/disable", url.Values{"confirm": {" sub-1 "}}, "Account sub-1 is disabled. Tokens revoked: 0; login sessions ended: 1.")
	if acc := account(); !acc.Disabled || len(acc.LoginSessions) != 0 || len(acc.Consents) != 0 {
		t.Errorf("after the actions: %+v", acc)
	}
	step("/admin/ui/accounts/sub-1/enable", url.Values{}, "Account sub-1 is enabled")
	step("/admin/ui/accounts/sub-1/end-sessions", url.Values{"confirm": {"sub-1"}}, "Login sessions of account sub-1 ended: 0.")
	if acc := account(); acc.Disabled {
		t.Error("still disabled")
	}
	for _, action := range []string{"accounts.revoke_consent", "accounts.revoke_tokens", "accounts.disable", "accounts.enable", "accounts.end_sessions"} {
		if ev, ok := findAudit(t, f.env.Service, action); !ok || ev.Actor != "admin-console:ops" || ev.Target != "sub-1" {
			t.Errorf("audit %s: %+v %v", action, ev, ok)
		}
	}
	// An action on an account that is not there says so.
	a := f.do(c, "POST", "/admin/ui/accounts/nobody/revoke-tokens", url.Values{"csrf": {csrf}, "confirm": {"nobody"}}, en)
	if a.status != http.StatusSeeOther {
		t.Fatalf("unknown account: %d", a.status)
	}
	if page := f.do(c, "GET", a.location, nil, en); !strings.Contains(page.body, "no account with that sub") {
		t.Errorf("unknown account: %s", page.body)
	}
}
