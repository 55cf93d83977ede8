package app_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/cmd/wxoidc/app"
	"github.com/wxoidc/wxoidc/config"
	"github.com/wxoidc/wxoidc/provider"
	"github.com/wxoidc/wxoidc/storage"
	"github.com/wxoidc/wxoidc/wechat/wechattest"
)

// Two mini-programs bound to one open platform (unionid linking) and a
// third, unbound one.
const (
	appA      = "wxaaaaaaaaaaaaaaaa"
	appB      = "wxbbbbbbbbbbbbbbbb"
	secretA   = "secret-of-app-a-0123456789"
	secretB   = "secret-of-app-b-0123456789"
	platform  = "open-platform-1"
	miniA     = "mini-a"
	miniB     = "mini-b"
	miniPhone = "mini-phone-required"
	backend   = "backend"
	backendPw = "backend-secret-for-tests"
	postCli   = "backend-post"
	resource  = "https://api.example.com"
	grantType = provider.GrantTypeWeChat
)

// stack is a running wxoidc instance and its emulated WeChat.
type stack struct {
	t      *testing.T
	URL    string
	App    *app.App
	Emu    *wechattest.Emulator
	client *http.Client
}

type stackOption func(*config.Config)

func newStack(t *testing.T, opts ...stackOption) *stack {
	t.Helper()
	return newStackWith(t, app.Options{}, opts...)
}

// newStackWith is newStack with app options (a logger); its Config is
// built here.
func newStackWith(t *testing.T, appOpts app.Options, opts ...stackOption) *stack {
	t.Helper()
	emu, emuSrv := wechattest.NewServer(t, wechattest.Options{})
	emu.RegisterApp(wechattest.App{AppID: appA, Secret: secretA, OpenPlatformID: platform, PhoneAPI: true})
	emu.RegisterApp(wechattest.App{AppID: appB, Secret: secretB, OpenPlatformID: platform, PhoneAPI: true})

	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	c := testConfig(t, issuer, emuSrv.URL)
	c.Storage.SQLiteSynchronous = "NORMAL"
	for _, o := range opts {
		o(c)
	}
	c.Normalize()
	if err := c.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	ctx := context.Background()
	appOpts.Config = c
	a, err := app.New(ctx, appOpts)
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	t.Cleanup(func() { _ = a.Close() })
	srv.Config.Handler = a.Public
	srv.Start()
	t.Cleanup(srv.Close)

	s := &stack{t: t, URL: issuer, App: a, Emu: emu, client: srv.Client()}
	s.seedClients()
	return s
}

func (s *stack) seedClients() {
	s.t.Helper()
	ctx := context.Background()
	hasher, err := app.SecretHasher(s.App.Config, s.App.Cipher)
	if err != nil {
		s.t.Fatal(err)
	}
	hash := func(secret string) string {
		h, err := hasher.Hash(ctx, []byte(secret))
		if err != nil {
			s.t.Fatal(err)
		}
		return string(h)
	}
	mini := func(id, appID string) storage.Client {
		return storage.Client{
			ID: id, TokenEndpointAuthMethod: provider.AuthMethodNone, WeChatAppID: appID,
			GrantTypes:      []string{grantType, provider.GrantTypeRefreshToken},
			Scopes:          []string{"openid", "phone", "wechat", "offline_access"},
			Audiences:       []string{resource},
			DefaultAudience: s.URL,
		}
	}
	phoneReq := mini(miniPhone, appA)
	phoneReq.RequirePhone = true
	clients := []storage.Client{
		mini(miniA, appA), mini(miniB, appB), phoneReq,
		{ID: backend, SecretHash: hash(backendPw), TokenEndpointAuthMethod: provider.AuthMethodClientSecretBasic,
			GrantTypes: []string{provider.GrantTypeClientCredentials}, Audiences: []string{resource}, DefaultAudience: s.URL},
		{ID: postCli, SecretHash: hash(backendPw), TokenEndpointAuthMethod: provider.AuthMethodClientSecretPost,
			GrantTypes: []string{provider.GrantTypeClientCredentials}, DefaultAudience: s.URL},
	}
	for _, c := range clients {
		if err := provider.ValidateClient(c); err != nil {
			s.t.Fatal(err)
		}
		if err := s.App.Store.CreateClient(ctx, c); err != nil {
			s.t.Fatal(err)
		}
	}
}

// tokenResponse is the token endpoint's answer, success or error.
type tokenResponse struct {
	Status       int    `json:"-"`
	RetryAfter   string `json:"-"`
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
	Scope        string `json:"scope"`
	Error        string `json:"error"`
	Description  string `json:"error_description"`
}

