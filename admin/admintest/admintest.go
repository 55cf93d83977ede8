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
