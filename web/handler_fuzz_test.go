package web_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/wxoidc/wxoidc/cmd/wxoidc/app"
	"github.com/wxoidc/wxoidc/config"
	"github.com/wxoidc/wxoidc/provider"
	"github.com/wxoidc/wxoidc/storage"
	"github.com/wxoidc/wxoidc/wechat/wechattest"
)

// These fuzz targets drive the whole public handler of an assembled instance
// (SQLite, real keys, the WeChat emulator), so that the parsers behind the
// edge (fosite's client authentication, the JWT signers' Decode, the WeChat
// grant) see the fuzzed input exactly as a request brings it.

const (
	fzAppID     = "wxfffffffffffffff0"
	fzAppSecret = "fuzz-app-secret-0123456789"
	fzMini      = "fz-mini"
	fzBackend   = "fz-backend"
	// At least 43 characters (a generated secret's length): the keyed hash,
	// not PBKDF2, checks it, so each execution stays fast.
	fzSecret = "fz-backend-secret-0123456789abcdefghijklmnopqrstuvwxyz"
)

type fuzzEnv struct {
	app    *app.App
	emu    *wechattest.Emulator
	access string // a valid JWT access token (client credentials)
	idTok  string // a valid ID token
	user   string // a valid user-bound access token
	rt     string // a valid refresh token
}

func newFuzzEnv(f *testing.F) *fuzzEnv {
	f.Helper()
	emu := wechattest.New(wechattest.Options{})
	emu.RegisterApp(wechattest.App{AppID: fzAppID, Secret: fzAppSecret, PhoneAPI: true})
	emuSrv := httptest.NewServer(emu.Handler())
	f.Cleanup(emuSrv.Close)
	kek := make([]byte, 32)
	_, _ = rand.Read(kek)
	c := config.Default()
	c.AllowInlineSecrets = true
	c.Issuer = "http://127.0.0.1:9"
	c.Admin.Addr = ""
	c.Storage.DSN = "sqlite://" + filepath.Join(f.TempDir(), "fuzz.db")
	c.Storage.SQLiteSynchronous = "NORMAL"
	c.Secrets.KEK = config.InlineSecret(base64.StdEncoding.EncodeToString(kek))
	c.WeChat.BaseURL = emuSrv.URL
	c.WeChat.FallbackBaseURLs = nil
	c.WeChat.CallTimeout = config.D(2 * time.Second)
	c.WeChat.Apps = []config.WeChatApp{{AppID: fzAppID, Secret: config.InlineSecret(fzAppSecret)}}
	c.Clients.SecretHashCost = 10_000
	// The fuzzer is one address and one client: limits would hide the parsers.
	c.Limits.TokenPerIP.Limit, c.Limits.TokenPerClient.Limit = 0, 0
	c.Limits.WeChatPerUser.Limit, c.Limits.WeChatPerApp.Limit = 0, 0
	c.Normalize()
	if err := c.Validate(); err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()
	a, err := app.New(ctx, app.Options{Config: c})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = a.Close() })
	hasher, err := app.SecretHasher(c, a.Cipher)
	if err != nil {
		f.Fatal(err)
	}
	hash, err := hasher.Hash(ctx, []byte(fzSecret))
	if err != nil {
		f.Fatal(err)
	}
	for _, cl := range []storage.Client{
		{ID: fzMini, TokenEndpointAuthMethod: provider.AuthMethodNone, WeChatAppID: fzAppID,
			GrantTypes: []string{provider.GrantTypeWeChat, provider.GrantTypeRefreshToken},
			Scopes:     []string{"openid", "phone", "wechat", "offline_access"}, DefaultAudience: c.Issuer},
		{ID: fzBackend, SecretHash: string(hash), TokenEndpointAuthMethod: provider.AuthMethodClientSecretBasic,
			GrantTypes: []string{provider.GrantTypeClientCredentials}, DefaultAudience: c.Issuer},
	} {
		if err := a.Store.CreateClient(ctx, cl); err != nil {
			f.Fatal(err)
		}
	}
	env := &fuzzEnv{app: a, emu: emu}
	var cc struct {
		AccessToken string `json:"access_token"`
	}
	env.decode(f, env.post("/oauth2/token", "grant_type=client_credentials", basic(fzBackend, fzSecret)), &cc)
	code, err := emu.Login(fzAppID, "fuzzer")
	if err != nil {
		f.Fatal(err)
	}
	var login struct {
		AccessToken  string `json:"access_token"`
		IDToken      string `json:"id_token"`
		RefreshToken string `json:"refresh_token"`
	}
	form := url.Values{"grant_type": {provider.GrantTypeWeChat}, "client_id": {fzMini}, "code": {code}, "scope": {"openid offline_access"}}
	env.decode(f, env.post("/oauth2/token", form.Encode(), ""), &login)
	env.access, env.user, env.idTok, env.rt = cc.AccessToken, login.AccessToken, login.IDToken, login.RefreshToken
	return env
}

