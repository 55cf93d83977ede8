package web

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/wxoidc/wxoidc/admin"
	"github.com/wxoidc/wxoidc/admin/admintest"
)

// The clients section in a browser: sign in with the token, create a web
// client and see its secret once (a reload no longer has it), edit it,
// disable it, delete it, and find each step in the audit log under the
// console's actor; then the same pages in Chinese.
func TestConsoleClientsInBrowser(t *testing.T) {
	f := newClientsFixture(t)
	ctx := admin.WithActor(t.Context(), admin.APIActor("setup"))
	if _, err := f.env.Service.CreateClient(ctx, admin.ClientSpec{ID: ptrTo("mini-shop"), Name: ptrTo("微信小商店"), WeChatAppID: ptrTo(admintest.AppID)}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.env.Service.CreateClient(ctx, admin.ClientSpec{ID: ptrTo("ios-app"), Name: ptrTo("iOS app"), WeChatAppID: ptrTo(consoleMobileApp)}); err != nil {
		t.Fatal(err)
	}
	disabled := true
	if _, err := f.env.Service.CreateClient(ctx, admin.ClientSpec{ID: ptrTo("old-reports"), Name: ptrTo("Reports (retired)"), Disabled: &disabled}); err != nil {
		t.Fatal(err)
	}
	for i := range 55 {
		seedClient(t, f.env.Store, fmt.Sprintf("svc-%02d", i), f.clock.Now())
	}

	b := f.browser()
	b.open("/admin/ui/lang?to=en&next=/admin/ui/clients")
	b.do(chromedp.WaitVisible(`#token`), chromedp.SendKeys(`#token`, strings.TrimPrefix(opsAuth, "Bearer ")))
	b.click(`button[type=submit].primary`)
	if got := b.text(`h1`); got != "Clients" {
		t.Fatalf("after sign-in: %q", got)
	}
	if n := eval[int](b, `document.querySelectorAll('#clients-table tbody tr').length`); n != 50 {
		t.Errorf("first page: %d rows", n)
	}
	if !strings.Contains(b.text(`tr[data-client="old-reports"]`), "disabled") {
		t.Errorf("the disabled client has no pill: %q", b.text(`tr[data-client="old-reports"]`))
	}
	b.shot("list-en")
	b.click(`#next-page`)
	if n := eval[int](b, `document.querySelectorAll('#clients-table tbody tr').length`); n != 8 {
		t.Errorf("second page: %d rows", n)
	}

	// Create a web client.
	b.open("/admin/ui/clients")
	b.click(`#new-client`)
	b.click(`.kind-tabs a[href$="kind=web"]`)
	b.shot("new-web-en")
	b.do(
		chromedp.SendKeys(`#f-id`, "shop-web"),
		chromedp.SendKeys(`#f-name`, "Shop website"),
		chromedp.SendKeys(`#f-redirect`, "https://shop.example.com/callback"),
		chromedp.Click(`input[name=wechat_app][value="`+consoleWebsiteApp+`"]`),
	)
	b.click(`#save-client`)
	if got := b.flash(); !strings.Contains(got, "Client shop-web created.") {
		t.Fatalf("create: %q", got)
	}
	secret := eval[string](b, `document.querySelector('#client-secret').value`)
	if len(secret) < 32 {
		t.Fatalf("secret shown: %q", secret)
	}
	if !strings.Contains(b.text(`#secret-once`), "only time it is shown") {
		t.Errorf("secret box: %q", b.text(`#secret-once`))
	}
	b.shot("secret-once-en")
	b.open("/admin/ui/clients/shop-web")
	if eval[bool](b, `document.querySelector('#secret-once') !== null || document.body.innerText.includes(`+jsString(secret)+`)`) {
		t.Fatal("the secret is shown again after a reload")
	}
	if strings.Contains(f.logs.String(), secret) {
		t.Error("the secret is in the log")
	}

	// Edit it.
	b.do(chromedp.SetValue(`#f-name`, "Shop website (new)"), chromedp.Click(`#f-skip-consent`))
	b.click(`#save-client`)
	if got := b.flash(); !strings.Contains(got, "saved") {
		t.Fatalf("edit: %q", got)
	}
	if cv, _ := f.storedClient("shop-web"); cv.Name != "Shop website (new)" || !cv.SkipConsent {
		t.Errorf("after edit: %+v", cv)
	}
	b.shot("detail-en")

	// Disable it: a wrong confirmation first.
	b.do(chromedp.SendKeys(`#confirm-disable`, "shop"))
	b.click(`#disable-client`)
	if got := b.flash(); !strings.Contains(got, "does not match") {
		t.Errorf("mistyped id: %q", got)
	}
	b.do(chromedp.SendKeys(`#confirm-disable`, "shop-web"))
	b.click(`#disable-client`)
	if got := b.flash(); !strings.Contains(got, "is disabled") {
		t.Fatalf("disable: %q", got)
	}
	if cv, _ := f.storedClient("shop-web"); !cv.Disabled {
		t.Error("not disabled")
	}
	b.shot("disabled-en")

	// And delete it.
	b.do(chromedp.SendKeys(`#confirm-delete`, "shop-web"))
	b.click(`#delete-client`)
	if got := b.flash(); !strings.Contains(got, "is deleted") {
		t.Fatalf("delete: %q", got)
	}
	if _, ok := f.storedClient("shop-web"); ok {
		t.Error("still stored")
	}
	for _, action := range []string{"clients.create", "clients.update", "clients.delete"} {
		if ev, ok := findAudit(t, f.env.Service, action); !ok || ev.Actor != "admin-console:ops" || ev.Target != "shop-web" {
			t.Errorf("audit %s: %+v %v", action, ev, ok)
		}
	}
	// And as the audit page shows them.
	rows := strings.Join(b.auditRows("actor=admin-console%3Aops&action=clients.*"), "\n")
	for _, want := range []string{"clients.create shop-web", "clients.update shop-web", "clients.delete shop-web"} {
		if !strings.Contains(rows, want) {
			t.Errorf("audit page lacks %q:\n%s", want, rows)
		}
	}
	b.shot("audit-clients")

	// The same pages in Chinese.
	b.open("/admin/ui/lang?to=zh-CN&next=/admin/ui/clients")
	if got := b.text(`h1`); got != "客户端" {
		t.Errorf("zh-CN title: %q", got)
	}
	b.shot("list-zh")
	b.open("/admin/ui/clients/new?kind=app")
	b.shot("new-app-zh")
	b.open("/admin/ui/clients/new?kind=service")
	b.do(chromedp.SendKeys(`#f-id`, "reports"), chromedp.SendKeys(`#f-name`, "报表服务"), chromedp.SetValue(`#f-scopes`, "api.read"))
	b.click(`#save-client`)
	if got := b.flash(); !strings.Contains(got, "已创建") {
		t.Fatalf("zh create: %q", got)
	}
	if !strings.Contains(b.text(`#secret-once`), "请立即复制") {
		t.Errorf("zh secret box: %q", b.text(`#secret-once`))
	}
	b.shot("secret-once-zh")
	b.open("/admin/ui/clients/mini-shop")
	b.shot("detail-zh")
}

func ptrTo[T any](v T) *T { return &v }

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
