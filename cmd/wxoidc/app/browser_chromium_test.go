package app_test

import (
	"context"
	"html/template"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/wxoidc/wxoidc/internal/testharness"
	"github.com/wxoidc/wxoidc/provider"
	"github.com/wxoidc/wxoidc/storage"
)

// liveRP is a relying party served over HTTP for a real browser: stock
// x/oauth2 and go-oidc, PKCE, nonce, RP-initiated logout. Its pages name
// their results by element id so that a test can read them.
type liveRP struct {
	t        *testing.T
	srv      *httptest.Server
	conf     oauth2.Config
	verifier *oidc.IDTokenVerifier
	endURL   string
	ctx      context.Context

	mu      sync.Mutex
	pending map[string][2]string // state → nonce, PKCE verifier
	idToken string
}

var rpPage = template.Must(template.New("rp").Parse(`<!doctype html><meta charset="utf-8"><title>RP</title>
{{if .Error}}<p id="error">{{.Error}}</p>{{end}}{{if .Sub}}<p>signed in as <b id="sub">{{.Sub}}</b></p><p id="amr">{{.AMR}}</p><a id="logout" href="/logout">log out</a>{{end}}{{if .Home}}<p id="home">home</p>{{end}}`))

func newLiveRP(t *testing.T, s *stack, clientID string, skipConsent bool) *liveRP {
	t.Helper()
	rp := &liveRP{t: t, pending: map[string][2]string{}}
	mux := http.NewServeMux()
	rp.srv = httptest.NewServer(mux)
	t.Cleanup(rp.srv.Close)

	ctx := context.Background()
	c := storage.Client{
		ID: clientID, Name: "示例应用 Example", TokenEndpointAuthMethod: provider.AuthMethodClientSecretBasic,
		GrantTypes:             []string{provider.GrantTypeAuthorizationCode},
		Scopes:                 []string{"openid", "phone"},
		RedirectURIs:           []string{rp.srv.URL + "/callback"},
		PostLogoutRedirectURIs: []string{rp.srv.URL + "/"},
		SkipConsent:            skipConsent,
		WeChatApps:             []string{appWeb, appOA},
		DefaultAudience:        s.URL,
	}
	createClient(t, s.App, c, rpSecret)
	rp.ctx = oidc.ClientContext(ctx, s.client)
	op, err := oidc.NewProvider(rp.ctx, s.URL)
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		End string `json:"end_session_endpoint"`
	}
	if err := op.Claims(&meta); err != nil || meta.End == "" {
		t.Fatalf("discovery has no end_session_endpoint: %v", err)
	}
	rp.endURL = meta.End
	rp.conf = oauth2.Config{ClientID: clientID, ClientSecret: rpSecret, Endpoint: op.Endpoint(), RedirectURL: rp.srv.URL + "/callback", Scopes: []string{oidc.ScopeOpenID, "phone"}}
	rp.verifier = op.Verifier(&oidc.Config{ClientID: clientID})

	mux.HandleFunc("/login", rp.login)
	mux.HandleFunc("/callback", rp.callback)
	mux.HandleFunc("/logout", rp.logout)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { rp.render(w, map[string]any{"Home": true}) })
	return rp
}

func (rp *liveRP) render(w http.ResponseWriter, data map[string]any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = rpPage.Execute(w, data)
}

func (rp *liveRP) login(w http.ResponseWriter, r *http.Request) {
	state, nonce, verifier := randomString(), randomString(), oauth2.GenerateVerifier()
	rp.mu.Lock()
	rp.pending[state] = [2]string{nonce, verifier}
	rp.mu.Unlock()
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce)}
	if p := r.URL.Query().Get("prompt"); p != "" {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", p))
	}
	if l := r.URL.Query().Get("ui_locales"); l != "" {
		opts = append(opts, oauth2.SetAuthURLParam("ui_locales", l))
	}
	http.Redirect(w, r, rp.conf.AuthCodeURL(state, opts...), http.StatusFound)
}

func (rp *liveRP) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	rp.mu.Lock()
	p, ok := rp.pending[q.Get("state")]
	delete(rp.pending, q.Get("state"))
	rp.mu.Unlock()
	switch {
	case !ok:
		rp.render(w, map[string]any{"Error": "unknown state"})
		return
	case q.Get("error") != "":
		rp.render(w, map[string]any{"Error": q.Get("error")})
		return
	}
	tok, err := rp.conf.Exchange(rp.ctx, q.Get("code"), oauth2.VerifierOption(p[1]))
	if err != nil {
		rp.render(w, map[string]any{"Error": "exchange: " + err.Error()})
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	id, err := rp.verifier.Verify(rp.ctx, raw)
	if err != nil || id.Nonce != p[0] {
		rp.render(w, map[string]any{"Error": "id token rejected"})
		return
	}
	var claims struct {
		AMR []string `json:"amr"`
	}
	_ = id.Claims(&claims)
	rp.mu.Lock()
	rp.idToken = raw
	rp.mu.Unlock()
	rp.render(w, map[string]any{"Sub": id.Subject, "AMR": strings.Join(claims.AMR, " ")})
}

