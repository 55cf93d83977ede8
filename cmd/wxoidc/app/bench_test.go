package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/wxoidc/wxoidc/cmd/wxoidc/app"
	"github.com/wxoidc/wxoidc/provider"
	"github.com/wxoidc/wxoidc/storage"
	"github.com/wxoidc/wxoidc/wechat/wechattest"
)

// End-to-end benchmarks: a whole instance (app.New, as `wxoidc serve`
// assembles it) behind a loopback HTTP server, the WeChat emulator on its own
// loopback server, and net/http clients. They include the client's cost, on
// the same machine; cmd/wxoidc-bench separates server and loader CPU.

// benchStack is newStack for benchmarks: production storage settings
// (synchronous=FULL), ES256 ID tokens, rate limits off (one client would
// exhaust them), and a generated client secret (the keyed-hash path).
type benchStack struct {
	url      string
	emu      *wechattest.Emulator
	client   *http.Client
	ccSecret string
	users    atomic.Int64
}

func newBenchStack(b testing.TB) *benchStack {
	b.Helper()
	emu := wechattest.New(wechattest.Options{JSCode2SessionPerMinute: -1})
	emu.RegisterApp(wechattest.App{AppID: appA, Secret: secretA, OpenPlatformID: platform, PhoneAPI: true})
	emuSrv := httptest.NewServer(emu.Handler())
	b.Cleanup(emuSrv.Close)

	a, issuer := startBenchApp(b, emuSrv.URL)
	ctx := context.Background()
	hasher, err := app.SecretHasher(a.Config, a.Cipher)
	if err != nil {
		b.Fatal(err)
	}
	s := &benchStack{url: issuer, emu: emu, ccSecret: provider.GenerateSecret(),
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128}}}
	hash, err := hasher.Hash(ctx, []byte(s.ccSecret))
	if err != nil {
		b.Fatal(err)
	}
	for _, cl := range []storage.Client{
		{ID: miniA, TokenEndpointAuthMethod: provider.AuthMethodNone, WeChatAppID: appA,
			GrantTypes: []string{grantType, provider.GrantTypeRefreshToken}, Scopes: []string{"openid", "phone", "offline_access"},
			DefaultAudience: issuer, IDTokenSignedResponseAlg: "ES256"},
		{ID: backend, SecretHash: string(hash), TokenEndpointAuthMethod: provider.AuthMethodClientSecretBasic,
			GrantTypes: []string{provider.GrantTypeClientCredentials}, DefaultAudience: issuer},
	} {
		if err := a.Store.CreateClient(ctx, cl); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

func (s *benchStack) do(req *http.Request) ([]byte, error) {
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s %s: %d %s", req.Method, req.URL.Path, resp.StatusCode, body)
	}
	return body, err
}

