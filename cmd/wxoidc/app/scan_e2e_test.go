package app_test

import (
	"context"
	"encoding/json"
	"html"
	"image/png"
	"io"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/cmd/wxoidc/app"
	"github.com/wxoidc/wxoidc/config"
	"github.com/wxoidc/wxoidc/internal/testharness"
	"github.com/wxoidc/wxoidc/provider"
	"github.com/wxoidc/wxoidc/storage"
	"github.com/wxoidc/wxoidc/wechat/wechattest"
)

// PC sign-in by scanning the mini-program code (docs/contract.md §1.6).

// rpScan is a first-party web client that offers the scan (mini-program
// appA) and the website QR page.
const rpScan = "rp-scan"

// scanPageName is the page the codes of appA open.
const scanPageName = "pages/scan/index"

func withScanPage(c *config.Config) {
	for i := range c.WeChat.Apps {
		if c.WeChat.Apps[i].AppID == appA {
			c.WeChat.Apps[i].ScanPage = scanPageName
		}
	}
}

func newScanStack(t *testing.T, appOpts app.Options) *stack {
	t.Helper()
	s := newBrowserStackWith(t, appOpts, withScanPage)
	createClient(t, s.App, storage.Client{
		ID: rpScan, Name: "Example Scan", TokenEndpointAuthMethod: provider.AuthMethodClientSecretBasic,
		GrantTypes:   []string{provider.GrantTypeAuthorizationCode, provider.GrantTypeRefreshToken},
		Scopes:       []string{"openid", "phone", "wechat", "offline_access"},
		RedirectURIs: []string{rpCallback},
		SkipConsent:  true,
		WeChatApps:   []string{appA, appWeb},
	}, rpSecret)
	return s
}

var scanImage = regexp.MustCompile(`src="/oauth2/scan/([A-Za-z0-9]+)/image"`)

// scanTicket opens the scan page of an authorization request and returns
// its ticket.
// startScan opens the scan sign-in page of a fresh authorization request of
// the scan relying party in a new browser, and returns the browser and the
// page's ticket, and the authorization request.
func (s *stack) startScan(t *testing.T) (b *browser, ticket, authURL string) {
	t.Helper()
	r := s.newRP(rpScan, rpSecret, rpCallback, "openid")
	b = s.newBrowser("")
	authURL, _, _, _ = r.start()
	return b, scanTicket(t, b, authURL+"&login_method=miniprogram_scan"), authURL
}

func scanTicket(t *testing.T, b *browser, authURL string) string {
	t.Helper()
	p := b.get(authURL)
	if p.Status != http.StatusOK {
		t.Fatalf("scan page: %d %.300s", p.Status, p.Body)
	}
	m := scanImage.FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatalf("no code image on the scan page: %.600s", p.Body)
	}
	return m[1]
}

type scanStatus struct {
	Code        int
	Status      string `json:"status"`
	ContinueURL string `json:"continue_url"`
	Error       string `json:"error"`
}

func (b *browser) scanStatus(ticket, query string) scanStatus {
	b.t.Helper()
	p := b.get("/oauth2/scan/" + ticket + query)
	var st scanStatus
	if err := json.Unmarshal([]byte(p.Body), &st); err != nil {
		b.t.Fatalf("status answer is not JSON (%d): %q", p.Status, p.Body)
	}
	st.Code = p.Status
	return st
}

// phone plays the person's phone: it scans the ticket's code as user and
// signs in to the mini-program (client miniA) the way it would, returning
// the access and refresh tokens.
func (s *stack) scanAs(ticket, user string) tokenResponse {
	s.t.Helper()
	appID, code, err := s.Emu.Scan(ticket, user)
	if err != nil {
		s.t.Fatalf("scan: %v", err)
	}
	if appID != appA {
		s.t.Fatalf("scanned code of %s, want %s", appID, appA)
	}
	return mustToken(s.t, s.token(wechatForm(miniA, code, "scope", "openid offline_access")))
}

type scanAnswer struct {
	Code       int
	Status     string `json:"status"`
	ClientName string `json:"client_name"`
	Error      string `json:"error"`
	WWWAuth    string
}

