package web

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/admin"
	"github.com/wxoidc/wxoidc/admin/admintest"
	"github.com/wxoidc/wxoidc/internal/testharness"
)

// consoleFixture is the admin listener on a real admin.Service, with a
// manual clock, served over HTTP for a cookie-keeping client or a browser.
type consoleFixture struct {
	t     testing.TB
	env   *admintest.Env
	clock *testharness.Clock
	srv   *httptest.Server
	logs  *testharness.Buffer
}

func newConsoleFixture(t testing.TB) *consoleFixture {
	t.Helper()
	return newConsoleFixtureWith(t, nil)
}

// newConsoleFixtureWith lets modify change the admin listener's
// configuration (with the fixture's clock) before it is built.
func newConsoleFixtureWith(t testing.TB, modify func(*AdminConfig, *testharness.Clock)) *consoleFixture {
	t.Helper()
	clock := testharness.NewClock(time.Now().UTC().Truncate(time.Minute))
	env := admintest.New(t, func(c *admin.Config) {
		c.Now = clock.Now
		c.Keys.Now = clock.Now
	})
	// The key set was bootstrapped on the wall clock: start the manual clock
	// at its newest key, so that keys are not in the clock's future.
	ks, err := env.Service.ListKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range ks {
		if k.CreatedAt.After(clock.Now()) {
			clock.Set(k.CreatedAt)
		}
	}
	logs := &testharness.Buffer{}
	cfg := AdminConfig{
		Tokens: []AdminToken{
			{Name: "ops", Token: strings.TrimPrefix(opsAuth, "Bearer ")},
			{Name: "ci", Token: strings.TrimPrefix(ciAuth, "Bearer ")},
		},
		Service: env.Service,
		Logger:  slog.New(slog.NewJSONHandler(logs, nil)),
		Now:     clock.Now,
	}
	if modify != nil {
		modify(&cfg, clock)
	}
	h, err := NewAdminHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &consoleFixture{t: t, env: env, clock: clock, srv: srv, logs: logs}
}

// client returns an HTTP client that keeps cookies and does not follow
// redirects, so each step's answer can be checked.
func (f *consoleFixture) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type consoleAnswer struct {
	status   int
	location string
	body     string
	header   http.Header
}