func (rp *liveRP) logout(w http.ResponseWriter, r *http.Request) {
	rp.mu.Lock()
	hint := rp.idToken
	rp.mu.Unlock()
	q := url.Values{"post_logout_redirect_uri": {rp.srv.URL + "/"}, "state": {"rp-logout-state"}}
	if hint != "" && r.URL.Query().Get("nohint") == "" {
		q.Set("id_token_hint", hint)
	} else {
		q.Set("client_id", rp.conf.ClientID)
	}
	http.Redirect(w, r, rp.endURL+"?"+q.Encode(), http.StatusFound)
}

// run runs chromedp actions with a deadline.
func run(t *testing.T, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		// Where it stopped, and what it showed, with a fresh deadline.
		loc, _ := chromedp.Run(context.WithoutCancel(ctx), chromedp.Location())
		html, _ := chromedp.Run(context.WithoutCancel(ctx), chromedp.Evaluate[string](`document.documentElement.outerHTML.slice(600, 3000)`))
		t.Fatalf("browser: %v (at %s): %s", err, loc, html)
	}
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	run(t, ctx, chromedp.WaitVisible(sel))
	s, err := chromedp.Run(ctx, chromedp.Text(sel))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// waitLocation waits until the page's URL contains want (navigations
// in between are expected, so a failed look is only retried).
func waitLocation(t *testing.T, ctx context.Context, want string) {
	t.Helper()
	var loc string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if l, err := chromedp.Run(ctx, chromedp.Location()); err == nil {
			loc = l
			if strings.Contains(l, want) {
				return
			}
		}
	}
	t.Fatalf("the browser never reached a URL with %q; at %s", want, loc)
}