func (s *benchStack) post(path string, form url.Values, user, pass string) ([]byte, error) {
	req, err := http.NewRequest(http.MethodPost, s.url+path, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	return s.do(req)
}

func (s *benchStack) get(path, bearer string) ([]byte, error) {
	req, err := http.NewRequest(http.MethodGet, s.url+path, nil)
	if err != nil {
		return nil, err
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return s.do(req)
}

// grant runs one WeChat login (codes minted through the emulator's Go API,
// exchanged by the server over loopback HTTP) for one of 1000 users.
func (s *benchStack) grant(phone bool) (tokenResponse, error) {
	var tr tokenResponse
	user := "u" + strconv.FormatInt(s.users.Add(1)%1000, 10)
	code, err := s.emu.Login(appA, user)
	if err != nil {
		return tr, err
	}
	form := wechatForm(miniA, code, "scope", "openid offline_access")
	if phone {
		g, err := s.emu.Phone(appA, user, "+8613900001234")
		if err != nil {
			return tr, err
		}
		form.Set("phone_code", g.Code)
		form.Set("scope", "openid phone offline_access")
	}
	body, err := s.post("/oauth2/token", form, "", "")
	if err != nil {
		return tr, err
	}
	err = json.Unmarshal(body, &tr)
	return tr, err
}

func (s *benchStack) refresh(rt string) (tokenResponse, error) {
	var tr tokenResponse
	body, err := s.post("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {miniA}, "refresh_token": {rt}}, "", "")
	if err == nil {
		err = json.Unmarshal(body, &tr)
	}
	if err == nil && tr.RefreshToken == "" {
		err = fmt.Errorf("refresh answered no refresh token: %s", body)
	}
	return tr, err
}

func (s *benchStack) clientCredentials() error {
	_, err := s.post("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, backend, s.ccSecret)
	return err
}

func (s *benchStack) introspect(token string) error {
	body, err := s.post("/oauth2/introspect", url.Values{"token": {token}}, backend, s.ccSecret)
	if err == nil && !strings.Contains(string(body), `"active":true`) {
		err = fmt.Errorf("introspection: %s", body)
	}
	return err
}

// must returns v, failing tb on err: must(s.grant(true))(t).
func must[T any](v T, err error) func(testing.TB) T {
	return func(tb testing.TB) T {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
		return v
	}
}

func ok(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// parallel64 runs op from 64 goroutines (on 2 CPUs: SetParallelism(32)).
func parallel64(b *testing.B, op func() error) {
	b.ReportAllocs()
	b.SetParallelism(32)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := op(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkE2EWeChatGrant(b *testing.B) {
	for _, phone := range []bool{false, true} {
		name := "phone=" + strconv.FormatBool(phone)
		b.Run(name, func(b *testing.B) {
			s := newBenchStack(b)
			b.ReportAllocs()
			for b.Loop() {
				must(s.grant(phone))(b)
			}
		})
		b.Run(name+"/parallel64", func(b *testing.B) {
			s := newBenchStack(b)
			parallel64(b, func() error { _, err := s.grant(phone); return err })
		})
	}
}

func BenchmarkE2ERefresh(b *testing.B) {
	s := newBenchStack(b)
	rt := must(s.grant(false))(b).RefreshToken
	b.ReportAllocs()
	for b.Loop() {
		rt = must(s.refresh(rt))(b).RefreshToken
	}
}

func BenchmarkE2EClientCredentials(b *testing.B) {
	b.Run("serial", func(b *testing.B) {
		s := newBenchStack(b)
		b.ReportAllocs()
		for b.Loop() {
			ok(b, s.clientCredentials())
		}
	})
	b.Run("parallel64", func(b *testing.B) {
		s := newBenchStack(b)
		parallel64(b, s.clientCredentials)
	})
}

func BenchmarkE2EIntrospect(b *testing.B) {
	s := newBenchStack(b)
	at := must(s.grant(true))(b).AccessToken
	b.ReportAllocs()
	for b.Loop() {
		ok(b, s.introspect(at))
	}
}

func BenchmarkE2EUserInfo(b *testing.B) {
	s := newBenchStack(b)
	at := must(s.grant(true))(b).AccessToken
	b.ReportAllocs()
	for b.Loop() {
		must(s.get("/userinfo", at))(b)
	}
}

func BenchmarkE2EJWKS(b *testing.B) {
	s := newBenchStack(b)
	b.ReportAllocs()
	for b.Loop() {
		must(s.get("/.well-known/jwks.json", ""))(b)
	}
}

func BenchmarkE2EDiscovery(b *testing.B) {
	s := newBenchStack(b)
	b.ReportAllocs()
	for b.Loop() {
		must(s.get("/.well-known/openid-configuration", ""))(b)
	}
}

// TestBenchStack runs every end-to-end benchmark's operation once, so that
// the default test run keeps them working.
func TestBenchStack(t *testing.T) {
	s := newBenchStack(t)
	tr := must(s.grant(true))(t)
	ok(t, s.clientCredentials())
	ok(t, s.introspect(tr.AccessToken))
	must(s.get("/userinfo", tr.AccessToken))(t)
	// Last: rotation revokes the access tokens of the old refresh token.
	must(s.refresh(tr.RefreshToken))(t)
	must(s.get("/.well-known/jwks.json", ""))(t)
	must(s.get("/.well-known/openid-configuration", ""))(t)
}