func (f *consoleFixture) do(c *http.Client, method, path string, form url.Values, header map[string]string) consoleAnswer {
	f.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(context.Background(), method, f.srv.URL+path, body)
	if err != nil {
		f.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := c.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return consoleAnswer{status: res.StatusCode, location: res.Header.Get("Location"), body: string(raw), header: res.Header}
}

var hiddenField = regexp.MustCompile(`name="(csrf|login_csrf)" value="([^"]+)"`)

// field returns the value of hidden field name in a page.
func field(body, name string) string {
	for _, m := range hiddenField.FindAllStringSubmatch(body, -1) {
		if m[1] == name {
			return m[2]
		}
	}
	return ""
}

// signIn signs c in with token and returns the CSRF token of its session.
func (f *consoleFixture) signIn(c *http.Client, token string) string {
	f.t.Helper()
	login := f.do(c, "GET", "/admin/ui/login", nil, nil)
	a := f.do(c, "POST", "/admin/ui/login", url.Values{"login_csrf": {field(login.body, "login_csrf")}, "token": {token}}, nil)
	if a.status != http.StatusSeeOther || a.location != "/admin/ui/keys" {
		f.t.Fatalf("sign in: %d %s %s", a.status, a.location, a.body)
	}
	page := f.do(c, "GET", "/admin/ui/keys", nil, nil)
	if page.status != http.StatusOK {
		f.t.Fatalf("keys page: %d %s", page.status, page.body)
	}
	return field(page.body, "csrf")
}

func TestConsoleSignIn(t *testing.T) {
	f := newConsoleFixture(t)
	ops := strings.TrimPrefix(opsAuth, "Bearer ")
	c := f.client()

	// No session: a page leads to the sign-in form and back.
	a := f.do(c, "GET", "/admin/ui/keys", nil, nil)
	if a.status != http.StatusSeeOther || a.location != "/admin/ui/login?next=%2Fadmin%2Fui%2Fkeys" {
		t.Fatalf("no session: %d %q", a.status, a.location)
	}
	login := f.do(c, "GET", "/admin/ui/login?next=%2Fadmin%2Fui%2Fkeys", nil, nil)
	for _, h := range []string{"Content-Security-Policy", "X-Frame-Options", "Cache-Control", "Referrer-Policy"} {
		if login.header.Get(h) == "" {
			t.Errorf("sign-in page without %s", h)
		}
	}
	if !strings.Contains(login.header.Get("Content-Security-Policy"), "frame-ancestors 'none'") || login.header.Get("Cache-Control") != "no-store" {
		t.Errorf("headers: %v", login.header)
	}
	loginCSRF := field(login.body, "login_csrf")

	for _, tc := range []struct {
		name  string
		form  url.Values
		hdr   map[string]string
		want  int
		words string
	}{
		{"wrong token", url.Values{"login_csrf": {"current"}, "token": {"not-a-token"}}, nil, http.StatusUnauthorized, "is not an admin token"},
		{"empty token", url.Values{"login_csrf": {"current"}, "token": {"  "}}, nil, http.StatusBadRequest, "Paste a token"},
		{"no form token", url.Values{"token": {ops}}, nil, http.StatusForbidden, "stale"},
		{"wrong form token", url.Values{"login_csrf": {"not-the-cookie"}, "token": {ops}}, nil, http.StatusForbidden, "stale"},
		{"cross-site", url.Values{"login_csrf": {"current"}, "token": {ops}}, map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden, "stale"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{"Accept-Language": "en"}
			for k, v := range tc.hdr {
				hdr[k] = v
			}
			// Each failed attempt re-issues the form's token: "current"
			// stands for the one the last answer carried.
			if tc.form.Get("login_csrf") == "current" {
				tc.form.Set("login_csrf", loginCSRF)
			}
			a := f.do(c, "POST", "/admin/ui/login", tc.form, hdr)
			if a.status != tc.want || !strings.Contains(a.body, tc.words) {
				t.Errorf("%d, want %d with %q: %s", a.status, tc.want, tc.words, a.body)
			}
			if strings.Contains(a.body, ops) || strings.Contains(f.logs.String(), ops) {
				t.Error("the token was echoed")
			}
			if nc := field(a.body, "login_csrf"); nc != "" {
				loginCSRF = nc
			}
		})
	}

	// The right token: a session cookie scoped to the console, then the page
	// asked for.
	a = f.do(c, "POST", "/admin/ui/login", url.Values{"login_csrf": {loginCSRF}, "token": {ops}, "next": {"/admin/ui/keys"}}, nil)
	if a.status != http.StatusSeeOther || a.location != "/admin/ui/keys" {
		t.Fatalf("sign in: %d %q %s", a.status, a.location, a.body)
	}
	ck := a.header.Values("Set-Cookie")
	var sessionCookie string
	for _, v := range ck {
		if strings.HasPrefix(v, "wxoidc_console=") {
			sessionCookie = v
		}
	}
	for _, attr := range []string{"Path=/admin/ui", "HttpOnly", "SameSite=Strict"} {
		if !strings.Contains(sessionCookie, attr) {
			t.Errorf("session cookie %q lacks %s", sessionCookie, attr)
		}
	}
	if strings.Contains(sessionCookie, ops) {
		t.Error("the session cookie holds the token")
	}
	keysPage := f.do(c, "GET", "/admin/ui/keys", nil, nil)
	if keysPage.status != http.StatusOK || !strings.Contains(keysPage.body, "ops") {
		t.Fatalf("keys page: %d", keysPage.status)
	}
	if ev, ok := findAudit(t, f.env.Service, "console.sign_in"); !ok || ev.Actor != "admin-console:ops" {
		t.Errorf("sign-in audit: %+v %v", ev, ok)
	}

	// Sign out: the session ends on the server, not only in the browser.
	csrf := field(keysPage.body, "csrf")
	stolen := f.client()
	u, _ := url.Parse(f.srv.URL + "/admin/ui/")
	stolen.Jar.SetCookies(u, c.Jar.Cookies(u))
	a = f.do(c, "POST", "/admin/ui/logout", url.Values{"csrf": {csrf}}, nil)
	if a.status != http.StatusSeeOther || !strings.HasPrefix(a.location, "/admin/ui/login") {
		t.Fatalf("logout: %d %q", a.status, a.location)
	}
	if a := f.do(stolen, "GET", "/admin/ui/keys", nil, nil); a.status != http.StatusSeeOther || !strings.Contains(a.location, "expired=1") {
		t.Errorf("after logout the old cookie still works: %d %q", a.status, a.location)
	}
	if _, ok := findAudit(t, f.env.Service, "console.sign_out"); !ok {
		t.Error("no sign-out audit entry")
	}
}

// findAudit returns the newest audit event of action.
func findAudit(t *testing.T, svc *admin.Service, action string) (admin.AuditEntry, bool) {
	t.Helper()
	page, err := svc.Audit(t.Context(), 0, admin.MaxAuditLimit)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range page.Events {
		if e.Action == action {
			return e, true
		}
	}
	return admin.AuditEntry{}, false
}