func (s *stack) postForm(path string, form url.Values, header http.Header) (*http.Response, []byte) {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

func (s *stack) token(form url.Values) tokenResponse {
	s.t.Helper()
	resp, body := s.postForm("/oauth2/token", form, nil)
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		s.t.Fatalf("token response is not JSON (%d): %q", resp.StatusCode, body)
	}
	tr.Status = resp.StatusCode
	tr.RetryAfter = resp.Header.Get("Retry-After")
	if resp.StatusCode == http.StatusOK && resp.Header.Get("Cache-Control") != "no-store" {
		s.t.Errorf("token response Cache-Control = %q, want no-store", resp.Header.Get("Cache-Control"))
	}
	return tr
}

// wechatForm builds the custom grant's form.
func wechatForm(clientID, code string, extra ...string) url.Values {
	f := url.Values{"grant_type": {grantType}, "client_id": {clientID}, "code": {code}}
	for i := 0; i+1 < len(extra); i += 2 {
		f.Add(extra[i], extra[i+1])
	}
	return f
}

// login runs wx.login for user and returns the code.
func (s *stack) login(appID, user string) string {
	s.t.Helper()
	code, err := s.Emu.Login(appID, user)
	if err != nil {
		s.t.Fatal(err)
	}
	return code
}

func (s *stack) phone(appID, user, e164 string) wechattest.PhoneGrant {
	s.t.Helper()
	g, err := s.Emu.Phone(appID, user, e164)
	if err != nil {
		s.t.Fatal(err)
	}
	return g
}

// mustToken asserts a 200 and returns the response.
func mustToken(t *testing.T, tr tokenResponse) tokenResponse {
	t.Helper()
	if tr.Status != http.StatusOK {
		t.Fatalf("token endpoint: %d %s: %s", tr.Status, tr.Error, tr.Description)
	}
	return tr
}

func (s *stack) introspect(token string) map[string]interface{} {
	s.t.Helper()
	h := http.Header{}
	req, _ := http.NewRequest("POST", "/", nil)
	req.SetBasicAuth(backend, backendPw)
	h.Set("Authorization", req.Header.Get("Authorization"))
	resp, body := s.postForm("/oauth2/introspect", url.Values{"token": {token}}, h)
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("introspect: %d %s", resp.StatusCode, body)
	}
	var out map[string]interface{}
	if err := json.Unmarshal(body, &out); err != nil {
		s.t.Fatal(err)
	}
	return out
}

// testConfig is the configuration of a test instance at issuer whose WeChat
// is the emulator at wechatURL (apps A and B registered).
func testConfig(tb testing.TB, issuer, wechatURL string) *config.Config {
	tb.Helper()
	kek := make([]byte, 32)
	_, _ = rand.Read(kek)
	c := config.Default()
	c.AllowInlineSecrets = true
	c.Issuer = issuer
	c.Admin.Addr = ""
	c.Storage.DSN = "sqlite://" + filepath.Join(tb.TempDir(), "wxoidc.db")
	c.Secrets.KEK = config.InlineSecret(base64.StdEncoding.EncodeToString(kek))
	c.WeChat.BaseURL = wechatURL
	c.WeChat.FallbackBaseURLs = nil
	c.WeChat.CallTimeout = config.D(2 * time.Second)
	c.WeChat.Apps = []config.WeChatApp{
		{AppID: appA, Secret: config.InlineSecret(secretA)},
		{AppID: appB, Secret: config.InlineSecret(secretB)},
	}
	c.Keys.ReloadInterval = config.D(time.Second)
	c.Keys.JWKSMaxAge = config.D(time.Second)
	return c
}

// startBenchApp starts a production-like instance for benchmarks:
// synchronous=FULL (the default), production key reload cadence, rate
// limits off (one client would exhaust them), options applied last. It
// returns the app and its issuer URL.
func startBenchApp(b testing.TB, wechatURL string, opts ...stackOption) (*app.App, string) {
	b.Helper()
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	c := testConfig(b, issuer, wechatURL)
	c.Keys = config.Default().Keys
	c.Limits.DisableRates()
	for _, o := range opts {
		o(c)
	}
	c.Normalize()
	if err := c.Validate(); err != nil {
		b.Fatalf("config: %v", err)
	}
	a, err := app.New(context.Background(), app.Options{Config: c, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = a.Close() })
	srv.Config.Handler = a.Public
	srv.Start()
	b.Cleanup(srv.Close)
	return a, issuer
}

// createClient registers c on a as an operator would: its secret (if any)
// hashed with the server's hasher, the registration validated first.
func createClient(tb testing.TB, a *app.App, c storage.Client, secret string) {
	tb.Helper()
	if secret != "" {
		hasher, err := app.SecretHasher(a.Config, a.Cipher)
		if err != nil {
			tb.Fatal(err)
		}
		h, err := hasher.Hash(context.Background(), []byte(secret))
		if err != nil {
			tb.Fatal(err)
		}
		c.SecretHash = string(h)
	}
	if err := provider.ValidateClient(c); err != nil {
		tb.Fatal(err)
	}
	if err := a.Store.CreateClient(context.Background(), c); err != nil {
		tb.Fatal(err)
	}
}
