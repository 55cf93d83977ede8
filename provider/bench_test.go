package provider

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/keys"
	"github.com/wxoidc/wxoidc/storage"
	"github.com/wxoidc/wxoidc/storage/postgres"
	"github.com/wxoidc/wxoidc/storage/postgres/pgtest"
	"github.com/wxoidc/wxoidc/storage/sqlite"
	"github.com/wxoidc/wxoidc/wechat"
)

// The benchmarks below run the provider in-process on real SQLite storage
// and real keys, with WeChat replaced by benchWeChat (no HTTP): they measure
// wxoidc's own work per token request. cmd/wxoidc-bench measures the same
// paths over HTTP; docs/performance.md records both.

const (
	benchAppID      = "wxbenchprovider0001"
	benchMini       = "bench-mini"
	benchBackend    = "bench-backend"
	benchIssuer     = "https://id.bench.example"
	benchBackendPwd = "imported-secret-1" // short: PBKDF2-hashed
)

// benchWeChat answers every code with a session for the user the code
// names ("user:nonce"), and every phone code with a number.
type benchWeChat struct{ key wechat.SessionKey }

func (w *benchWeChat) Code2Session(_ context.Context, _ wechat.App, code string) (wechat.Session, error) {
	user, _, _ := strings.Cut(code, ":")
	return wechat.Session{OpenID: "openid-" + user, UnionID: "union-" + user, SessionKey: w.key}, nil
}

func (w *benchWeChat) PhoneNumber(_ context.Context, _ wechat.App, phoneCode, _ string) (wechat.Phone, error) {
	n, _, _ := strings.Cut(phoneCode, ":")
	return wechat.Phone{PhoneNumber: "1390000" + n, PurePhoneNumber: "1390000" + n, CountryCode: "86"}, nil
}

// benchStore is a storage backend that counts its statements (both do).
type benchStore interface {
	storage.Storage
	Statements() uint64
}

type benchEnv struct {
	p        *Provider
	store    benchStore
	keys     *keys.Manager
	ccSecret string // generated: keyed-hash path
	seq      atomic.Int64
}

// newBenchEnv builds a provider on a fresh SQLite database. accessAlg signs
// access tokens; the mini-program client's ID tokens are ES256.
func newBenchEnv(b testing.TB, synchronous, accessAlg string) *benchEnv {
	b.Helper()
	return newBenchEnvWith(b, synchronous, accessAlg, nil)
}

// newBenchEnvWith is newBenchEnv with tweak, if set, applied to the
// provider's Config.
func newBenchEnvWith(b testing.TB, synchronous, accessAlg string, tweak func(*Config)) *benchEnv {
	b.Helper()
	store, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"), sqlite.Options{Synchronous: synchronous, Migrate: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	return newBenchEnvOn(b, store, accessAlg, tweak)
}

