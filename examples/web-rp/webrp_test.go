package main

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/internal/testharness"
)

// devProvider is a `wxoidc dev` subprocess on free loopback ports.
type devProvider struct {
	issuer, admin string
}

func startDev(t *testing.T) devProvider {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: builds and runs wxoidc dev")
	}
	bin := testharness.BuildWxoidc(t)
	addr, adminAddr := testharness.FreeAddr(t), testharness.FreeAddr(t)
	logs := &testharness.Buffer{}
	cmd := exec.Command(bin, "dev", "--addr", addr, "--admin-addr", adminAddr, "--data", filepath.Join(t.TempDir(), "data"))
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("wxoidc dev output:\n%s", logs)
		}
	})
	d := devProvider{issuer: "http://" + addr, admin: "http://" + adminAddr}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(d.issuer + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return d
			}
		}
		select {
		case err := <-done:
			t.Fatalf("wxoidc dev exited: %v\n%s", err, logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("wxoidc dev not ready: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// createClient registers a web client like demo-web whose redirect URIs
// point at baseURL, through the dev admin API, and returns its secret.
func (d devProvider) createClient(t *testing.T, id, baseURL string, apps ...string) string {
	t.Helper()
	if len(apps) == 0 {
		apps = []string{"wx00000000000000a1", "wx00000000000000a2"}
	}
	body, _ := json.Marshal(map[string]any{
		"client_id": id, "name": "web-rp test", "token_endpoint_auth_method": "client_secret_basic",
		"grant_types": []string{"authorization_code", "refresh_token"}, "scopes": []string{"openid", "phone", "wechat", "offline_access"},
		"redirect_uris": []string{baseURL + "/callback"}, "post_logout_redirect_uris": []string{baseURL + "/"},
		"skip_consent": true, "wechat_apps": apps,
	})
	req, _ := http.NewRequest(http.MethodPost, d.admin+"/admin/v1/clients", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer dev-admin-token")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var c struct {
		Secret string `json:"client_secret"`
	}
	if err := json.Unmarshal(raw, &c); err != nil || resp.StatusCode != http.StatusCreated || c.Secret == "" {
		t.Fatalf("create client: %d %s", resp.StatusCode, raw)
	}
	return c.Secret
}

// browser is a net/http client with cookies that follows redirects by
// hand, as a browser without JavaScript would.
type browser struct {
	t *testing.T
	c *http.Client
}

func newBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type answer struct {
	url      string
	status   int
	location string // absolute
	body     string
}

func (b *browser) do(method, target string) answer {
	b.t.Helper()
	req, err := http.NewRequest(method, target, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{url: target, status: resp.StatusCode, body: string(raw)}
	if loc, err := resp.Location(); err == nil {
		a.location = loc.String()
	}
	return a
}

// follow follows redirects from a until a page answers. On the way, the
// emulator's WeChat QR page gets &user=NAME, which approves at once.
func (b *browser) follow(a answer, user string) answer {
	b.t.Helper()
	for hop := 0; a.location != ""; hop++ {
		if hop == 12 {
			b.t.Fatalf("too many redirects, at %s", a.url)
		}
		next := a.location
		if strings.Contains(next, "/connect/qrconnect") {
			next = strings.SplitN(next, "#", 2)[0] + "&user=" + url.QueryEscape(user)
		}
		a = b.do(http.MethodGet, next)
	}
	return a
}

var loginLink = regexp.MustCompile(`href="(/oauth2/login\?[^"]+)"`)

// startRP runs web-rp's handler on a free loopback port with a client of
// its own, registered at d.
func startRP(t *testing.T, d devProvider, clientID string, apps ...string) (base string) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	base = "http://" + srv.Listener.Addr().String()
	secret := d.createClient(t, clientID, base, apps...)
	h, err := newServer(context.Background(), config{Issuer: d.issuer, ClientID: clientID, ClientSecret: secret, BaseURL: base})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = h
	srv.Start()
	t.Cleanup(srv.Close)
	return base
}

// TestAgainstDev drives web-rp against a real `wxoidc dev`.
func TestAgainstDev(t *testing.T) {
	d := startDev(t)
	t.Run("sign in and out", func(t *testing.T) { testSignInAndOut(t, d) })
	t.Run("callback refusals", func(t *testing.T) { testCallbackRefusals(t, d) })
}

// testSignInAndOut: sign in with WeChat as alice through the provider's
// login page and the emulator's QR page, see her claims, sign out at the
// provider, back to signed out.
func testSignInAndOut(t *testing.T, d devProvider) {
	base := startRP(t, d, "web-rp-test")
	b := newBrowser(t)
	home := b.do(http.MethodGet, base+"/")
	if home.status != http.StatusOK || !strings.Contains(home.body, `href="/login"`) || strings.Contains(home.body, "sub") {
		t.Fatalf("home before sign-in: %d %s", home.status, home.body)
	}
	// /login → our authorization endpoint → our login page.
	start := b.do(http.MethodGet, base+"/login")
	authz, _ := url.Parse(start.location)
	q := authz.Query()
	if !strings.HasPrefix(start.location, d.issuer+"/oauth2/authorize?") || q.Get("code_challenge_method") != "S256" ||
		q.Get("code_challenge") == "" || q.Get("nonce") == "" || len(q.Get("state")) < 8 {
		t.Fatalf("/login redirect: %d %s", start.status, start.location)
	}
	loginPage := b.follow(start, "alice")
	m := loginLink.FindStringSubmatch(loginPage.body)
	if loginPage.status != http.StatusOK || m == nil {
		t.Fatalf("login page: %d %.500s", loginPage.status, loginPage.body)
	}
	// The WeChat link → emulator (alice approves) → callbacks → web-rp's home.
	signedIn := b.follow(b.do(http.MethodGet, d.issuer+html.UnescapeString(m[1])), "alice")
	if signedIn.url != base+"/" || signedIn.status != http.StatusOK {
		t.Fatalf("after sign-in: %s %d %.500s", signedIn.url, signedIn.status, signedIn.body)
	}
	for _, want := range []string{"<td>sub</td>", "<td>amr</td><td>[&#34;wechat&#34;]</td>", "<td>auth_time</td>",
		"<td>wechat_appid</td><td>wx00000000000000a1</td>", "<td>wechat_unionid</td>", "Sign out"} {
		if !strings.Contains(signedIn.body, want) {
			t.Errorf("signed-in page lacks %q:\n%s", want, signedIn.body)
		}
	}

	// Sign out: web-rp → the provider's end_session_endpoint with the
	// id_token_hint → back to web-rp, signed out.
	logout := b.do(http.MethodPost, base+"/logout")
	if !strings.HasPrefix(logout.location, d.issuer+"/oauth2/logout?") || !strings.Contains(logout.location, "id_token_hint=") {
		t.Fatalf("logout redirect: %d %s", logout.status, logout.location)
	}
	after := b.follow(logout, "")
	if after.url != base+"/" || !strings.Contains(after.body, `href="/login"`) || strings.Contains(after.body, "<td>sub</td>") {
		t.Fatalf("after logout: %s %d %.500s", after.url, after.status, after.body)
	}
	// The provider's login session ended too: a new sign-in shows its login
	// page again rather than signing alice in silently.
	again := b.follow(b.do(http.MethodGet, base+"/login"), "alice")
	if !loginLink.MatchString(again.body) {
		t.Errorf("sign-in after logout did not show the login page: %s %d", again.url, again.status)
	}
}

// testCallbackRefusals: the callback refuses an answer it did not ask for.
func testCallbackRefusals(t *testing.T, d devProvider) {
	base := startRP(t, d, "web-rp-refusals")

	for _, tc := range []struct {
		name      string
		startFlow bool
		query     func(state string) string
		want      int
		wantText  string
	}{
		{"no sign-in in progress", false, func(string) string { return "code=x&state=whatever" }, http.StatusBadRequest, "expired"},
		{"wrong state", true, func(string) string { return "code=x&state=not-the-state" }, http.StatusBadRequest, "state"},
		{"declined", true, func(s string) string { return "error=access_denied&state=" + url.QueryEscape(s) }, http.StatusForbidden, "access_denied"},
		{"forged code", true, func(s string) string { return "code=forged&state=" + url.QueryEscape(s) }, http.StatusBadGateway, "refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBrowser(t)
			state := ""
			if tc.startFlow {
				u, _ := url.Parse(b.do(http.MethodGet, base+"/login").location)
				state = u.Query().Get("state")
			}
			a := b.do(http.MethodGet, base+"/callback?"+tc.query(state))
			if a.status != tc.want || !strings.Contains(a.body, tc.wantText) {
				t.Errorf("%d %s, want %d with %q", a.status, a.body, tc.want, tc.wantText)
			}
			if home := b.do(http.MethodGet, base+"/"); strings.Contains(home.body, "<td>sub</td>") {
				t.Error("signed in after a refused callback")
			}
		})
	}
}

func TestConfigFromArgs(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	cfg, err := configFromArgs(nil, getenv)
	if err != nil || cfg != (config{Issuer: "http://127.0.0.1:8080", ClientID: "demo-web", ClientSecret: "demo-web-secret", Addr: "127.0.0.1:8090", BaseURL: "http://127.0.0.1:8090"}) {
		t.Errorf("defaults: %+v %v", cfg, err)
	}
	env["WEBRP_ISSUER"], env["WEBRP_ADDR"] = "http://127.0.0.1:9080", "127.0.0.1:9090"
	cfg, err = configFromArgs([]string{"-client-id", "mine"}, getenv)
	if err != nil || cfg.Issuer != "http://127.0.0.1:9080" || cfg.ClientID != "mine" || cfg.BaseURL != "http://127.0.0.1:9090" {
		t.Errorf("env and flags: %+v %v", cfg, err)
	}
	for _, args := range [][]string{{"-no-such-flag"}, {"extra"}} {
		if _, err := configFromArgs(args, getenv); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}
