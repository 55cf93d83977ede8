package main

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// tokenResponse posts a token request and decodes the answer; basic, when
// not empty, is the client's id and secret.
func tokenResponse(t *testing.T, issuer string, form url.Values, basic ...string) (idToken, accessToken string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, issuer+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if len(basic) == 2 {
		req.SetBasicAuth(url.QueryEscape(basic[0]), url.QueryEscape(basic[1]))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var tok struct {
		AccessToken string `json:"access_token"`
		IDToken     string `json:"id_token"`
	}
	if err := json.Unmarshal(raw, &tok); err != nil || resp.StatusCode != http.StatusOK || tok.IDToken == "" {
		t.Fatalf("token (%s): %d %s", form.Get("grant_type"), resp.StatusCode, raw)
	}
	return tok.IDToken, tok.AccessToken
}

// verifiedClaims verifies an ID token for audience with go-oidc and returns
// its claims.
func verifiedClaims(t *testing.T, issuer, audience, idToken string) map[string]any {
	t.Helper()
	p, err := oidc.NewProvider(context.Background(), issuer)
	if err != nil {
		t.Fatal(err)
	}
	idt, err := p.Verifier(&oidc.Config{ClientID: audience}).Verify(context.Background(), idToken)
	if err != nil {
		t.Fatalf("go-oidc (%s): %v", audience, err)
	}
	claims := map[string]any{}
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// checkAppStep follows the printed mobile app steps (7, 8): the Open SDK
// code of alice, traded with the printed form, is alice's account, the one
// the mini-program steps signed in (wantSub).
func checkAppStep(t *testing.T, w printedSteps, wantSub string) {
	t.Helper()
	call := w.emulatorCalls[2]
	if call.path != devEmulatorPrefix+"/app-login" {
		t.Fatalf("third emulator call %s, want the app login", call.path)
	}
	login := postJSON(t, w.issuer+call.path, call.body)
	form := w.appTokenForm
	form.Set("code", login["code"])
	idToken, _ := tokenResponse(t, w.issuer, form)
	claims := verifiedClaims(t, w.issuer, form.Get("client_id"), idToken)
	if claims["sub"] != wantSub || wantSub == "" {
		t.Errorf("mobile app sub %v, want the mini-program's %q", claims["sub"], wantSub)
	}
	if claims["wechat_appid"] != devMobileAppID {
		t.Errorf("mobile app wechat_appid %v, want %s", claims["wechat_appid"], devMobileAppID)
	}
}

var (
	reLoginLink = regexp.MustCompile(`href="(/oauth2/login\?[^"]*method=website_qr[^"]*)"`)
	reScanLink  = regexp.MustCompile(`href="(/oauth2/login\?[^"]*method=miniprogram_scan[^"]*)"`)
	reScanImage = regexp.MustCompile(`src="/oauth2/scan/([A-Z2-7]+)/image"`)
)

// cookieBrowser is a browser without JavaScript: it keeps cookies and
// follows no redirect; get answers a GET's status, Location and body.
func cookieBrowser(t *testing.T) (get func(u string) (status int, location, body string)) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return func(u string) (int, string, string) {
		t.Helper()
		resp, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Location"), string(raw)
	}
}

// checkScanStep follows the printed scan section: a browser opens the
// printed authorization request and picks "scan" on the login page; the
// printed phone steps run in bash (they scan the code shown last); the
// page's status turns approved and its continue link signs alice in to
// demo-web, as the mini-program's sub (wantSub).
func checkScanStep(t *testing.T, w printedSteps, wantSub string) {
	t.Helper()
	if w.scanScript == "" {
		t.Fatal("no scan section in the walkthrough")
	}
	for _, tool := range []string{"bash", "curl", "sed"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not available: %v", tool, err)
		}
	}
	get := cookieBrowser(t)
	_, _, login := get(w.authorizeURL)
	m := reScanLink.FindStringSubmatch(login)
	if m == nil {
		t.Fatalf("the login page offers no scan: %.400s", login)
	}
	status, _, page := get(w.issuer + html.UnescapeString(m[1]))
	ticket := reScanImage.FindStringSubmatch(page)
	if status != http.StatusOK || ticket == nil {
		t.Fatalf("scan page: %d %.400s", status, page)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", "set -e\nI="+w.issuer+"\n"+w.scanScript)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.Count(string(out), `"status"`) != 2 || !strings.Contains(string(out), `"status": "approved"`) {
		t.Fatalf("printed scan steps: %v\n%s", err, out)
	}

	_, _, st := get(w.issuer + "/oauth2/scan/" + ticket[1])
	var answer struct {
		Status      string `json:"status"`
		ContinueURL string `json:"continue_url"`
	}
	if err := json.Unmarshal([]byte(st), &answer); err != nil || answer.Status != "approved" {
		t.Fatalf("status after the printed steps: %s", st)
	}
	_, loc, _ := get(w.issuer + answer.ContinueURL)
	back, err := url.Parse(loc)
	if err != nil || !strings.HasPrefix(loc, devWebRedirectURI+"?") || back.Query().Get("code") == "" {
		t.Fatalf("continue: %q", loc)
	}
	exchange := url.Values{"grant_type": {"authorization_code"}, "code": {back.Query().Get("code")}, "redirect_uri": {devWebRedirectURI}}
	idToken, _ := tokenResponse(t, w.issuer, exchange, devWeb, devWebSecret)
	claims := verifiedClaims(t, w.issuer, devWeb, idToken)
	if claims["sub"] != wantSub || claims["wechat_appid"] != devAppID {
		t.Errorf("scan sign-in claims %v, want sub %q and the mini-program", claims, wantSub)
	}
}