// newPostgresBenchEnv is newBenchEnv on a fresh PostgreSQL database
// (pgtest: skipped locally when the server is down).
func newPostgresBenchEnv(t *testing.T) *benchEnv {
	t.Helper()
	store, err := postgres.Open(t.Context(), pgtest.NewDatabase(t), postgres.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	return newBenchEnvOn(t, store, keys.ES256, nil)
}

// testBackends are the storages tests that differ by backend run on:
// each backend has its own statements for a grant's write and a refresh's
// read.
var testBackends = []struct {
	name string
	env  func(t *testing.T) *benchEnv
}{
	{"sqlite", func(t *testing.T) *benchEnv { return newBenchEnv(t, "NORMAL", keys.ES256) }},
	{"postgres", newPostgresBenchEnv},
}

// newBenchEnvOn is newBenchEnvWith on a given, empty storage.
func newBenchEnvOn(b testing.TB, store benchStore, accessAlg string, tweak func(*Config)) *benchEnv {
	b.Helper()
	ctx := context.Background()
	cipher, err := keys.NewCipher(keys.GenerateKEK())
	if err != nil {
		b.Fatal(err)
	}
	km, err := keys.NewManager(keys.Config{
		Store: store, Cipher: cipher,
		Algorithms:           []string{keys.RS256, keys.ES256, keys.EdDSA},
		DefaultAlgorithm:     keys.RS256,
		AccessTokenAlgorithm: accessAlg,
		MaxTokenLifetime:     time.Hour,
		Logger:               slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := km.Init(ctx); err != nil {
		b.Fatal(err)
	}
	hasher, err := NewSecretHasher(cipher.Derive("bench/pepper"), 0)
	if err != nil {
		b.Fatal(err)
	}
	key, err := wechat.SessionKeyFromBytes(make([]byte, 16))
	if err != nil {
		b.Fatal(err)
	}
	cfg := Config{
		Issuer:              benchIssuer,
		Store:               store,
		Sealer:              cipher,
		PhoneIndexKey:       cipher.Derive("bench/phone"),
		HMACSecret:          cipher.Derive("bench/hmac"),
		AccessTokenSigner:   km.AccessTokenSigner(),
		AccessTokenVerifier: km,
		IDTokenSigner:       km.IDTokenSigner(),
		WeChat:              &benchWeChat{key: key},
		Apps:                map[string]wechat.App{benchAppID: {AppID: benchAppID, Secret: "bench-app-secret"}},
		SecretHasher:        hasher,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	env := &benchEnv{p: p, store: store, keys: km, ccSecret: GenerateSecret()}
	hash := func(s string) string {
		h, err := hasher.Hash(ctx, []byte(s))
		if err != nil {
			b.Fatal(err)
		}
		return string(h)
	}
	for _, c := range []storage.Client{
		{ID: benchMini, TokenEndpointAuthMethod: AuthMethodNone, WeChatAppID: benchAppID,
			GrantTypes: []string{GrantTypeWeChat, GrantTypeRefreshToken}, Scopes: []string{ScopeOpenID, ScopePhone, ScopeWeChat, ScopeOfflineAccess},
			DefaultAudience: benchIssuer, IDTokenSignedResponseAlg: keys.ES256},
		{ID: benchBackend, SecretHash: hash(env.ccSecret), TokenEndpointAuthMethod: AuthMethodClientSecretBasic,
			GrantTypes: []string{GrantTypeClientCredentials}, DefaultAudience: benchIssuer},
		{ID: benchBackend + "-imported", SecretHash: hash(benchBackendPwd), TokenEndpointAuthMethod: AuthMethodClientSecretBasic,
			GrantTypes: []string{GrantTypeClientCredentials}, DefaultAudience: benchIssuer},
	} {
		if err := store.CreateClient(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
	return env
}

// cpuPerOp measures the process's CPU time from now until the returned
// function is called, after the benchmark loop, and reports it per
// operation ("cpu-ns/op"): on a shared machine it varies far less than
// ns/op, and it counts the CPU of every parallel goroutine.
func cpuPerOp(b *testing.B) func() {
	start, ok := processCPU()
	return func() {
		if end, ok2 := processCPU(); ok && ok2 && b.N > 0 {
			b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
		}
	}
}

func tokenRequest(form url.Values, basicUser, basicPass string) *http.Request {
	r, _ := http.NewRequest(http.MethodPost, benchIssuer+"/oauth2/token", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicUser != "" {
		r.SetBasicAuth(url.QueryEscape(basicUser), url.QueryEscape(basicPass))
	}
	return r
}

// grantForm is a WeChat grant for one of 1000 users (returning users, as
// most logins are), with a phone code when phone is set.
func (e *benchEnv) grantForm(phone bool) url.Values {
	n := e.seq.Add(1)
	user := strconv.FormatInt(n%1000, 10)
	f := url.Values{
		"grant_type": {GrantTypeWeChat},
		"client_id":  {benchMini},
		"code":       {user + ":" + strconv.FormatInt(n, 10)},
		"scope":      {"openid offline_access"},
	}
	if phone {
		f.Set("phone_code", user+":p")
		f.Set("scope", "openid phone offline_access")
	}
	return f
}

// again is form's grant once more for the same user, with a fresh code
// (the person's next sign-in).
func again(form url.Values) url.Values {
	f := maps.Clone(form)
	f["code"] = []string{strings.Replace(form.Get("code"), ":", ":again-", 1)}
	return f
}

func (e *benchEnv) token(b testing.TB, r *http.Request) map[string]any {
	b.Helper()
	out, err := e.p.Token(context.Background(), r)
	if err != nil {
		b.Fatal(err)
	}
	return out
}

// BenchmarkTokenWeChatGrant is the grant handler in-process: account
// resolution (one transaction), then the access, refresh and ID tokens
// (another), with a fake WeChat. Parallel runs 64 requests at a time, the
// way the HTTP server does, so SQLite commits are grouped.
func BenchmarkTokenWeChatGrant(b *testing.B) {
	for _, sync := range []string{"FULL", "NORMAL"} {
		for _, phone := range []bool{false, true} {
			name := "synchronous=" + sync + "/phone=" + strconv.FormatBool(phone)
			b.Run(name+"/serial", func(b *testing.B) {
				e := newBenchEnv(b, sync, keys.ES256)
				b.ReportAllocs()
				for b.Loop() {
					e.token(b, tokenRequest(e.grantForm(phone), "", ""))
				}
			})
			b.Run(name+"/parallel64", func(b *testing.B) {
				e := newBenchEnv(b, sync, keys.ES256)
				b.ReportAllocs()
				b.SetParallelism(32)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := e.p.Token(context.Background(), tokenRequest(e.grantForm(phone), "", "")); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}

// BenchmarkTokenClientCredentials is client_credentials in-process with a
// generated secret (keyed hash), per access-token algorithm, and with an
// imported secret (PBKDF2 at the default cost).
func BenchmarkTokenClientCredentials(b *testing.B) {
	cases := []struct {
		name, alg, client string
		imported          bool
	}{
		{"ES256", keys.ES256, benchBackend, false},
		{"RS256-2048", keys.RS256, benchBackend, false},
		{"EdDSA", keys.EdDSA, benchBackend, false},
		{"ES256/imported-secret", keys.ES256, benchBackend + "-imported", true},
	}
	form := url.Values{"grant_type": {GrantTypeClientCredentials}}
	for _, c := range cases {
		b.Run(c.name+"/serial", func(b *testing.B) {
			e := newBenchEnv(b, "FULL", c.alg)
			secret := e.ccSecret
			if c.imported {
				secret = benchBackendPwd
			}
			b.ReportAllocs()
			for b.Loop() {
				e.token(b, tokenRequest(form, c.client, secret))
			}
		})
		if c.imported {
			continue
		}
		b.Run(c.name+"/parallel64", func(b *testing.B) {
			e := newBenchEnv(b, "FULL", c.alg)
			b.ReportAllocs()
			b.SetParallelism(32)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := e.p.Token(context.Background(), tokenRequest(form, c.client, e.ccSecret)); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkTokenRefresh rotates one refresh-token chain: the refresh
// handler, the account check and a new ID token.
func BenchmarkTokenRefresh(b *testing.B) {
	e := newBenchEnv(b, "FULL", keys.ES256)
	rt, _ := e.token(b, tokenRequest(e.grantForm(false), "", ""))["refresh_token"].(string)
	b.ReportAllocs()
	for b.Loop() {
		out := e.token(b, tokenRequest(url.Values{"grant_type": {GrantTypeRefreshToken}, "client_id": {benchMini}, "refresh_token": {rt}}, "", ""))
		rt, _ = out["refresh_token"].(string)
	}
}

// BenchmarkIntrospectJWT introspects one JWT access token (signature check,
// claims, storage look-up, account check), without the HTTP layer's client
// authentication.
func BenchmarkIntrospectJWT(b *testing.B) {
	e := newBenchEnv(b, "FULL", keys.ES256)
	at, _ := e.token(b, tokenRequest(e.grantForm(true), "", ""))["access_token"].(string)
	ctx := context.Background()
	b.ReportAllocs()
	defer cpuPerOp(b)()
	for b.Loop() {
		out, err := e.p.introspectToken(ctx, at, "")
		if err != nil || out["active"] != true {
			b.Fatalf("introspection: %v %v", out, err)
		}
	}
}

// BenchmarkIntrospect is the introspection endpoint in-process: a
// confidential client (generated secret, cached) introspects a person's JWT
// access token (ES256). Parallel runs 64 requests at a time, as the HTTP
// server does.
func BenchmarkIntrospect(b *testing.B) {
	e := newBenchEnv(b, "FULL", keys.ES256)
	at, _ := e.token(b, tokenRequest(e.grantForm(true), "", ""))["access_token"].(string)
	form := url.Values{"token": {at}}
	introspect := func() error {
		r := tokenRequest(form, benchBackend, e.ccSecret)
		out, err := e.p.Introspect(context.Background(), r)
		if err != nil || out["active"] != true {
			return fmt.Errorf("introspection: %v %v", out, err)
		}
		return nil
	}
	serialAndParallel64(b, introspect)
}

// BenchmarkUserInfo is UserInfo in-process for a person's JWT access token
// (ES256, scope openid phone): the token checked, the account with its
// identity read, the phone number unsealed.
func BenchmarkUserInfo(b *testing.B) {
	e := newBenchEnv(b, "FULL", keys.ES256)
	at, _ := e.token(b, tokenRequest(e.grantForm(true), "", ""))["access_token"].(string)
	userInfo := func() error {
		claims, err := e.p.UserInfo(context.Background(), at)
		if err != nil || claims["phone_number"] == nil {
			return fmt.Errorf("userinfo: %v %v", claims, err)
		}
		return nil
	}
	serialAndParallel64(b, userInfo)
}

// serialAndParallel64 runs op serially, then from 64 goroutines on the
// machine's CPUs (SetParallelism(32) on 2), as the HTTP server would serve
// 64 connections, reporting CPU and allocations per operation.
func serialAndParallel64(b *testing.B, op func() error) {
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		defer cpuPerOp(b)()
		for b.Loop() {
			if err := op(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel64", func(b *testing.B) {
		b.ReportAllocs()
		defer cpuPerOp(b)()
		b.SetParallelism(32)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := op(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkHashSignature is the storage key of every token: SHA-256 of the
// token's signature, base64url.
func BenchmarkHashSignature(b *testing.B) {
	sig := strings.Repeat("A", 86) // an ES256 JWS signature
	b.ReportAllocs()
	for b.Loop() {
		_ = hashSignature(sig)
	}
}

// BenchmarkSecretHasherCompare is client authentication's hash check: the
// keyed hash of generated secrets against PBKDF2 at the default cost for
// imported ones.
func BenchmarkSecretHasherCompare(b *testing.B) {
	ctx := context.Background()
	h, err := NewSecretHasher(make([]byte, 32), 0)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct{ name, secret string }{
		{"generated-hmac", GenerateSecret()},
		{"imported-pbkdf2-" + strconv.Itoa(DefaultPBKDF2Iterations), benchBackendPwd},
	} {
		b.Run(c.name, func(b *testing.B) {
			hash, err := h.Hash(ctx, []byte(c.secret))
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := h.Compare(ctx, hash, []byte(c.secret)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
