package app_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/wxoidc/wxoidc/cmd/wxoidc/app"
	"github.com/wxoidc/wxoidc/config"
	"github.com/wxoidc/wxoidc/provider"
	"github.com/wxoidc/wxoidc/storage"
	"github.com/wxoidc/wxoidc/wechat/wechattest"
)

// Browser sign-in fixtures: a website app and an official account bound to
// the same open platform as appA and appB, and the relying parties.
const (
	appWeb      = "wx00000000000000c1"
	appOA       = "wx00000000000000c2"
	secretWeb   = "secret-of-website-app-0123"
	secretOA    = "secret-of-official-acct-01"
	rpFirst     = "rp-first-party" // confidential, skip_consent
	rpThird     = "rp-third-party" // confidential, asks for consent
	rpPublic    = "rp-public"      // public (SPA/native): PKCE required
	rpSecret    = "rp-secret-for-browser-tests"
	rpCallback  = "https://rp.example.com/callback"
	rpLoggedOut = "https://rp.example.com/"
	loopbackCB  = "http://127.0.0.1/callback"
	wechatUA    = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.47(0x18002f2f) NetType/WIFI Language/zh_CN"
)

// withBrowserApps registers the web apps in the config; browserStack
// registers them in the emulator.
func withBrowserApps(c *config.Config) {
	c.WeChat.BrowserBaseURL = c.WeChat.BaseURL
	c.WeChat.Apps = append(c.WeChat.Apps,
		config.WeChatApp{AppID: appWeb, Secret: config.InlineSecret(secretWeb), Kind: provider.AppKindWebsite, OpenPlatform: platform},
		config.WeChatApp{AppID: appOA, Secret: config.InlineSecret(secretOA), Kind: provider.AppKindOfficialAccount, OpenPlatform: platform},
	)
}

func newBrowserStack(t *testing.T, opts ...stackOption) *stack {
	t.Helper()
	return newBrowserStackWith(t, app.Options{}, opts...)
}

func newBrowserStackWith(t *testing.T, appOpts app.Options, opts ...stackOption) *stack {
	t.Helper()
	s := newStackWith(t, appOpts, append([]stackOption{withBrowserApps}, opts...)...)
	s.Emu.RegisterApp(wechattest.App{AppID: appWeb, Secret: secretWeb, Kind: wechattest.KindWebsite, OpenPlatformID: platform})
	s.Emu.RegisterApp(wechattest.App{AppID: appOA, Secret: secretOA, Kind: wechattest.KindOfficialAccount, OpenPlatformID: platform})
	web := func(id string, skipConsent bool) storage.Client {
		return storage.Client{
			ID: id, Name: "Example " + id, TokenEndpointAuthMethod: provider.AuthMethodClientSecretBasic,
			GrantTypes:             []string{provider.GrantTypeAuthorizationCode, provider.GrantTypeRefreshToken},
			Scopes:                 []string{"openid", "phone", "wechat", "offline_access"},
			RedirectURIs:           []string{rpCallback},
			PostLogoutRedirectURIs: []string{rpLoggedOut},
			SkipConsent:            skipConsent,
			WeChatApps:             []string{appWeb, appOA},
			DefaultAudience:        s.URL,
		}
	}
	public := storage.Client{
		ID: rpPublic, Name: "Example SPA", TokenEndpointAuthMethod: provider.AuthMethodNone,
		GrantTypes:   []string{provider.GrantTypeAuthorizationCode, provider.GrantTypeRefreshToken},
		Scopes:       []string{"openid", "phone", "offline_access"},
		RedirectURIs: []string{loopbackCB, rpCallback},
		SkipConsent:  true,
		WeChatApps:   []string{appWeb, appOA},
	}
	createClient(t, s.App, web(rpFirst, true), rpSecret)
	createClient(t, s.App, web(rpThird, false), rpSecret)
	createClient(t, s.App, public, "")
	return s
}

// browser is a person's browser: cookies kept, redirects followed by hand.
type browser struct {
	t      *testing.T
	s      *stack
	client *http.Client
	ua     string
}

