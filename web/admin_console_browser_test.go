package web

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wxoidc/wxoidc/internal/testharness"
	"github.com/wxoidc/wxoidc/keys"
	"github.com/wxoidc/wxoidc/storage"
)

// consoleBrowser drives the console in headless Chromium.
type consoleBrowser struct {
	t   testing.TB
	ctx context.Context
	f   *consoleFixture
}

func (f *consoleFixture) browser(opts ...testharness.BrowserOption) *consoleBrowser {
	return &consoleBrowser{t: f.t, ctx: testharness.NewBrowser(f.t, opts...), f: f}
}

// do runs actions with a deadline; on failure it says where the browser was
// and what it showed.
func (b *consoleBrowser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		loc, _ := chromedp.Run(context.WithoutCancel(ctx), chromedp.Location())
		body, _ := chromedp.Run(context.WithoutCancel(ctx), chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 2000) : ""`))
		b.t.Fatalf("browser: %v (at %s): %s", err, loc, body)
	}
}

// open loads a console path and waits, as click does, until the new
// document has loaded: a query begun while a redirect (the language switch)
// replaces the document could wait on the old one until its deadline.
func (b *consoleBrowser) open(path string) {
	b.t.Helper()
	_ = eval[bool](b, `window.__consoleOldPage = true`)
	b.do(chromedp.Navigate(b.f.srv.URL + path))
	b.waitNewPage("opening " + path)
	b.do(chromedp.WaitReady("body"))
}

// waitNewPage waits until the page marked by window.__consoleOldPage has
// been replaced by a new document that finished loading.
func (b *consoleBrowser) waitNewPage(what string) {
	b.t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		v, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`!window.__consoleOldPage && document.readyState === "complete"`))
		if err == nil && v {
			return
		}
	}
	b.t.Fatalf("%s led to no new page", what)
}

// text returns the visible text of sel once it is shown. It asks the page
// itself: chromedp's node queries (WaitVisible) sometimes keep waiting on the
// document a redirect replaced (the language switch), until their deadline.
func (b *consoleBrowser) text(sel string) string {
	b.t.Helper()
	quoted, err := json.Marshal(sel)
	if err != nil {
		b.t.Fatal(err)
	}
	expr := `(() => { const e = document.querySelector(` + string(quoted) + `);
		return e && e.getClientRects().length > 0 ? e.innerText : null })()`
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		v, err := chromedp.Run(b.ctx, chromedp.Evaluate[*string](expr))
		if err == nil && v != nil {
			return *v
		}
	}
	b.t.Fatalf("%s was not shown", sel)
	return ""
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](b *consoleBrowser, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// shot keeps a screenshot of the page as a test artifact.
func (b *consoleBrowser) shot(name string) {
	b.t.Helper()
	b.t.Logf("screenshot: %s", testharness.Screenshot(b.t, b.ctx, name))
}

// signIn pastes token into the sign-in form.
func (b *consoleBrowser) signIn(token string) {
	b.t.Helper()
	b.open("/admin/ui/")
	b.do(chromedp.WaitVisible(`#token`), chromedp.SendKeys(`#token`, token))
	b.click(`button[type=submit].primary`)
}

// click clicks sel and waits for the page it leads to (a form's answer),
// so that what is read next is the new page and not the old one.
func (b *consoleBrowser) click(sel string) {
	b.t.Helper()
	_ = eval[bool](b, `window.__consoleOldPage = true`)
	b.do(chromedp.Click(sel, chromedp.NodeVisible))
	b.waitNewPage("clicking " + sel)
}

// flash returns the message the last action left.
func (b *consoleBrowser) flash() string {
	b.t.Helper()
	return b.text(`.flash`)
}

// timelineKeys reads the key timeline picture: kid → state, and each
// key's segment states in order.
func (b *consoleBrowser) timelineKeys() map[string]string {
	b.t.Helper()
	return eval[map[string]string](b, `Object.fromEntries([...document.querySelectorAll('#timeline g.key')].map(g => [g.dataset.kid, g.dataset.state]))`)
}