func (s *stack) scanAction(ticket, action, token string) scanAnswer {
	s.t.Helper()
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	resp, body := s.postForm("/oauth2/scan/"+ticket, url.Values{"action": {action}}, h)
	var a scanAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		s.t.Fatalf("action answer is not JSON (%d): %q", resp.StatusCode, body)
	}
	a.Code = resp.StatusCode
	a.WWWAuth = resp.Header.Get("WWW-Authenticate")
	return a
}

func TestScanSignIn(t *testing.T) {
	s := newScanStack(t, app.Options{})
	r := s.newRP(rpScan, rpSecret, rpCallback, "openid", "wechat")
	b := s.newBrowser("")

	// The login page offers the scan first, the website QR second.
	authURL, state, nonce, verifier := r.start()
	login := b.get(authURL)
	if login.Status != http.StatusOK || !strings.Contains(login.Body, "method=miniprogram_scan") || !strings.Contains(login.Body, "method=website_qr") {
		t.Fatalf("login page: %d %.500s", login.Status, login.Body)
	}
	if strings.Index(login.Body, "method=miniprogram_scan") > strings.Index(login.Body, "method=website_qr") {
		t.Error("the scan is not the first way in")
	}
	ticket := scanTicket(t, b, loginLink(t, login))
	if len(ticket) > 32 {
		t.Fatalf("ticket %q longer than a scene may be", ticket)
	}

	// The code is an image served by us, for this browser only.
	img := b.get("/oauth2/scan/" + ticket + "/image")
	if img.Status != http.StatusOK || img.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("image: %d %s", img.Status, img.Header.Get("Content-Type"))
	}
	if _, err := png.Decode(strings.NewReader(img.Body)); err != nil {
		t.Fatalf("image is not a PNG: %v", err)
	}
	if other := s.newBrowser(""); other.get("/oauth2/scan/"+ticket+"/image").Status != http.StatusNotFound {
		t.Error("another browser got the code image")
	}
	if st := b.scanStatus(ticket, ""); st.Status != provider.ScanPending {
		t.Fatalf("status = %+v, want pending", st)
	}

	// The phone scans and signs in; the mini-program says it opened.
	mp := s.scanAs(ticket, "alice")
	if a := s.scanAction(ticket, "scanned", mp.AccessToken); a.Code != http.StatusOK || a.Status != provider.ScanScanned || a.ClientName != "Example Scan" {
		t.Fatalf("scanned: %+v", a)
	}
	if st := b.scanStatus(ticket, ""); st.Status != provider.ScanScanned {
		t.Fatalf("status = %+v, want scanned", st)
	}

	// The page waits; the approval wakes it.
	waited := make(chan scanStatus, 1)
	go func() { waited <- b.scanStatus(ticket, "?wait=25") }()
	waitFor(t, func() bool { return s.App.Provider.ScanWaiting() == 1 })
	if a := s.scanAction(ticket, "approve", mp.AccessToken); a.Code != http.StatusOK || a.Status != provider.ScanApproved {
		t.Fatalf("approve: %+v", a)
	}
	var st scanStatus
	select {
	case st = <-waited:
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting page was not woken by the approval")
	}
	if st.Status != provider.ScanApproved || st.ContinueURL != "/oauth2/scan/"+ticket+"/continue" {
		t.Fatalf("status = %+v", st)
	}

	// The browser continues, signed in as alice, back to the RP with a code.
	p := b.get(st.ContinueURL)
	code := callbackCode(t, p, state)
	_, idt := r.exchange(t, code, verifier)
	var claims struct {
		Nonce string   `json:"nonce"`
		AMR   []string `json:"amr"`
	}
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if claims.Nonce != nonce || len(claims.AMR) != 1 || claims.AMR[0] != provider.AMRWeChat {
		t.Fatalf("claims %+v", claims)
	}
	// One person, one sub: the mini-program's.
	info := s.introspect(mp.AccessToken)
	if idt.Subject != info["sub"] {
		t.Fatalf("web sub %s, mini-program sub %v", idt.Subject, info["sub"])
	}
	// The browser is signed in: the next request needs no scan.
	authURL, state, _, _ = r.start()
	callbackCode(t, b.get(authURL), state)

	// The ticket signs in once.
	if p := b.get(st.ContinueURL); p.Status != http.StatusBadRequest {
		t.Fatalf("second continue: %d", p.Status)
	}
	if st := b.scanStatus(ticket, ""); st.Status != provider.ScanApproved {
		t.Fatalf("status after use = %+v", st)
	}
	if a := s.scanAction(ticket, "approve", mp.AccessToken); a.Code != http.StatusConflict {
		t.Fatalf("approve again: %+v", a)
	}
}