func basic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

func (e *fuzzEnv) post(path, body, authorization string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if authorization != "" {
		r.Header["Authorization"] = []string{authorization}
	}
	rec := httptest.NewRecorder()
	e.app.Public.ServeHTTP(rec, r)
	return rec
}

func (e *fuzzEnv) decode(f *testing.F, rec *httptest.ResponseRecorder, v any) {
	f.Helper()
	if rec.Code != http.StatusOK {
		f.Fatalf("setup request: %d %s", rec.Code, rec.Body)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
		f.Fatal(err)
	}
}

// checkAnswer fails on a 5xx other than 503 temporarily_unavailable, and on
// an error answer that is not an RFC 6749 body.
func checkAnswer(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code >= 500 && !(rec.Code == http.StatusServiceUnavailable && strings.Contains(rec.Body.String(), "temporarily_unavailable")) {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if rec.Code >= 400 {
		var e struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || (e.Error == "" && rec.Code != http.StatusUnauthorized) {
			t.Fatalf("%d without an RFC 6749 body: %q", rec.Code, rec.Body)
		}
	}
}

// FuzzBearerToken feeds arbitrary tokens to UserInfo, to introspection and
// to both JWT signers' Decode: mutations of real tokens reach the signature
// and claim checks.
func FuzzBearerToken(f *testing.F) {
	env := newFuzzEnv(f)
	for _, tok := range []string{env.access, env.user, env.idTok, env.rt, "", ".", "..", "eyJhbGciOiJub25lIn0.e30.",
		"eyJhbGciOiJIUzI1NiJ9.e30.c2ln", env.access + "x", strings.Replace(env.access, ".", "..", 1)} {
		f.Add(tok)
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, tok string) {
		r := httptest.NewRequest(http.MethodGet, "/userinfo", nil)
		r.Header["Authorization"] = []string{"Bearer " + tok}
		rec := httptest.NewRecorder()
		env.app.Public.ServeHTTP(rec, r)
		if rec.Code != http.StatusOK && rec.Code != http.StatusUnauthorized && rec.Code != http.StatusForbidden && rec.Code != http.StatusBadRequest {
			t.Fatalf("userinfo: %d %s", rec.Code, rec.Body)
		}
		if rec.Code == http.StatusOK && strings.TrimSpace(tok) != env.user {
			t.Logf("userinfo accepted a mutated token %q", tok)
		}
		rec = env.post("/oauth2/introspect", url.Values{"token": {tok}}.Encode(), basic(fzBackend, fzSecret))
		checkAnswer(t, rec)
		if tok != "" && utf8.ValidString(tok) && rec.Code != http.StatusOK {
			t.Fatalf("introspection: %d %s", rec.Code, rec.Body)
		}
		if rec.Code == http.StatusOK {
			var out map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
				t.Fatalf("introspection body: %v", err)
			}
			if _, ok := out["active"].(bool); !ok {
				t.Fatalf("introspection without active: %s", rec.Body)
			}
		}
		for _, s := range []interface {
			Validate(context.Context, string) (string, error)
		}{env.app.Keys.AccessTokenSigner(), env.app.Keys.IDTokenSigner()} {
			_, _ = s.Validate(ctx, tok)
		}
		_, _ = env.app.Keys.AccessTokenSigner().Decode(ctx, tok)
		_, _ = env.app.Keys.IDTokenSigner().Decode(ctx, tok)
	})
}

