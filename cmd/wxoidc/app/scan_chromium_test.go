package app_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wxoidc/wxoidc/cmd/wxoidc/app"
	"github.com/wxoidc/wxoidc/internal/testharness"
	"github.com/wxoidc/wxoidc/provider"
	"github.com/wxoidc/wxoidc/storage"
)

// A code nobody scanned expires in a real browser: the waiting page says so
// by itself (the server's clock moved; the page's own 2-minute backstop is
// not what is tested), and clicking the code gets a fresh one without a
// reload, which the phone can then scan and approve. The approve and deny
// flows through examples/web-rp are in examples/web-rp/scan_chromium_test.go.
func TestScanExpiryInChromium(t *testing.T) {
	clock := testharness.NewClock(time.Now())
	s := newScanStack(t, app.Options{Now: clock.Now})
	// A relying party the browser can reach: it records where it landed.
	landed := make(chan url.Values, 1)
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case landed <- r.URL.Query():
		default:
		}
		_, _ = io.WriteString(w, "signed in")
	}))
	t.Cleanup(rp.Close)
	createClient(t, s.App, storage.Client{
		ID: "rp-scan-live", Name: "Example Scan", TokenEndpointAuthMethod: provider.AuthMethodClientSecretBasic,
		GrantTypes: []string{provider.GrantTypeAuthorizationCode}, Scopes: []string{"openid"},
		RedirectURIs: []string{rp.URL + "/callback"}, SkipConsent: true, WeChatApps: []string{appA, appWeb},
	}, rpSecret)
	q := url.Values{"response_type": {"code"}, "client_id": {"rp-scan-live"}, "redirect_uri": {rp.URL + "/callback"},
		"scope": {"openid"}, "state": {"state-" + randomString()}, "nonce": {"nonce-" + randomString()},
		"login_method": {"miniprogram_scan"}, "ui_locales": {"zh-CN"}}
	ctx := testharness.NewBrowser(t)
	run(t, ctx, chromedp.Navigate(s.URL+"/oauth2/authorize?"+q.Encode()), chromedp.WaitVisible(`#scan img.qr-img`))
	first := attr(t, ctx, `#scan img.qr-img`, "src")
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__scanMarker = true`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return s.App.Provider.ScanWaiting() == 1 })

	clock.Advance(2 * time.Minute)
	waitScanState(t, ctx, "expired")
	if status := text(t, ctx, `.scan-status`); !strings.Contains(status, "二维码已过期") {
		t.Errorf("status line %q", status)
	}
	testharness.Screenshot(t, ctx, "expired")
	// Back to the real time: fosite checks an ID token's auth_time against
	// its own clock, not the injected one.
	clock.Set(time.Now())

	run(t, ctx, chromedp.Click(`.scan-renew`))
	waitScanState(t, ctx, "pending")
	second := attr(t, ctx, `#scan img.qr-img`, "src")
	if second == first || !strings.HasPrefix(second, "/oauth2/scan/") {
		t.Fatalf("fresh code %q after %q", second, first)
	}
	marker, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__scanMarker === true`))
	if err != nil || !marker {
		t.Fatalf("the page reloaded for a fresh code (%v)", err)
	}
	// The fresh code works: scanned and approved, the page goes on to the RP.
	ticket := strings.TrimSuffix(strings.TrimPrefix(second, "/oauth2/scan/"), "/image")
	mp := s.scanAs(ticket, "grace")
	if a := s.scanAction(ticket, "scanned", mp.AccessToken); a.Status != "scanned" {
		t.Fatalf("scanned: %+v", a)
	}
	waitScanState(t, ctx, "scanned")
	testharness.Screenshot(t, ctx, "scanned-after-refresh")
	if a := s.scanAction(ticket, "approve", mp.AccessToken); a.Status != "approved" {
		t.Fatalf("approve: %+v", a)
	}
	select {
	case got := <-landed:
		if got.Get("code") == "" || got.Get("state") != q.Get("state") {
			t.Fatalf("the relying party got %v", got)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("the page never went on to the relying party; at %s", location(t, ctx))
	}
}

func attr(t *testing.T, ctx context.Context, sel, name string) string {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector(`+jsQuote(sel)+`).getAttribute(`+jsQuote(name)+`) || ""`))
	if err != nil {
		t.Fatalf("%s[%s]: %v", sel, name, err)
	}
	return v
}

func jsQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `\'`) + "'" }

func waitScanState(t *testing.T, ctx context.Context, state string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	got := ""
	for time.Now().Before(deadline) {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector("#scan") || {dataset: {}}).dataset.state || ""`))
		if err == nil {
			got = v
			if v == state {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("scan page state %q, want %q", got, state)
}