// The whole keys path in a browser: sign in with a token, read the
// timeline, be refused a too-early rotation with the reason in words,
// rotate once it is safe and see the timeline change, revoke a retired key
// after typing its kid, and sign out.
func TestConsoleKeysInBrowser(t *testing.T) {
	f := newConsoleFixture(t)
	b := f.browser()

	// A wrong token gets no console.
	b.open("/admin/ui/?lang=en")
	b.open("/admin/ui/lang?to=en&next=/admin/ui/keys")
	b.do(chromedp.WaitVisible(`#token`), chromedp.SendKeys(`#token`, "wrong-token"))
	b.click(`button[type=submit].primary`)
	if got := b.flash(); !strings.Contains(got, "not an admin token") {
		t.Fatalf("wrong token: %q", got)
	}
	b.shot("login-refused")

	b.do(chromedp.SendKeys(`#token`, strings.TrimPrefix(opsAuth, "Bearer ")))
	b.click(`button[type=submit].primary`)
	if who := b.text(`.who .token`); !strings.Contains(who, "ops") {
		t.Errorf("signed in as %q", who)
	}
	before := b.timelineKeys()
	cur := map[string]string{} // alg → current kid
	for _, k := range f.keys() {
		if k.State == storage.KeyCurrent {
			cur[k.Algorithm] = k.KID
		}
		if before[k.KID] != string(k.State) {
			t.Errorf("timeline shows %s as %q, storage has %s", k.KID, before[k.KID], k.State)
		}
	}
	if len(before) != 4 {
		t.Errorf("timeline keys: %v (want a current and a next key per algorithm)", before)
	}
	if n := eval[int](b, `document.querySelectorAll('#timeline g.marker.safe-rotation').length`); n != 2 {
		t.Errorf("safe-rotation markers: %d", n)
	}
	if !strings.Contains(b.text(`#alg-ES256`), "safe from") {
		t.Errorf("ES256 summary: %q", b.text(`#alg-ES256`))
	}
	b.shot("keys-fresh")

	// Too early: refused, with why and how long, in words.
	b.click(`#rotate-ES256`)
	if got := b.flash(); !strings.Contains(got, "Not rotated") || !strings.Contains(got, "cached JWKS") {
		t.Errorf("too-early rotation: %q", got)
	}
	if after := b.timelineKeys(); len(after) != len(before) {
		t.Errorf("a refused rotation changed the timeline: %v", after)
	}
	b.shot("rotation-too-soon")

	// Once the next key is publish-safe the rotation goes through and the
	// picture changes: the old current key is retired, with a removal date.
	f.clock.Advance(2 * time.Minute)
	b.open("/admin/ui/keys")
	if !strings.Contains(b.text(`#alg-ES256`), "safe now") {
		t.Errorf("ES256 summary after 2 min: %q", b.text(`#alg-ES256`))
	}
	b.click(`#rotate-ES256`)
	if got := b.flash(); !strings.Contains(got, "Rotated ES256") {
		t.Fatalf("rotation: %q", got)
	}
	after := b.timelineKeys()
	if after[cur["ES256"]] != "retired" || len(after) != 5 {
		t.Errorf("timeline after rotation: %v (old current %s)", after, cur["ES256"])
	}
	if n := eval[int](b, `document.querySelectorAll('#timeline g.marker.removable').length`); n != 1 {
		t.Errorf("removable markers: %d", n)
	}
	b.shot("keys-rotated")

	// Revoking asks for the kid and says what happens first.
	retired := cur["ES256"]
	b.open("/admin/ui/keys/" + retired + "/revoke")
	if got := b.text(`#consequences`); !strings.Contains(got, "must sign in again") {
		t.Errorf("consequences: %q", got)
	}
	b.do(chromedp.SendKeys(`#confirm`, "not-the-kid"))
	b.click(`button.danger`)
	if got := b.flash(); !strings.Contains(got, "does not match") {
		t.Errorf("mistyped kid: %q", got)
	}
	b.shot("revoke-confirm")
	b.do(chromedp.SendKeys(`#confirm`, retired))
	b.click(`button.danger`)
	if got := b.flash(); !strings.Contains(got, "is revoked") {
		t.Errorf("revoke: %q", got)
	}
	if b.timelineKeys()[retired] != "revoked" {
		t.Errorf("timeline after revoke: %v", b.timelineKeys())
	}
	for _, action := range []string{"keys.rotate", "keys.revoke"} {
		if ev, ok := findAudit(t, f.env.Service, action); !ok || ev.Actor != "admin-console:ops" {
			t.Errorf("audit %s: %+v", action, ev)
		}
	}
	// The same entries as the audit page shows them, filtered to this console's
	// key actions.
	rows := b.auditRows("actor=admin-console%3Aops&action=keys.*")
	joined := strings.Join(rows, "\n")
	for _, want := range []string{"keys.rotate", "keys.revoke " + retired} {
		if !strings.Contains(joined, want) {
			t.Errorf("audit page lacks %q:\n%s", want, joined)
		}
	}
	for _, r := range rows {
		if !strings.HasPrefix(r, "keys.") {
			t.Errorf("audit filter let through %q", r)
		}
	}
	b.shot("audit-keys")

	// The same page in Chinese, and on a phone-sized screen.
	b.open("/admin/ui/lang?to=zh-CN&next=/admin/ui/keys")
	if got := b.text(`h1`); got != "签名密钥" {
		t.Errorf("zh-CN title: %q", got)
	}
	b.shot("keys-zh")

	b.click(`.who button.link`)
	b.do(chromedp.WaitVisible(`#token`))
	b.open("/admin/ui/keys")
	b.do(chromedp.WaitVisible(`#token`))
	b.signIn(strings.TrimPrefix(ciAuth, "Bearer "))
	if who := b.text(`.who .token`); !strings.Contains(who, "ci") {
		t.Errorf("signed in again as %q", who)
	}
}

// auditRows opens the audit page with query and returns each row as
// "<action> <the row's text>".
func (b *consoleBrowser) auditRows(query string) []string {
	b.t.Helper()
	b.open("/admin/ui/audit?" + query)
	return eval[[]string](b, `[...document.querySelectorAll('#audit-table tbody tr')].map(tr => tr.dataset.action + " " + tr.innerText.replace(/\s+/g, " "))`)
}

// keys lists the stored keys.
func (f *consoleFixture) keys() []keys.KeyInfo {
	f.t.Helper()
	ks, err := f.env.Service.ListKeys(f.t.Context())
	if err != nil {
		f.t.Fatal(err)
	}
	return ks
}