// FuzzBasicAuthHeader feeds arbitrary Authorization headers to client
// authentication (introspection and the token endpoint): a clean 400/401,
// or success only for the real credentials.
func FuzzBasicAuthHeader(f *testing.F) {
	env := newFuzzEnv(f)
	for _, h := range []string{
		basic(fzBackend, fzSecret), basic(fzBackend, "wrong"), basic(fzMini, ""), basic("", ""), basic("%zz", "%zz"),
		"Basic", "Basic ", "Basic ====", "Basic Og==", "basic " + base64.StdEncoding.EncodeToString([]byte(fzBackend+":"+fzSecret)),
		"Bearer " + env.access, "Basic " + base64.StdEncoding.EncodeToString([]byte("a:b:c")), "Basic\t" + base64.StdEncoding.EncodeToString([]byte("x:y")),
	} {
		f.Add(h, "token=abc")
	}
	f.Fuzz(func(t *testing.T, header, body string) {
		rec := env.post("/oauth2/introspect", body, header)
		checkAnswer(t, rec)
		if rec.Code == http.StatusOK && !realCredentials(header) {
			t.Fatalf("introspection answered %s with header %q body %q", rec.Body, header, body)
		}
		rec = env.post("/oauth2/token", "grant_type=client_credentials&"+body, header)
		checkAnswer(t, rec)
	})
}

// realCredentials reports whether header is Basic authentication of
// fzBackend with its secret (form-encoded, RFC 6749 §2.3.1).
func realCredentials(header string) bool {
	r := &http.Request{Header: http.Header{"Authorization": {header}}}
	u, p, ok := r.BasicAuth()
	if !ok {
		return false
	}
	u, errU := url.QueryUnescape(u)
	p, errP := url.QueryUnescape(p)
	return errU == nil && errP == nil && u == fzBackend && p == fzSecret
}

// FuzzTokenEndpoint feeds arbitrary forms to the token endpoint, the WeChat
// grant included (the emulator answers codes it does not know with 40029).
func FuzzTokenEndpoint(f *testing.F) {
	env := newFuzzEnv(f)
	code, err := env.emu.Login(fzAppID, "fuzzer")
	if err != nil {
		f.Fatal(err)
	}
	for _, body := range []string{
		url.Values{"grant_type": {provider.GrantTypeWeChat}, "client_id": {fzMini}, "code": {code}, "scope": {"openid phone wechat"}}.Encode(),
		url.Values{"grant_type": {provider.GrantTypeWeChat}, "client_id": {fzMini}, "code": {"x"}, "encrypted_data": {"AAAA"}, "iv": {"AAAAAAAAAAAAAAAAAAAAAA=="}}.Encode(),
		url.Values{"grant_type": {provider.GrantTypeWeChat}, "client_id": {fzMini}, "code": {"x"}, "phone_code": {"p"}, "audience": {"a", "b"}}.Encode(),
		url.Values{"grant_type": {"refresh_token"}, "client_id": {fzMini}, "refresh_token": {env.rt}}.Encode(),
		url.Values{"grant_type": {"refresh_token"}, "client_id": {fzMini}, "refresh_token": {env.rt + "x"}, "scope": {"openid"}}.Encode(),
		url.Values{"grant_type": {"client_credentials"}, "client_id": {fzBackend}, "client_secret": {fzSecret}}.Encode(),
		url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {env.access}}.Encode(),
		"grant_type=%zz", "",
	} {
		f.Add(body, "")
	}
	f.Add("grant_type=client_credentials", basic(fzBackend, fzSecret))
	f.Fuzz(func(t *testing.T, body, authorization string) {
		rec := env.post("/oauth2/token", body, authorization)
		checkAnswer(t, rec)
		rec = env.post("/oauth2/revoke", body, authorization)
		checkAnswer(t, rec)
	})
}
