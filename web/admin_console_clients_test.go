package web

import (
	"context"
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/admin"
	"github.com/wxoidc/wxoidc/admin/admintest"
	"github.com/wxoidc/wxoidc/config"
	"github.com/wxoidc/wxoidc/internal/testharness"
	"github.com/wxoidc/wxoidc/provider"
	"github.com/wxoidc/wxoidc/storage"
)

// The WeChat apps of the clients fixture, one of each kind a client form
// offers (admintest.AppID is the mini-program).
const (
	consoleWebsiteApp = "wx0000000000website"
	consoleMobileApp  = "wx00000000000mobile"
)

// newClientsFixture is newConsoleFixture with a website and a mobile app
// configured besides the mini-program, so every part of the client forms
// has something to offer.
func newClientsFixture(t *testing.T) *consoleFixture {
	t.Helper()
	clock := testharness.NewClock(time.Now().UTC().Truncate(time.Minute))
	env := admintest.New(t, func(c *admin.Config) {
		c.Now = clock.Now
		c.Keys.Now = clock.Now
		clientsApps(c)
	})
	logs := &testharness.Buffer{}
	h, err := NewAdminHandler(AdminConfig{
		Tokens:  []AdminToken{{Name: "ops", Token: strings.TrimPrefix(opsAuth, "Bearer ")}},
		Service: env.Service,
		Logger:  slog.New(slog.NewJSONHandler(logs, nil)),
		Now:     clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &consoleFixture{t: t, env: env, clock: clock, srv: srv, logs: logs}
}

func clientsApps(c *admin.Config) {
	c.WeChatAppIDs = append(c.WeChatAppIDs, consoleWebsiteApp, consoleMobileApp)
	c.WeChatAppKinds = map[string]string{
		admintest.AppID: config.WeChatKindMiniProgram, consoleWebsiteApp: config.WeChatKindWebsite, consoleMobileApp: config.WeChatKindMobileApp,
	}
}

// webClientForm is the create form of a browser sign-in client, filled in.
func webClientForm(csrf, id string) url.Values {
	return url.Values{
		"csrf": {csrf}, "kind": {"web"}, "id": {id}, "name": {"Web app " + id},
		"auth_method":               {provider.AuthMethodClientSecretBasic},
		"grant":                     {provider.GrantTypeAuthorizationCode, provider.GrantTypeRefreshToken},
		"scopes":                    {"openid phone offline_access"},
		"redirect_uris":             {"https://rp.example.com/cb\r\n\r\nhttps://rp.example.com/cb2?x=1,2\r\n"},
		"post_logout_redirect_uris": {"https://rp.example.com/bye"},
		"wechat_app":                {consoleWebsiteApp},
		"id_token_alg":              {""},
	}
}

var secretField = regexp.MustCompile(`id="client-secret"[^>]*value="([^"]+)"`)

// shownSecret returns the secret a client page shows once, or "".
func shownSecret(body string) string {
	if m := secretField.FindStringSubmatch(body); m != nil {
		return html.UnescapeString(m[1])
	}
	if strings.Contains(body, `id="client-secret"`) {
		return "?"
	}
	return ""
}

func (f *consoleFixture) storedClient(id string) (admin.ClientView, bool) {
	f.t.Helper()
	cv, err := f.env.Service.GetClient(f.t.Context(), id)
	if err != nil {
		return admin.ClientView{}, false
	}
	return cv, true
}

// Creating a confidential client shows its secret on the next page, once:
// not in the redirect, not on a reload, not in the log.
func TestConsoleClientCreateShowsSecretOnce(t *testing.T) {
	f := newClientsFixture(t)
	c := f.client()
	csrf := f.signIn(c, strings.TrimPrefix(opsAuth, "Bearer "))
	en := map[string]string{"Accept-Language": "en"}

	form := f.do(c, "GET", "/admin/ui/clients/new?kind=web", nil, en)
	if form.status != http.StatusOK || !strings.Contains(form.body, consoleWebsiteApp) || strings.Contains(form.body, `value="`+consoleMobileApp+`"`) {
		t.Fatalf("create form: %d (the website app, and not the mobile app, should be offered for browser sign-in)\n%s", form.status, form.body)
	}
	a := f.do(c, "POST", "/admin/ui/clients", webClientForm(csrf, "web-1"), en)
	if a.status != http.StatusSeeOther || a.location != "/admin/ui/clients/web-1" {
		t.Fatalf("create: %d %q %s", a.status, a.location, a.body)
	}
	page := f.do(c, "GET", a.location, nil, en)
	secret := shownSecret(page.body)
	if page.status != http.StatusOK || len(secret) < 32 || !strings.Contains(page.body, "copy it now") || !strings.Contains(page.body, "Client web-1 created.") {
		t.Fatalf("client page after create: %d secret %q\n%s", page.status, secret, page.body)
	}
	if again := f.do(c, "GET", a.location, nil, en); again.status != http.StatusOK || shownSecret(again.body) != "" || strings.Contains(again.body, secret) {
		t.Fatalf("the secret is shown again on reload: %d", again.status)
	}
	if strings.Contains(a.location, secret) || strings.Contains(f.logs.String(), secret) {
		t.Error("the secret leaked into a URL or the log")
	}
	cv, ok := f.storedClient("web-1")
	if !ok || cv.Name != "Web app web-1" || !slices.Equal(cv.RedirectURIs, []string{"https://rp.example.com/cb", "https://rp.example.com/cb2?x=1,2"}) ||
		!slices.Equal(cv.WeChatApps, []string{consoleWebsiteApp}) || !slices.Equal(cv.Scopes, []string{"openid", "phone", "offline_access"}) ||
		cv.IDTokenSignedResponseAlg != "RS256" {
		t.Errorf("stored: %+v", cv)
	}
	if ev, ok := findAudit(t, f.env.Service, "clients.create"); !ok || ev.Actor != "admin-console:ops" || ev.Target != "web-1" {
		t.Errorf("audit: %+v %v", ev, ok)
	}

	// A mini-program client: public, no secret; its grant and ID token
	// algorithm are admin.CreateClient's defaults.
	a = f.do(c, "POST", "/admin/ui/clients", url.Values{"csrf": {csrf}, "kind": {"app"}, "id": {"mp"}, "name": {"小程序"}, "appid": {admintest.AppID}, "scopes": {"openid phone"}}, en)
	if a.status != http.StatusSeeOther {
		t.Fatalf("create app client: %d %s", a.status, a.body)
	}
	page = f.do(c, "GET", a.location, nil, en)
	if shownSecret(page.body) != "" || !strings.Contains(page.body, `id="no-secret"`) {
		t.Errorf("a public client shows a secret box")
	}
	if cv, _ := f.storedClient("mp"); cv.TokenEndpointAuthMethod != provider.AuthMethodNone || !slices.Contains(cv.GrantTypes, provider.GrantTypeWeChat) || cv.IDTokenSignedResponseAlg != "ES256" {
		t.Errorf("app client: %+v", cv)
	}
	// A service client, with a random ID.
	a = f.do(c, "POST", "/admin/ui/clients", url.Values{"csrf": {csrf}, "kind": {"service"}, "name": {"Reports"}, "auth_method": {provider.AuthMethodClientSecretPost}, "scopes": {"api.read"}}, en)
	if a.status != http.StatusSeeOther || !strings.HasPrefix(a.location, "/admin/ui/clients/") {
		t.Fatalf("create service client: %d %s", a.status, a.body)
	}
	page = f.do(c, "GET", a.location, nil, en)
	if shownSecret(page.body) == "" {
		t.Error("a service client's secret is not shown")
	}

	// Rotating makes a new secret, shown once too.
	a = f.do(c, "POST", "/admin/ui/clients/web-1/secret", url.Values{"csrf": {csrf}}, en)
	if a.status != http.StatusSeeOther {
		t.Fatalf("rotate: %d %s", a.status, a.body)
	}
	page = f.do(c, "GET", a.location, nil, en)
	if s := shownSecret(page.body); s == "" || s == secret || !strings.Contains(page.body, "new secret") {
		t.Errorf("rotated secret: %q", s)
	}
	if again := f.do(c, "GET", a.location, nil, en); shownSecret(again.body) != "" {
		t.Error("the rotated secret is shown twice")
	}
}

// Bad input comes back on the form with the reason and what was typed;
// nothing is stored.
func TestConsoleClientBadInput(t *testing.T) {
	f := newClientsFixture(t)
	c := f.client()
	csrf := f.signIn(c, strings.TrimPrefix(opsAuth, "Bearer "))
	en := map[string]string{"Accept-Language": "en"}
	if a := f.do(c, "POST", "/admin/ui/clients", webClientForm(csrf, "taken"), en); a.status != http.StatusSeeOther {
		t.Fatalf("create: %d %s", a.status, a.body)
	}
	for _, tc := range []struct {
		name  string
		edit  func(url.Values)
		words string
	}{
		{"http redirect URI", func(v url.Values) { v.Set("redirect_uris", "http://rp.example.com/cb") }, "redirect_uris"},
		{"redirect URI with a fragment", func(v url.Values) { v.Set("redirect_uris", "https://rp.example.com/cb#frag") }, "redirect_uris"},
		{"no redirect URI", func(v url.Values) { v.Set("redirect_uris", "\r\n") }, "needs at least one redirect URI"},
		{"unknown browser app", func(v url.Values) { v.Set("wechat_app", "wx-not-configured") }, "is not configured under wechat.apps"},
		{"mobile app for browser sign-in", func(v url.Values) { v.Set("wechat_app", consoleMobileApp) }, "cannot sign people in through the browser"},
		{"unknown app binding", func(v url.Values) {
			v.Set("kind", "app")
			v.Set("appid", "wx-not-configured")
		}, "is not configured under wechat.apps"},
		{"duplicate id", func(v url.Values) { v.Set("id", "taken") }, "already exists"},
		{"id with a space", func(v url.Values) { v.Set("id", "has space") }, "printable ASCII"},
		{"overlong name", func(v url.Values) { v.Set("name", strings.Repeat("n", admin.MaxClientNameLength+1)) }, "name must be at most 200 characters"},
		{"private_key_jwt without keys", func(v url.Values) { v.Set("auth_method", provider.AuthMethodPrivateKeyJWT) }, "needs a JWK set"},
		{"JWKS not JSON", func(v url.Values) { v.Set("jwks", "{not json") }, "jwks"},
		{"unconfigured ID token alg", func(v url.Values) { v.Set("id_token_alg", "HS256") }, "id_token_signed_response_alg"},
		{"unknown auth method", func(v url.Values) { v.Set("auth_method", "magic") }, "token_endpoint_auth_method"},
		{"unknown grant", func(v url.Values) { v.Add("grant", "password") }, "unknown grant type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := webClientForm(csrf, "bad-"+strings.ReplaceAll(tc.name, " ", "-"))
			tc.edit(v)
			a := f.do(c, "POST", "/admin/ui/clients", v, en)
			if a.status != http.StatusBadRequest || !strings.Contains(a.body, "Not saved") || !strings.Contains(html.UnescapeString(a.body), tc.words) {
				t.Fatalf("%d, want 400 with %q:\n%s", a.status, tc.words, a.body)
			}
			// What was typed is still there.
			if name := v.Get("name"); len(name) < 100 && !strings.Contains(a.body, `value="`+html.EscapeString(name)+`"`) {
				t.Errorf("the form lost the name %q", name)
			}
			if id := v.Get("id"); id != "taken" {
				if _, ok := f.storedClient(id); ok {
					t.Errorf("client %q was stored", id)
				}
			}
		})
	}
	if list, _ := f.env.Service.ListClients(t.Context()); len(list) != 1 {
		t.Errorf("%d clients after bad input, want 1", len(list))
	}
}

// Editing writes what the form shows; a bad edit comes back with the
// values typed and changes nothing.
func TestConsoleClientEdit(t *testing.T) {
	f := newClientsFixture(t)
	c := f.client()
	csrf := f.signIn(c, strings.TrimPrefix(opsAuth, "Bearer "))
	en := map[string]string{"Accept-Language": "en"}
	f.do(c, "POST", "/admin/ui/clients", webClientForm(csrf, "web"), en)
	edit := url.Values{
		"csrf": {csrf}, "name": {"Renamed"}, "auth_method": {provider.AuthMethodClientSecretBasic},
		"grant": {provider.GrantTypeAuthorizationCode}, "scopes": {"openid wechat"},
		"redirect_uris": {"https://rp.example.com/new"}, "post_logout_redirect_uris": {""},
		"backchannel_logout_uri": {"https://rp.example.com/bc"}, "skip_consent": {"on"}, "require_phone": {"on"},
		"wechat_app": {consoleWebsiteApp, admintest.AppID}, "id_token_alg": {"EdDSA"},
	}
	a := f.do(c, "POST", "/admin/ui/clients/web", edit, en)
	if a.status != http.StatusSeeOther || a.location != "/admin/ui/clients/web" {
		t.Fatalf("edit: %d %s", a.status, a.body)
	}
	cv, _ := f.storedClient("web")
	if cv.Name != "Renamed" || !slices.Equal(cv.GrantTypes, []string{provider.GrantTypeAuthorizationCode}) || !slices.Equal(cv.Scopes, []string{"openid", "wechat"}) ||
		!slices.Equal(cv.RedirectURIs, []string{"https://rp.example.com/new"}) || len(cv.PostLogoutRedirectURIs) != 0 ||
		cv.BackchannelLogoutURI != "https://rp.example.com/bc" || !cv.SkipConsent || !cv.RequirePhone ||
		!slices.Equal(cv.WeChatApps, []string{consoleWebsiteApp, admintest.AppID}) || cv.IDTokenSignedResponseAlg != "EdDSA" {
		t.Errorf("after edit: %+v", cv)
	}
	if ev, ok := findAudit(t, f.env.Service, "clients.update"); !ok || ev.Actor != "admin-console:ops" {
		t.Errorf("audit: %+v %v", ev, ok)
	}

	bad := url.Values{}
	for k, v := range edit {
		bad[k] = v
	}
	bad.Set("name", "Kept as typed")
	bad.Set("redirect_uris", "ftp://rp.example.com/x")
	a = f.do(c, "POST", "/admin/ui/clients/web", bad, en)
	if a.status != http.StatusBadRequest || !strings.Contains(a.body, "Not saved") || !strings.Contains(a.body, `value="Kept as typed"`) || !strings.Contains(a.body, "ftp://rp.example.com/x") {
		t.Fatalf("bad edit: %d\n%s", a.status, a.body)
	}
	if after, _ := f.storedClient("web"); after.Name != "Renamed" {
		t.Errorf("a refused edit changed the client: %+v", after)
	}
	// A client that is gone.
	if a := f.do(c, "POST", "/admin/ui/clients/gone", edit, en); a.status != http.StatusSeeOther || a.location != "/admin/ui/clients" {
		t.Errorf("edit of a missing client: %d %q", a.status, a.location)
	}
	if a := f.do(c, "GET", "/admin/ui/clients/gone", nil, en); a.status != http.StatusNotFound || !strings.Contains(a.body, "No such client") {
		t.Errorf("page of a missing client: %d", a.status)
	}
}

// Disabling, revoking and deleting need the client's ID typed; a mismatch
// changes nothing. A POST without the CSRF token is refused.
func TestConsoleClientDangerousActions(t *testing.T) {
	f := newClientsFixture(t)
	c := f.client()
	csrf := f.signIn(c, strings.TrimPrefix(opsAuth, "Bearer "))
	en := map[string]string{"Accept-Language": "en"}
	f.do(c, "POST", "/admin/ui/clients", webClientForm(csrf, "web"), en)

	if a := f.do(c, "POST", "/admin/ui/clients/web/delete", url.Values{"confirm": {"web"}}, en); a.status != http.StatusForbidden {
		t.Errorf("delete without the CSRF token: %d", a.status)
	}
	for _, action := range []string{"disable", "revoke-tokens", "delete"} {
		a := f.do(c, "POST", "/admin/ui/clients/web/"+action, url.Values{"csrf": {csrf}, "confirm": {"WEB"}, "disabled": {"true"}}, en)
		page := f.do(c, "GET", a.location, nil, en)
		if a.status != http.StatusSeeOther || a.location != "/admin/ui/clients/web" || !strings.Contains(page.body, "does not match") {
			t.Errorf("%s with a wrong confirmation: %d %q", action, a.status, a.location)
		}
	}
	if cv, ok := f.storedClient("web"); !ok || cv.Disabled {
		t.Fatalf("a refused action changed the client: %+v %v", cv, ok)
	}
	for _, action := range []string{"clients.delete", "clients.revoke_tokens"} {
		if _, ok := findAudit(t, f.env.Service, action); ok {
			t.Errorf("audit %s after refused actions", action)
		}
	}

	page := f.do(c, "GET", "/admin/ui/clients/web", nil, en)
	for _, words := range []string{"it gets no new tokens", "JWT access tokens it already holds", "people signed in through it must sign in again", "This cannot be undone"} {
		if !strings.Contains(page.body, words) {
			t.Errorf("the client page does not say %q", words)
		}
	}

	a := f.do(c, "POST", "/admin/ui/clients/web/disable", url.Values{"csrf": {csrf}, "confirm": {"web"}, "disabled": {"true"}}, en)
	page = f.do(c, "GET", a.location, nil, en)
	if cv, _ := f.storedClient("web"); !cv.Disabled || !strings.Contains(page.body, "Client web is disabled.") || !strings.Contains(page.body, "Enable client") {
		t.Errorf("disable: %+v", cv)
	}
	a = f.do(c, "POST", "/admin/ui/clients/web/disable", url.Values{"csrf": {csrf}, "disabled": {"false"}}, en)
	if cv, _ := f.storedClient("web"); a.status != http.StatusSeeOther || cv.Disabled {
		t.Errorf("enable: %d %+v", a.status, cv)
	}
	a = f.do(c, "POST", "/admin/ui/clients/web/revoke-tokens", url.Values{"csrf": {csrf}, "confirm": {"web"}}, en)
	if page := f.do(c, "GET", a.location, nil, en); !strings.Contains(page.body, "0 tokens of client web were revoked.") {
		t.Errorf("revoke: %d %s", a.status, page.body)
	}
	a = f.do(c, "POST", "/admin/ui/clients/web/delete", url.Values{"csrf": {csrf}, "confirm": {"web"}}, en)
	if _, ok := f.storedClient("web"); ok || a.location != "/admin/ui/clients" {
		t.Errorf("delete: %d %q", a.status, a.location)
	}
	if ev, ok := findAudit(t, f.env.Service, "clients.delete"); !ok || ev.Actor != "admin-console:ops" || ev.Target != "web" {
		t.Errorf("delete audit: %+v %v", ev, ok)
	}
}

// IDs that are awkward in a path (a slash, a percent sign, the word "new")
// still reach their client's page.
func TestConsoleClientAwkwardIDs(t *testing.T) {
	f := newClientsFixture(t)
	c := f.client()
	csrf := f.signIn(c, strings.TrimPrefix(opsAuth, "Bearer "))
	for _, id := range []string{"team/app", "50%off", "new", "a?b#c"} {
		a := f.do(c, "POST", "/admin/ui/clients", url.Values{"csrf": {csrf}, "kind": {"service"}, "id": {id}, "auth_method": {provider.AuthMethodClientSecretBasic}}, nil)
		if a.status != http.StatusSeeOther {
			t.Fatalf("create %q: %d %s", id, a.status, a.body)
		}
		page := f.do(c, "GET", a.location, nil, map[string]string{"Accept-Language": "en"})
		if page.status != http.StatusOK || !strings.Contains(page.body, "<h1>Client "+html.EscapeString(id)) || shownSecret(page.body) == "" {
			t.Errorf("%q: page %s: %d", id, a.location, page.status)
		}
		a = f.do(c, "POST", a.location+"/delete", url.Values{"csrf": {csrf}, "confirm": {id}}, nil)
		if _, ok := f.storedClient(id); ok || a.status != http.StatusSeeOther {
			t.Errorf("%q: delete: %d", id, a.status)
		}
	}
}

var clientListRow = regexp.MustCompile(`<tr data-client="([^"]+)">`)
var nextPage = regexp.MustCompile(`href="([^"]+)" id="next-page"`)

// The list pages through 120 clients 50 at a time, each once, in order,
// and filters by ID prefix.
func TestConsoleClientListPages(t *testing.T) {
	f := newClientsFixture(t)
	c := f.client()
	f.signIn(c, strings.TrimPrefix(opsAuth, "Bearer "))
	var want []string
	for i := range 120 {
		id := fmt.Sprintf("client-%03d", i)
		seedClient(t, f.env.Store, id, f.clock.Now())
		want = append(want, id)
	}
	var got []string
	var sizes []int
	path := "/admin/ui/clients"
	for path != "" {
		page := f.do(c, "GET", path, nil, map[string]string{"Accept-Language": "en"})
		if page.status != http.StatusOK {
			t.Fatalf("%s: %d", path, page.status)
		}
		rows := clientListRow.FindAllStringSubmatch(page.body, -1)
		sizes = append(sizes, len(rows))
		for _, m := range rows {
			got = append(got, html.UnescapeString(m[1]))
		}
		path = ""
		if m := nextPage.FindStringSubmatch(page.body); m != nil {
			path = html.UnescapeString(m[1])
		}
		if len(sizes) > 1 && !strings.Contains(page.body, `id="first-page"`) {
			t.Errorf("page %d has no link back to the first", len(sizes))
		}
	}
	if !slices.Equal(got, want) || !slices.Equal(sizes, []int{50, 50, 20}) {
		t.Errorf("pages of %v, %d clients (want 50, 50, 20 and all 120 in order)", sizes, len(got))
	}

	page := f.do(c, "GET", "/admin/ui/clients?q=client-11", nil, nil)
	rows := clientListRow.FindAllStringSubmatch(page.body, -1)
	if len(rows) != 10 || rows[0][1] != "client-110" || strings.Contains(page.body, `id="next-page"`) {
		t.Errorf("filter client-11: %d rows", len(rows))
	}
	page = f.do(c, "GET", "/admin/ui/clients?q=nothing-like-it", nil, map[string]string{"Accept-Language": "en"})
	if !strings.Contains(page.body, "No client ID starts with “nothing-like-it”") {
		t.Errorf("empty filter: %s", page.body)
	}
	if a := f.do(c, "GET", "/admin/ui/clients?q="+strings.Repeat("x", 300), nil, nil); a.status != http.StatusBadRequest {
		t.Errorf("overlong filter: %d", a.status)
	}
}

// seedClient stores a service client directly (no secret hashing), as
// many as a test needs, fast.
func seedClient(tb testing.TB, s storage.ClientStore, id string, now time.Time) {
	tb.Helper()
	err := s.CreateClient(context.Background(), storage.Client{
		ID: id, Name: "Seeded " + id, TokenEndpointAuthMethod: provider.AuthMethodClientSecretBasic, SecretHash: "x",
		GrantTypes: []string{provider.GrantTypeClientCredentials}, Scopes: []string{"api.read"},
		DefaultAudience: admintest.Issuer, CreatedAt: now, UpdatedAt: now,
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkConsoleClientsPage renders one page of the client list (a page
// in the middle) through the admin handler, signed in, with 10,000 clients
// in SQLite.
func BenchmarkConsoleClientsPage(b *testing.B) {
	env := admintest.New(b, clientsApps)
	ctx := context.Background()
	tx, err := env.Store.BeginTx(ctx)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC()
	for i := range 10000 {
		seedClient(b, txStore{env.Store, tx}, fmt.Sprintf("client-%05d", i), now)
	}
	if err := env.Store.Commit(tx); err != nil {
		b.Fatal(err)
	}
	h, err := NewAdminHandler(AdminConfig{Tokens: []AdminToken{{Name: "ops", Token: strings.TrimPrefix(opsAuth, "Bearer ")}}, Service: env.Service})
	if err != nil {
		b.Fatal(err)
	}
	cookies, _ := benchSignIn(b, h)
	serve := func() *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "/admin/ui/clients?after=client-05000", nil)
		req.Header.Set("Cookie", cookies)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	if rec := serve(); rec.Code != http.StatusOK || len(clientListRow.FindAllString(rec.Body.String(), -1)) != 50 {
		b.Fatalf("page: %d", rec.Code)
	}
	b.ResetTimer()
	for b.Loop() {
		if rec := serve(); rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}

// txStore creates clients in the transaction of ctx.
type txStore struct {
	storage.ClientStore
	ctx context.Context
}

func (s txStore) CreateClient(_ context.Context, c storage.Client) error {
	return s.ClientStore.CreateClient(s.ctx, c)
}