func TestScanDenied(t *testing.T) {
	s := newScanStack(t, app.Options{})
	b, ticket, _ := s.startScan(t)
	mp := s.scanAs(ticket, "bob")
	if a := s.scanAction(ticket, "deny", mp.AccessToken); a.Code != http.StatusOK || a.Status != provider.ScanDenied {
		t.Fatalf("deny: %+v", a)
	}
	if st := b.scanStatus(ticket, "?wait=25"); st.Status != provider.ScanDenied {
		t.Fatalf("status = %+v, want denied at once", st)
	}
	if a := s.scanAction(ticket, "approve", mp.AccessToken); a.Code != http.StatusConflict || a.Error != "ticket_decided" {
		t.Fatalf("approve after deny: %+v", a)
	}
	if p := b.get("/oauth2/scan/" + ticket + "/continue"); p.Status != http.StatusBadRequest || strings.Contains(p.Location, "code=") {
		t.Fatalf("continue after deny: %d %s", p.Status, p.Location)
	}
}

func TestScanExpires(t *testing.T) {
	clock := testharness.NewClock(time.Now())
	s := newScanStack(t, app.Options{Now: clock.Now})
	b, ticket, authURL := s.startScan(t)
	mp := s.scanAs(ticket, "carol")
	clock.Advance(2 * time.Minute)
	if st := b.scanStatus(ticket, ""); st.Status != provider.ScanExpired {
		t.Fatalf("status = %+v, want expired", st)
	}
	if st := b.scanStatus(ticket, "?wait=25"); st.Status != provider.ScanExpired {
		t.Fatalf("waiting on an expired ticket = %+v", st)
	}
	if a := s.scanAction(ticket, "approve", mp.AccessToken); a.Code != http.StatusNotFound || a.Error != "invalid_ticket" {
		t.Fatalf("approve after expiry: %+v", a)
	}
	// A fresh code for the same request, as the page's script asks.
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/oauth2/login?"+rawQuery(t, authURL)+"&method=miniprogram_scan", nil)
	req.Header.Set("Accept", "application/json")
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var fresh struct {
		ImageURL  string `json:"image_url"`
		StatusURL string `json:"status_url"`
		ExpiresIn int    `json:"expires_in"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&fresh); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("renew: %d %v", resp.StatusCode, err)
	}
	if fresh.ExpiresIn != 120 || !strings.HasPrefix(fresh.StatusURL, "/oauth2/scan/") || strings.Contains(fresh.StatusURL, ticket) {
		t.Fatalf("renew answer %+v", fresh)
	}
	if st := b.scanStatus(strings.TrimPrefix(fresh.StatusURL, "/oauth2/scan/"), ""); st.Status != provider.ScanPending {
		t.Fatalf("fresh ticket status %+v", st)
	}
}

func rawQuery(t *testing.T, raw string) string {
	t.Helper()
	return mustURL(t, raw).RawQuery
}

// Every way to misuse a ticket gets a clear answer and changes nothing.
func TestScanRefusals(t *testing.T) {
	s := newScanStack(t, app.Options{})
	b, ticket, authURL := s.startScan(t)
	mp := s.scanAs(ticket, "dave")
	// Another mini-program's person (appB is another app of the platform).
	otherApp := mustToken(t, s.token(wechatForm(miniB, s.login(appB, "dave"), "scope", "openid")))
	// Someone else on the right mini-program.
	eve := mustToken(t, s.token(wechatForm(miniA, s.login(appA, "eve"), "scope", "openid")))
	// A client's own token.
	cc := s.clientCredentials()

	other := s.newBrowser("")
	if st := other.scanStatus(ticket, ""); st.Code != http.StatusNotFound || st.Error != "invalid_ticket" {
		t.Errorf("another browser polled: %+v", st)
	}
	noCookie := &browser{t: t, s: s, client: &http.Client{Transport: s.client.Transport}}
	if st := noCookie.scanStatus(ticket, ""); st.Code != http.StatusNotFound {
		t.Errorf("polled without the cookie: %+v", st)
	}
	if st := b.scanStatus("GUESSEDTICKET234567ABCDEFGH", ""); st.Code != http.StatusNotFound {
		t.Errorf("guessed ticket: %+v", st)
	}
	for _, q := range []string{"?wait=26", "?wait=-1", "?wait=x", "?wait=1&wait=2"} {
		if st := b.scanStatus(ticket, q); st.Code != http.StatusBadRequest || st.Error != "invalid_request" {
			t.Errorf("%s: %+v", q, st)
		}
	}

	for _, tc := range []struct {
		name, ticket, action, token string
		code                        int
		err                         string
	}{
		{"no token", ticket, "approve", "", http.StatusUnauthorized, "invalid_token"},
		{"garbage token", ticket, "approve", "not-a-token", http.StatusUnauthorized, "invalid_token"},
		{"refresh token", ticket, "approve", mp.RefreshToken, http.StatusUnauthorized, "invalid_token"},
		{"client credentials token", ticket, "approve", cc, http.StatusUnauthorized, "invalid_token"},
		{"token of another mini-program", ticket, "approve", otherApp.AccessToken, http.StatusForbidden, "insufficient_scope"},
		{"unknown action", ticket, "login", mp.AccessToken, http.StatusBadRequest, "invalid_request"},
		{"guessed ticket", "GUESSEDTICKET234567ABCDEFGH", "approve", mp.AccessToken, http.StatusNotFound, "invalid_ticket"},
		{"ticket with a percent", "bad%25ticket", "approve", mp.AccessToken, http.StatusNotFound, "invalid_ticket"},
		{"another person approves what dave scanned", ticket, "approve", eve.AccessToken, http.StatusConflict, "ticket_taken"},
	} {
		if tc.name == "another person approves what dave scanned" {
			if a := s.scanAction(ticket, "scanned", mp.AccessToken); a.Code != http.StatusOK {
				t.Fatalf("scanned: %+v", a)
			}
		}
		a := s.scanAction(tc.ticket, tc.action, tc.token)
		if a.Code != tc.code || a.Error != tc.err {
			t.Errorf("%s: %d %q, want %d %q", tc.name, a.Code, a.Error, tc.code, tc.err)
		}
		if tc.code == http.StatusUnauthorized && !strings.HasPrefix(a.WWWAuth, "Bearer") {
			t.Errorf("%s: WWW-Authenticate %q", tc.name, a.WWWAuth)
		}
	}
	if st := b.scanStatus(ticket, ""); st.Status != provider.ScanScanned {
		t.Fatalf("after the refusals the ticket is %+v, want scanned", st)
	}

	// Approved, the ticket signs in only the browser that showed it.
	if a := s.scanAction(ticket, "approve", mp.AccessToken); a.Code != http.StatusOK {
		t.Fatalf("approve: %+v", a)
	}
	if p := other.get("/oauth2/scan/" + ticket + "/continue"); p.Status != http.StatusBadRequest || p.Location != "" {
		t.Fatalf("another browser continued: %d %s", p.Status, p.Location)
	}
	if p := b.get("/oauth2/scan/" + ticket + "/continue"); p.Status != http.StatusSeeOther || !strings.Contains(p.Location, "code=") {
		t.Fatalf("the showing browser could not continue: %d %s", p.Status, p.Location)
	}

	// A disabled person cannot approve.
	ticket2 := scanTicket(t, b, authURL+"&login_method=miniprogram_scan&prompt=login")
	mp2 := s.scanAs(ticket2, "frank")
	sub := s.introspect(mp2.AccessToken)["sub"].(string)
	if _, err := s.App.Store.UpdateAccount(context.Background(), sub, func(a storage.Account) (storage.Account, error) { a.Disabled = true; return a, nil }); err != nil {
		t.Fatal(err)
	}
	if a := s.scanAction(ticket2, "approve", mp2.AccessToken); a.Code != http.StatusUnauthorized || a.Error != "invalid_token" {
		t.Fatalf("disabled account approved: %+v", a)
	}
	// Continue before approval: nothing.
	if p := b.get("/oauth2/scan/" + ticket2 + "/continue"); p.Status != http.StatusBadRequest {
		t.Fatalf("continue before approval: %d", p.Status)
	}
}

// clientCredentials returns a client_credentials access token of backend.
func (s *stack) clientCredentials() string {
	s.t.Helper()
	resp, body := s.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, basicAuth(backend, backendPw))
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil || resp.StatusCode != http.StatusOK {
		s.t.Fatalf("client_credentials: %d %s", resp.StatusCode, body)
	}
	return tr.AccessToken
}

// WeChat failing to make the code gets a page that says so and offers the
// website QR instead.
func TestScanCodeErrors(t *testing.T) {
	s := newScanStack(t, app.Options{})
	r := s.newRP(rpScan, rpSecret, rpCallback, "openid")
	for _, tc := range []struct {
		name  string
		fault wechattest.Fault
	}{
		{"daily quota", wechattest.Fault{API: wechattest.APIUnlimitedCode, ErrCode: 45009}},
		{"invalid page", wechattest.Fault{API: wechattest.APIUnlimitedCode, ErrCode: 41030}},
		{"JSON error served as image/jpeg", wechattest.Fault{API: wechattest.APIUnlimitedCode, RawBody: true, Body: `{"errcode":45009,"errmsg":"reach max api daily quota limit"}`, ContentType: "image/jpeg"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.Emu.Inject(tc.fault)
			b := s.newBrowser("")
			authURL, _, _, _ := r.start()
			p := b.get(authURL + "&login_method=miniprogram_scan")
			if p.Status != http.StatusServiceUnavailable {
				t.Fatalf("status %d: %.400s", p.Status, p.Body)
			}
			if !strings.Contains(p.Body, "method=website_qr") {
				t.Errorf("no other way in offered: %.800s", p.Body)
			}
			if strings.Contains(p.Body, "/oauth2/scan/") {
				t.Error("a ticket was shown although its code failed")
			}
			// The other way in works.
			link := html.UnescapeString(regexp.MustCompile(`href="(/oauth2/login\?[^"]*method=website_qr[^"]*)"`).FindStringSubmatch(p.Body)[1])
			if next := b.get(link); next.Status != http.StatusFound || !strings.Contains(next.Location, "/connect/qrconnect") {
				t.Fatalf("website QR link: %d %s", next.Status, next.Location)
			}
		})
	}
}

// A thousand browsers wait at once; when they leave, so do their
// goroutines.
func TestScanWaitersLeaveNoGoroutines(t *testing.T) {
	s := newScanStack(t, app.Options{})
	b, ticket, _ := s.startScan(t)
	cookie := ""
	for _, c := range b.client.Jar.Cookies(mustURL(t, s.URL+"/oauth2/scan/")) {
		if c.Name == "wxoidc_browser" {
			cookie = c.Value
		}
	}
	tr := &http.Transport{MaxIdleConnsPerHost: -1, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	before := settledGoroutines(math.MaxInt)
	const n = 1000
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, n)
	for range n {
		go func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/oauth2/scan/"+ticket+"?wait=25", nil)
			req.AddCookie(&http.Cookie{Name: "wxoidc_browser", Value: cookie})
			resp, err := tr.RoundTrip(req)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			done <- err
		}()
	}
	waitFor(t, func() bool { return s.App.Provider.ScanWaiting() == n })
	// Operators see them on /metrics.
	families, err := s.App.Metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	gauge := -1.0
	for _, f := range families {
		if f.GetName() == "wxoidc_scan_waiting_browsers" {
			gauge = f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	if gauge != n {
		t.Errorf("wxoidc_scan_waiting_browsers = %v, want %d", gauge, n)
	}
	cancel()
	for range n {
		<-done
	}
	waitFor(t, func() bool { return s.App.Provider.ScanWaiting() == 0 })
	// Connections just closed take a moment to end their goroutines.
	deadline := time.Now().Add(15 * time.Second)
	for {
		after := settledGoroutines(before)
		if after <= before+5 {
			t.Logf("goroutines: %d before %d waiters, %d after they left", before, n, after)
			return
		}
		if time.Now().After(deadline) {
			var sb strings.Builder
			_ = pprof.Lookup("goroutine").WriteTo(&sb, 1)
			t.Fatalf("goroutines grew from %d to %d:\n%s", before, after, sb.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// settledGoroutines is the lowest goroutine count seen over a short while,
// stopping early once it is at most floor.
func settledGoroutines(floor int) int {
	low := math.MaxInt
	for range 10 {
		low = min(low, runtime.NumGoroutine())
		if low <= floor {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return low
}

// waitFor polls cond until it holds (10 s at most): for states another
// goroutine reaches, never as a timing assertion.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