// Every state-changing request needs the session's CSRF token and must not
// come from another site; a refused request changes nothing.
func TestConsoleCSRF(t *testing.T) {
	f := newConsoleFixture(t)
	c := f.client()
	csrf := f.signIn(c, strings.TrimPrefix(opsAuth, "Bearer "))
	f.clock.Advance(10 * time.Minute) // the next keys are publish-safe
	before, _ := f.env.Service.ListKeys(t.Context())
	for _, tc := range []struct {
		name string
		form url.Values
		hdr  map[string]string
	}{
		{"no token", url.Values{"alg": {"ES256"}}, nil},
		{"wrong token", url.Values{"alg": {"ES256"}, "csrf": {csrf + "x"}}, nil},
		{"another session's token", url.Values{"alg": {"ES256"}, "csrf": {f.signIn(f.client(), strings.TrimPrefix(ciAuth, "Bearer "))}}, nil},
		{"cross-site", url.Values{"alg": {"ES256"}, "csrf": {csrf}}, map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{"same-site other origin", url.Values{"alg": {"ES256"}, "csrf": {csrf}}, map[string]string{"Sec-Fetch-Site": "same-site"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := f.do(c, "POST", "/admin/ui/keys/rotate", tc.form, tc.hdr)
			if a.status != http.StatusForbidden || !strings.Contains(a.body, "CSRF") {
				t.Errorf("%d %s", a.status, a.body)
			}
		})
	}
	// No session at all.
	if a := f.do(f.client(), "POST", "/admin/ui/keys/rotate", url.Values{"alg": {"ES256"}, "csrf": {csrf}}, nil); a.status != http.StatusForbidden {
		t.Errorf("no session: %d", a.status)
	}
	after, _ := f.env.Service.ListKeys(t.Context())
	if len(after) != len(before) {
		t.Fatalf("a refused request changed the keys: %d → %d", len(before), len(after))
	}
	for i := range after {
		if after[i] != before[i] {
			t.Fatalf("a refused request changed key %s", after[i].KID)
		}
	}
	// With the token it works.
	if a := f.do(c, "POST", "/admin/ui/keys/rotate", url.Values{"alg": {"ES256"}, "csrf": {csrf}}, nil); a.status != http.StatusSeeOther {
		t.Errorf("rotate with the token: %d %s", a.status, a.body)
	}
	if ev, ok := findAudit(t, f.env.Service, "keys.rotate"); !ok || ev.Actor != "admin-console:ops" {
		t.Errorf("rotation audit: %+v %v", ev, ok)
	}
}

// A session ends after its idle time and after its maximum life.
func TestConsoleSessionExpiry(t *testing.T) {
	f := newConsoleFixture(t)
	c := f.client()
	f.signIn(c, strings.TrimPrefix(opsAuth, "Bearer "))
	f.clock.Advance(29 * time.Minute)
	if a := f.do(c, "GET", "/admin/ui/keys", nil, nil); a.status != http.StatusOK {
		t.Fatalf("after 29 min: %d", a.status)
	}
	f.clock.Advance(31 * time.Minute)
	if a := f.do(c, "GET", "/admin/ui/keys", nil, nil); a.status != http.StatusSeeOther || !strings.Contains(a.location, "expired=1") {
		t.Fatalf("after 31 idle minutes: %d %q", a.status, a.location)
	}
	c = f.client()
	f.signIn(c, strings.TrimPrefix(opsAuth, "Bearer "))
	for range 25 { // used every 29 minutes, for 12 h 5 min
		f.clock.Advance(29 * time.Minute)
		f.do(c, "GET", "/admin/ui/keys", nil, nil)
	}
	if a := f.do(c, "GET", "/admin/ui/keys", nil, nil); a.status != http.StatusSeeOther {
		t.Fatalf("after 12 h: %d", a.status)
	}
}

// The sign-in form's return path stays inside the console.
func TestConsoleNoOpenRedirect(t *testing.T) {
	f := newConsoleFixture(t)
	ops := strings.TrimPrefix(opsAuth, "Bearer ")
	for _, next := range []string{"https://evil.example/", "//evil.example/admin/ui/", "/admin/ui/\\evil", "/elsewhere", "javascript:alert(1)", "/admin/uievil"} {
		c := f.client()
		login := f.do(c, "GET", "/admin/ui/login?next="+url.QueryEscape(next), nil, nil)
		a := f.do(c, "POST", "/admin/ui/login", url.Values{"login_csrf": {field(login.body, "login_csrf")}, "token": {ops}, "next": {next}}, nil)
		if a.location != "/admin/ui/keys" {
			t.Errorf("next=%q: redirected to %q", next, a.location)
		}
		lang := f.do(c, "GET", "/admin/ui/lang?to=en&next="+url.QueryEscape(next), nil, nil)
		if lang.location != "/admin/ui/" {
			t.Errorf("lang next=%q: redirected to %q", next, lang.location)
		}
	}
}
