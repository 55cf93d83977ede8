package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wxoidc/wxoidc/internal/testharness"
)

// The dev mode's mini-program (demo-miniprogram) and website app.
const (
	devMiniProgramApp = "wx1234567890abcdef"
	devWebsiteApp     = "wx00000000000000a1"
)

// TestScanSignInInChromium is PC sign-in by scanning the mini-program code
// (docs/contract.md §1.6) in a real browser: web-rp → the provider's login
// page → "scan" → the code; a second actor plays the phone (the emulator's
// scan, the mini-program grant, the confirm page's calls); the page signs
// in by itself, and web-rp shows the mini-program's sub.
func TestScanSignInInChromium(t *testing.T) {
	d := startDev(t)
	base := startRP(t, d, "web-rp-scan", devMiniProgramApp, devWebsiteApp)

	t.Run("approve", func(t *testing.T) {
		ctx := testharness.NewBrowser(t)
		ticket := openScan(t, ctx, base)
		testharness.Screenshot(t, ctx, "code")
		phone := scanAsPhone(t, d, ticket, "alice")
		phone.action(t, ticket, "scanned")
		waitState(t, ctx, "scanned")
		// Still the same page: the status came without a reload.
		marker, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__scanMarker === true`))
		if err != nil || !marker {
			t.Fatalf("the page reloaded while waiting (%v)", err)
		}
		testharness.Screenshot(t, ctx, "scanned")
		phone.action(t, ticket, "approve")

		// The page goes on by itself: the provider, then web-rp's callback
		// and its home page with the claims.
		waitJS(t, ctx, `location.href === `+jsString(base+"/")+` && !!document.querySelector("table")`)
		sub, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => { for (const tr of document.querySelectorAll("tr")) { const td = tr.querySelectorAll("td"); if (td.length === 2 && td[0].textContent === "sub") return td[1].textContent } return "" })()`))
		if err != nil {
			t.Fatal(err)
		}
		testharness.Screenshot(t, ctx, "signed-in")
		if want := phone.sub(t); sub == "" || sub != want {
			t.Fatalf("web-rp shows sub %q, the mini-program's is %q", sub, want)
		}
	})

	t.Run("deny", func(t *testing.T) {
		ctx := testharness.NewBrowser(t)
		ticket := openScan(t, ctx, base)
		phone := scanAsPhone(t, d, ticket, "bob")
		phone.action(t, ticket, "scanned")
		phone.action(t, ticket, "deny")
		waitState(t, ctx, "denied")
		testharness.Screenshot(t, ctx, "denied")
		href, err := chromedp.Run(ctx, chromedp.Location())
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(href, "code=") || strings.HasPrefix(href, base) {
			t.Fatalf("a denied scan signed in: %s", href)
		}
	})
}

// openScan opens web-rp, signs in, picks "scan" on the provider's login
// page, waits for the code image to load, and returns the ticket.
func openScan(t *testing.T, ctx context.Context, base string) string {
	t.Helper()
	steps := []struct {
		name string
		do   chromedp.Action[chromedp.Void]
	}{
		{"open web-rp", chromedp.Navigate(base + "/")},
		{"sign in", chromedp.Click(`a[href="/login"]`)},
		{"the login page's scan link", chromedp.WaitVisible(`a[href*="method=miniprogram_scan"]`)},
		{"pick scan", chromedp.Click(`a[href*="method=miniprogram_scan"]`)},
		{"the code", chromedp.WaitVisible(`#scan img.qr-img`)},
	}
	for _, st := range steps {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := chromedp.Do(sctx, st.do)
		cancel()
		if err != nil {
			href, _ := chromedp.Run(context.WithoutCancel(ctx), chromedp.Location())
			body, _ := chromedp.Run(context.WithoutCancel(ctx), chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 500) : ""`))
			t.Fatalf("%s: %v (at %s: %s)", st.name, err, href, body)
		}
	}
	waitJS(t, ctx, `(() => { const i = document.querySelector("#scan img.qr-img"); return !!i && i.complete && i.naturalWidth > 0 })()`)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__scanMarker = true`)); err != nil {
		t.Fatal(err)
	}
	src, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#scan img.qr-img").getAttribute("src")`))
	if err != nil {
		t.Fatal(err)
	}
	ticket := strings.TrimSuffix(strings.TrimPrefix(src, "/oauth2/scan/"), "/image")
	if ticket == "" || strings.Contains(ticket, "/") {
		t.Fatalf("code image src %q names no ticket", src)
	}
	return ticket
}

func waitState(t *testing.T, ctx context.Context, state string) {
	t.Helper()
	waitJS(t, ctx, `document.querySelector("#scan") && document.querySelector("#scan").dataset.state === `+jsString(state))
}

// waitJS waits (30 s at most) until expr is true in the page. It asks
// again after errors: the page navigates on its own (the point of the
// test), and an evaluation during a navigation fails.
func waitJS(t *testing.T, ctx context.Context, expr string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		ectx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ok, err := chromedp.Run(ectx, chromedp.Evaluate[bool](expr))
		cancel()
		if err == nil && ok {
			return
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	href, _ := chromedp.Run(context.WithoutCancel(ctx), chromedp.Location())
	state, _ := chromedp.Run(context.WithoutCancel(ctx), chromedp.Evaluate[string](`(document.querySelector("#scan")||{dataset:{}}).dataset.state || ""`))
	t.Fatalf("waiting for %s: last error %v (at %s, state %q)", expr, last, href, state)
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// phone is the person's phone after scanning: the mini-program signed in
// with the grant.
type phone struct {
	issuer, accessToken string
}

// scanAsPhone scans the ticket's code as user (the emulator returns the
// mini-program's wx.login code) and signs in to demo-miniprogram.
func scanAsPhone(t *testing.T, d devProvider, ticket, user string) phone {
	t.Helper()
	var scanned struct {
		AppID string `json:"appid"`
		Code  string `json:"code"`
	}
	postJSON(t, d.issuer+"/wechat-emulator/scan", map[string]string{"scene": ticket, "user": user}, &scanned)
	if scanned.AppID != devMiniProgramApp || scanned.Code == "" {
		t.Fatalf("scan answer %+v", scanned)
	}
	resp, err := http.PostForm(d.issuer+"/oauth2/token", url.Values{
		"grant_type": {"urn:wxoidc:params:oauth:grant-type:wechat-miniprogram"}, "client_id": {"demo-miniprogram"},
		"code": {scanned.Code}, "scope": {"openid"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &tok); err != nil || resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
		t.Fatalf("mini-program grant: %d %s", resp.StatusCode, raw)
	}
	return phone{issuer: d.issuer, accessToken: tok.AccessToken}
}

// action is the confirm page's call.
func (p phone) action(t *testing.T, ticket, action string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, p.issuer+"/oauth2/scan/"+ticket, strings.NewReader(url.Values{"action": {action}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+p.accessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if raw, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %d %s", action, resp.StatusCode, raw)
	}
}

// sub is the mini-program's sub for the person (UserInfo).
func (p phone) sub(t *testing.T) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, p.issuer+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+p.accessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var info struct {
		Sub string `json:"sub"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		t.Fatal(err)
	}
	return info.Sub
}

func postJSON(t *testing.T, target string, body, out any) {
	t.Helper()
	raw, _ := json.Marshal(body)
	resp, err := http.Post(target, "application/json", bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %d %s", target, resp.StatusCode, answer)
	}
	if err := json.Unmarshal(answer, out); err != nil {
		t.Fatalf("POST %s: %v: %s", target, err, answer)
	}
}