func (s *stack) newBrowser(ua string) *browser {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{
		Jar:           jar,
		Transport:     s.client.Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &browser{t: s.t, s: s, client: c, ua: ua}
}

type page struct {
	Status   int
	Location string
	Body     string
	Header   http.Header
}

func (b *browser) do(method, target string, form url.Values) page {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if b.ua != "" {
		req.Header.Set("User-Agent", b.ua)
	}
	req.Header.Set("Accept-Language", "zh-CN,zh;q=0.9,en;q=0.8")
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return page{Status: resp.StatusCode, Location: resp.Header.Get("Location"), Body: string(raw), Header: resp.Header}
}

func (b *browser) get(target string) page { return b.do(http.MethodGet, b.abs(target), nil) }

func (b *browser) abs(target string) string {
	if strings.HasPrefix(target, "/") {
		return b.s.URL + target
	}
	return target
}

// follow follows redirects from target until one leaves for the relying
// party (rp.example.com or the loopback callback) or a page answers. A
// redirect to the emulator's WeChat page gets &user=NAME, which approves
// at once (or &deny=1 when user is "").
func (b *browser) follow(target, user string) page {
	b.t.Helper()
	for i := 0; i < 12; i++ {
		p := b.get(target)
		if p.Location == "" {
			return p
		}
		next := p.Location
		if strings.HasPrefix(next, "https://rp.example.com") || strings.HasPrefix(next, "http://127.0.0.1/") {
			return p
		}
		if strings.Contains(next, "/connect/qrconnect") || strings.Contains(next, "/connect/oauth2/authorize") {
			next = strings.SplitN(next, "#", 2)[0]
			if user == "" {
				next += "&deny=1"
			} else {
				next += "&user=" + url.QueryEscape(user)
			}
		}
		target = b.abs(next)
	}
	b.t.Fatalf("too many redirects from %s", target)
	return page{}
}

var hrefLogin = regexp.MustCompile(`href="(/oauth2/login\?[^"]+)"`)

// loginLink returns the login page's link for the website QR method.
func loginLink(t *testing.T, p page) string {
	t.Helper()
	m := hrefLogin.FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatalf("no sign-in link on the login page (%d): %.400s", p.Status, p.Body)
	}
	return html.UnescapeString(m[1])
}

var hiddenField = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)"`)

// formFields returns a page's hidden form fields.
func formFields(p page) url.Values {
	out := url.Values{}
	for _, m := range hiddenField.FindAllStringSubmatch(p.Body, -1) {
		out.Add(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	return out
}

// rp is a relying party using stock libraries: x/oauth2 and go-oidc.
type rp struct {
	conf     oauth2.Config
	verifier *oidc.IDTokenVerifier
	ctx      context.Context
}

func (s *stack) newRP(clientID, secret, redirect string, scopes ...string) *rp {
	s.t.Helper()
	ctx := oidc.ClientContext(context.Background(), s.client)
	op, err := oidc.NewProvider(ctx, s.URL)
	if err != nil {
		s.t.Fatalf("go-oidc discovery: %v", err)
	}
	ep := op.Endpoint()
	// Say how the client authenticates: auto-detection would retry a
	// refused exchange with the other method and report that answer.
	ep.AuthStyle = oauth2.AuthStyleInHeader
	if secret == "" {
		ep.AuthStyle = oauth2.AuthStyleInParams
	}
	return &rp{
		conf:     oauth2.Config{ClientID: clientID, ClientSecret: secret, Endpoint: ep, RedirectURL: redirect, Scopes: scopes},
		verifier: op.Verifier(&oidc.Config{ClientID: clientID}),
		ctx:      ctx,
	}
}

// start returns an authorization URL with PKCE, state and nonce.
func (r *rp) start(extra ...oauth2.AuthCodeOption) (authURL, state, nonce, verifier string) {
	state, nonce, verifier = randomString(), randomString(), oauth2.GenerateVerifier()
	opts := append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce)}, extra...)
	return r.conf.AuthCodeURL(state, opts...), state, nonce, verifier
}

// callback checks the redirect back to the RP and returns its code.
func callbackCode(t *testing.T, p page, state string) string {
	t.Helper()
	if p.Status != http.StatusSeeOther && p.Status != http.StatusFound {
		t.Fatalf("want a redirect to the relying party, got %d %s", p.Status, p.Body)
	}
	u, err := url.Parse(p.Location)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if q.Get("error") != "" {
		t.Fatalf("authorization error: %s: %s", q.Get("error"), q.Get("error_description"))
	}
	if q.Get("state") != state {
		t.Fatalf("state = %q, want %q", q.Get("state"), state)
	}
	if q.Get("iss") == "" {
		t.Fatal("no RFC 9207 iss in the authorization response")
	}
	return q.Get("code")
}

// callbackError returns the error code of a redirect back to the RP.
func callbackError(t *testing.T, p page) url.Values {
	t.Helper()
	u, err := url.Parse(p.Location)
	if err != nil || p.Location == "" {
		t.Fatalf("want an error redirect, got %d %q %.300s", p.Status, p.Location, p.Body)
	}
	return u.Query()
}

func (r *rp) exchange(t *testing.T, code, verifier string) (*oauth2.Token, *oidc.IDToken) {
	t.Helper()
	tok, err := r.conf.Exchange(r.ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("code exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	id, err := r.verifier.Verify(r.ctx, raw)
	if err != nil {
		t.Fatalf("go-oidc rejected the ID token: %v", err)
	}
	return tok, id
}

func randomString() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
