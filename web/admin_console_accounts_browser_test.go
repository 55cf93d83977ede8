package web

import (
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// The accounts path in a browser: sign in with a token, look an account up
// by its phone number (which never shows in an address), read its
// identities, sessions and consents, disable it and revoke its tokens after
// typing its sub, then find both actions in the audit log filtered by the
// console's actor. Screenshots in English and Chinese.
func TestConsoleAccountsInBrowser(t *testing.T) {
	f := newConsoleFixture(t)
	f.seedConsoleAccount("sub-1", "o-1", consolePhone)
	b := f.browser()
	b.open("/admin/ui/lang?to=en&next=/admin/ui/accounts")
	b.signIn(strings.TrimPrefix(opsAuth, "Bearer "))
	b.open("/admin/ui/accounts")
	if got := b.text(`h1`); got != "Accounts" {
		t.Fatalf("title: %q", got)
	}
	b.shot("lookup-en")

	// A mistake is said in words, beside what was typed.
	b.do(chromedp.SendKeys(`#phone`, "138 0013 8000"))
	b.click(`#find-phone`)
	if got := b.text(`#lookup-phone .form-error`); !strings.Contains(got, "E.164") {
		t.Errorf("malformed phone: %q", got)
	}
	if v := eval[string](b, `document.querySelector('#phone').value`); v != "138 0013 8000" {
		t.Errorf("the typed phone is not kept: %q", v)
	}
	b.shot("lookup-error-en")

	_ = eval[string](b, `document.querySelector('#phone').value = ""`)
	b.do(chromedp.SendKeys(`#phone`, consolePhoneTyped))
	b.click(`#find-phone`)
	if loc := eval[string](b, `location.href`); !strings.HasSuffix(loc, "/admin/ui/accounts/sub-1") {
		t.Fatalf("after the lookup: %s", loc)
	}
	for sel, want := range map[string]string{
		`#identities`: "o-1", `#sessions`: "web", `#consents`: "openid profile", `#phone`: "verified", `#state`: "active",
	} {
		if got := b.text(sel); !strings.Contains(got, want) {
			t.Errorf("%s: %q lacks %q", sel, got, want)
		}
	}
	if body := eval[string](b, `document.body.innerText`); strings.Contains(body, consolePhoneDigits) {
		t.Error("the account page shows the phone number")
	}
	if n := eval[int](b, `history.length`); n < 1 {
		t.Error("no history")
	}
	b.shot("account-en")

	// Disable: the consequences first, then the sub typed.
	b.click(`#disable`)
	if got := b.text(`#consequences`); !strings.Contains(got, "login sessions (1 now) end") {
		t.Errorf("disable consequences: %q", got)
	}
	b.shot("disable-confirm-en")
	b.do(chromedp.SendKeys(`#confirm`, "sub-1"))
	b.click(`button.danger`)
	if got := b.flash(); !strings.Contains(got, "is disabled") {
		t.Errorf("disable: %q", got)
	}
	if got := b.text(`#state`); got != "disabled" {
		t.Errorf("state after disabling: %q", got)
	}
	b.click(`#revoke-tokens`)
	b.do(chromedp.SendKeys(`#confirm`, "sub-1"))
	b.click(`button.danger`)
	if got := b.flash(); !strings.Contains(got, "Tokens of account sub-1 revoked") {
		t.Errorf("revoke tokens: %q", got)
	}
	b.shot("account-disabled-en")

	// The audit log, filtered by the console's actor.
	b.open("/admin/ui/audit")
	b.do(chromedp.SendKeys(`#actor`, "admin-console:ops"))
	b.click(`#audit-apply`)
	actions := eval[[]string](b, `[...document.querySelectorAll('#audit-table tbody tr')].map(r => r.dataset.action)`)
	for _, want := range []string{"accounts.disable", "accounts.revoke_tokens", "console.sign_in"} {
		if !slices.Contains(actions, want) {
			t.Errorf("audit for admin-console:ops lacks %s: %v", want, actions)
		}
	}
	if actors := eval[[]string](b, `[...document.querySelectorAll('#audit-table tbody tr')].map(r => r.dataset.actor)`); slices.ContainsFunc(actors, func(a string) bool { return a != "admin-console:ops" }) {
		t.Errorf("other actors listed: %v", actors)
	}
	if loc := eval[string](b, `location.search`); !strings.Contains(loc, "actor=admin-console%3Aops") {
		t.Errorf("filter not in the address: %s", loc)
	}
	b.shot("audit-en")

	// Chinese.
	b.open("/admin/ui/lang?to=zh-CN&next=/admin/ui/accounts")
	if got := b.text(`h1`); got != "账号" {
		t.Errorf("zh-CN title: %q", got)
	}
	b.do(chromedp.SendKeys(`#phone`, "12345"))
	b.click(`#find-phone`)
	if got := b.text(`#lookup-phone .form-error`); !strings.Contains(got, "手机号格式不正确") {
		t.Errorf("zh-CN malformed phone: %q", got)
	}
	b.shot("lookup-zh")
	b.open("/admin/ui/accounts/sub-1")
	b.shot("account-zh")
	b.open("/admin/ui/audit?actor=admin-console:*&since=2000-01-01T00:00")
	b.shot("audit-zh")
	b.open("/admin/ui/audit?since=yesterday")
	if got := b.text(`.form-error`); !strings.Contains(got, "起始时间") {
		t.Errorf("zh-CN bad date: %q", got)
	}
}
