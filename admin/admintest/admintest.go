// Package admintest builds a real admin.Service on a fresh SQLite database
// for tests of the service and of the HTTP layer above it.
package admintest

import (
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/admin"
	"github.com/wxoidc/wxoidc/keys"
	"github.com/wxoidc/wxoidc/provider"
	"github.com/wxoidc/wxoidc/storage"
	"github.com/wxoidc/wxoidc/storage/sqlite"
)

// Issuer and AppID are the configuration of every Env.
const (
	Issuer = "https://issuer.example"
	AppID  = "wx-admintest-app"
)

// Env is a Service with the storage and key manager under it.
type Env struct {
	Service *admin.Service
	Store   *sqlite.Storage
	Keys    *keys.Manager
	Config  admin.Config
}

// New returns an Env whose key set is bootstrapped (ES256 and EdDSA, which
// generate fast; ES256 is the default and access-token algorithm). modify,
// if set, changes the configuration before the Service is built. Everything
// is closed when the test ends.
func New(t testing.TB, modify func(*admin.Config)) *Env {
	t.Helper()
	ctx := t.Context()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "admin.db"), sqlite.Options{Synchronous: "NORMAL", Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	cipher, err := keys.NewCipher(keys.GenerateKEK())
	if err != nil {
		t.Fatal(err)
	}
	kc := keys.Config{
		Store: store, Cipher: cipher,
		Algorithms: []string{keys.ES256, keys.EdDSA}, DefaultAlgorithm: keys.ES256, AccessTokenAlgorithm: keys.ES256,
		MaxTokenLifetime: time.Hour, Logger: slog.New(slog.DiscardHandler),
	}
	km, err := keys.NewManager(kc)
	if err != nil {
		t.Fatal(err)
	}
	if err := km.Init(ctx); err != nil {
		t.Fatal(err)
	}
	hasher, err := provider.NewSecretHasher(cipher.Derive("admintest/pepper"), 1000)
	if err != nil {
		t.Fatal(err)
	}
	cfg := admin.Config{
		Store: store, Keys: kc, Manager: km, Hasher: hasher,
		PhoneIndexKey: cipher.Derive("admintest/phone"),
		Auditor:       admin.NewAuditor(store, nil, nil),
		Issuer:        Issuer, WeChatAppIDs: []string{AppID},
	}
	if modify != nil {
		modify(&cfg)
	}
	svc, err := admin.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	return &Env{Service: svc, Store: store, Keys: km, Config: cfg}
}

// Account creates account sub with one WeChat identity (openid under
// AppID), as a first mini-program login would.
func (e *Env) Account(t testing.TB, sub, openid string, now time.Time) storage.Account {
	t.Helper()
	_, a, err := e.Store.ResolveWeChatLogin(t.Context(), storage.WeChatLogin{AppID: AppID, OpenID: openid, NewAccountID: sub, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// SignIn stores what a browser sign-in of account sub keeps: login session
// id (started at now, signed in with AppID, valid for a day) linked to
// clientIDs, and a consent to scopes for each of those clients. The
// clients must exist.
func (e *Env) SignIn(t testing.TB, sub, id string, now time.Time, scopes []string, clientIDs ...string) storage.LoginSession {
	t.Helper()
	ctx := t.Context()
	ls := storage.LoginSession{
		ID: id, AccountID: sub, AuthTime: now, AMR: []string{"wechat"}, AppID: AppID,
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(24 * time.Hour),
	}
	if err := e.Store.CreateLoginSession(ctx, ls); err != nil {
		t.Fatal(err)
	}
	for _, c := range clientIDs {
		if err := e.Store.AddLoginSessionClient(ctx, id, c); err != nil {
			t.Fatal(err)
		}
		if err := e.Store.PutConsent(ctx, storage.Consent{AccountID: sub, ClientID: c, Scopes: scopes, GrantedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	return ls
}