func location(t *testing.T, ctx context.Context) string {
	t.Helper()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// approveAtWeChat plays the person on the emulator's WeChat page.
func approveAtWeChat(t *testing.T, ctx context.Context, user, shot string) {
	t.Helper()
	run(t, ctx, chromedp.WaitVisible(`#user`))
	testharness.Screenshot(t, ctx, shot)
	run(t, ctx, chromedp.SetValue(`#user`, user), chromedp.Click(`button.approve`))
}

// Desktop: the login page, WeChat's QR page (the emulator's), back signed
// in; prompt=none with a session; logout with and without confirmation.
func TestChromiumDesktopSignIn(t *testing.T) {
	s := newBrowserStack(t)
	rp := newLiveRP(t, s, "chromium-first", true)
	ctx := testharness.NewBrowser(t, testharness.Desktop())

	run(t, ctx, chromedp.Navigate(rp.srv.URL+"/login"), chromedp.WaitVisible(`a[href^="/oauth2/login"]`))
	testharness.Screenshot(t, ctx, "login")
	run(t, ctx, chromedp.Click(`a[href^="/oauth2/login"]`))
	approveAtWeChat(t, ctx, "alice", "wechat-qr")
	sub := text(t, ctx, "#sub")
	if sub == "" || text(t, ctx, "#amr") != "wechat" {
		t.Fatalf("signed in as %q", sub)
	}
	testharness.Screenshot(t, ctx, "signed-in")

	// A session: prompt=none gives a code without any page.
	run(t, ctx, chromedp.Navigate(rp.srv.URL+"/login?prompt=none"))
	if got := text(t, ctx, "#sub"); got != sub {
		t.Fatalf("prompt=none with a session: %q, want %q", got, sub)
	}

	// Logout without a hint asks first; the confirmation signs out.
	run(t, ctx, chromedp.Navigate(rp.srv.URL+"/logout?nohint=1"), chromedp.WaitVisible(`form[action="/oauth2/logout"] button[type=submit]`))
	testharness.Screenshot(t, ctx, "logout-confirm")
	run(t, ctx, chromedp.Click(`form[action="/oauth2/logout"] button[type=submit]`))
	text(t, ctx, "#home")

	// Signed out: prompt=none now answers login_required.
	run(t, ctx, chromedp.Navigate(rp.srv.URL+"/login?prompt=none"))
	if got := text(t, ctx, "#error"); got != "login_required" {
		t.Fatalf("prompt=none after logout: %q", got)
	}

	// Sign in again, then log out with the ID token as hint: no question.
	run(t, ctx, chromedp.Navigate(rp.srv.URL+"/login"), chromedp.Click(`a[href^="/oauth2/login"]`))
	approveAtWeChat(t, ctx, "alice", "wechat-qr-again")
	text(t, ctx, "#sub")
	run(t, ctx, chromedp.Click(`#logout`))
	text(t, ctx, "#home")
}

// Consent: a third-party client shows the consent page; deny goes back
// with access_denied, allow signs in.
func TestChromiumConsent(t *testing.T) {
	s := newBrowserStack(t)
	rp := newLiveRP(t, s, "chromium-third", false)
	ctx := testharness.NewBrowser(t, testharness.Desktop())

	run(t, ctx, chromedp.Navigate(rp.srv.URL+"/login?ui_locales=en"), chromedp.Click(`a[href^="/oauth2/login"]`))
	approveAtWeChat(t, ctx, "carol", "wechat-qr")
	run(t, ctx, chromedp.WaitVisible(`form[action="/oauth2/consent"]`))
	testharness.Screenshot(t, ctx, "consent-en")
	run(t, ctx, chromedp.Click(`button[value="deny"]`))
	if got := text(t, ctx, "#error"); got != "access_denied" {
		t.Fatalf("deny: %q", got)
	}

	run(t, ctx, chromedp.Navigate(rp.srv.URL+"/login?ui_locales=zh-CN"), chromedp.WaitVisible(`form[action="/oauth2/consent"]`))
	testharness.Screenshot(t, ctx, "consent-zh")
	run(t, ctx, chromedp.Click(`button[value="allow"]`))
	if text(t, ctx, "#sub") == "" {
		t.Fatal("no sub after consent")
	}
}

// Inside WeChat (phone, MicroMessenger): a new person is sent to the
// official account's OAuth twice (silent, then snsapi_userinfo once); a
// known person once, silently.
func TestChromiumInsideWeChat(t *testing.T) {
	s := newBrowserStack(t)
	rp := newLiveRP(t, s, "chromium-wechat", true)

	ctx := testharness.NewBrowser(t, testharness.Phone())
	run(t, ctx, chromedp.Navigate(rp.srv.URL+"/login"))
	approveAtWeChat(t, ctx, "erin", "oa-base")
	// A new person: sent back to WeChat for snsapi_userinfo.
	waitLocation(t, ctx, "scope=snsapi_userinfo")
	approveAtWeChat(t, ctx, "erin", "oa-userinfo")
	sub := text(t, ctx, "#sub")
	testharness.Screenshot(t, ctx, "signed-in")

	ctx2 := testharness.NewBrowser(t, testharness.Phone())
	run(t, ctx2, chromedp.Navigate(rp.srv.URL+"/login"))
	approveAtWeChat(t, ctx2, "erin", "oa-known")
	if got := text(t, ctx2, "#sub"); got != sub {
		t.Fatalf("known person: sub %q, want %q", got, sub)
	}
}

// Pages that say something went wrong, as a person sees them.
func TestChromiumErrorPages(t *testing.T) {
	s := newBrowserStack(t)
	ctx := testharness.NewBrowser(t, testharness.Phone())
	q := url.Values{"client_id": {rpFirst}, "redirect_uri": {"https://evil.example.com/cb"}, "response_type": {"code"}, "scope": {"openid"}, "state": {"state-12345678"}}
	run(t, ctx, chromedp.Navigate(s.URL+"/oauth2/authorize?"+q.Encode()), chromedp.WaitVisible(`body`))
	if loc := location(t, ctx); !strings.HasPrefix(loc, s.URL) {
		t.Fatalf("an unregistered redirect URI was followed: %s", loc)
	}
	testharness.Screenshot(t, ctx, "bad-redirect-uri")
	run(t, ctx, chromedp.Navigate(s.URL+"/oauth2/wechat/callback?code=x&state=forged"), chromedp.WaitVisible(`body`))
	testharness.Screenshot(t, ctx, "flow-expired")
	// Signed out (nobody was signed in): our own page, in Chinese.
	run(t, ctx, chromedp.Navigate(s.URL+"/oauth2/logout?ui_locales=zh-CN"), chromedp.WaitVisible(`h1`))
	if h := text(t, ctx, "h1"); !strings.ContainsFunc(h, func(r rune) bool { return r >= 0x4e00 && r <= 0x9fff }) {
		t.Errorf("logged-out page heading %q is not Chinese", h)
	}
	testharness.Screenshot(t, ctx, "logged-out-zh")
}