// checkBrowserStep opens the printed authorization request as a browser
// would (cookies, no JavaScript), takes the login page's WeChat link, adds
// the emulator's &user=alice shortcut, and follows the redirects to the
// seeded redirect URI; demo-web then trades the code for alice's ID token.
func checkBrowserStep(t *testing.T, w printedSteps, wantSub string) {
	t.Helper()
	if want := "go run ./examples/web-rp -issuer " + w.issuer; w.webRP != want {
		t.Errorf("web-rp command %q, want %q", w.webRP, want)
	}
	authz, err := url.Parse(w.authorizeURL)
	if err != nil || !strings.HasPrefix(w.authorizeURL, w.issuer+"/oauth2/authorize?") {
		t.Fatalf("printed authorization request %q: %v", w.authorizeURL, err)
	}
	get := cookieBrowser(t)
	status, _, body := get(w.authorizeURL)
	m := reLoginLink.FindStringSubmatch(body)
	if status != http.StatusOK || m == nil {
		t.Fatalf("authorization request: %d, no login link: %.400s", status, body)
	}
	next := w.issuer + html.UnescapeString(m[1])
	for hop := 0; ; hop++ {
		if hop == 10 {
			t.Fatal("too many redirects")
		}
		status, loc, body := get(next)
		if loc == "" {
			t.Fatalf("%s: %d without a redirect: %.400s", next, status, body)
		}
		if strings.HasPrefix(loc, devWebRedirectURI+"?") {
			next = loc
			break
		}
		if strings.Contains(loc, "/connect/qrconnect") {
			// The shortcut the banner explains, before WeChat's fragment.
			loc = strings.SplitN(loc, "#", 2)[0] + "&user=alice"
		}
		if strings.HasPrefix(loc, "/") {
			loc = w.issuer + loc
		}
		next = loc
	}
	back, _ := url.Parse(next)
	q := back.Query()
	if q.Get("state") != authz.Query().Get("state") || q.Get("iss") != w.issuer || q.Get("code") == "" {
		t.Fatalf("redirect back: %s", next)
	}
	exchange := url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "redirect_uri": {devWebRedirectURI}}
	idToken, accessToken := tokenResponse(t, w.issuer, exchange, devWeb, devWebSecret)
	claims := verifiedClaims(t, w.issuer, devWeb, idToken)
	if claims["sub"] != wantSub || claims["nonce"] != authz.Query().Get("nonce") || claims["wechat_appid"] != devWebsiteAppID {
		t.Errorf("browser sign-in claims %v, want sub %q, the printed nonce and the website app", claims, wantSub)
	}

	// docs/contract.md §1.5: the code is single use, and a replay revokes
	// what the first use issued.
	req, _ := http.NewRequest(http.MethodPost, w.issuer+"/oauth2/token", strings.NewReader(exchange.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(devWeb, devWebSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(raw), "invalid_grant") {
		t.Errorf("code replay: %d %s, want 400 invalid_grant", resp.StatusCode, raw)
	}
	req, _ = http.NewRequest(http.MethodGet, w.issuer+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+accessToken)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("userinfo with the access token of a replayed code: %v %v, want 401", resp, err)
	} else {
		resp.Body.Close()
	}
}
