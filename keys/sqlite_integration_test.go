package keys_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/ory/fosite/token/jwt"

	"github.com/wxoidc/wxoidc/keys"
	"github.com/wxoidc/wxoidc/storage/sqlite"
)

// TestOnSQLite runs the key lifecycle on the real SQLite backend: keys made
// by one process are reloaded from the file by another, produce the same
// JWKS, and tokens signed before a restart and a rotation still verify by kid
// through go-jose v4 against the published set.
func TestOnSQLite(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keys.db")
	kek := keys.GenerateKEK()
	// fosite checks exp against the wall clock, so start from it.
	now := time.Now().UTC().Truncate(time.Second)
	clock := func() time.Time { return now }

	open := func() (*sqlite.Storage, *keys.Manager) {
		t.Helper()
		store, err := sqlite.Open(ctx, path, sqlite.Options{Migrate: true})
		if err != nil {
			t.Fatal(err)
		}
		cipher, err := keys.NewCipher(kek)
		if err != nil {
			t.Fatal(err)
		}
		m, err := keys.NewManager(keys.Config{
			Store: store, Cipher: cipher, Now: clock,
			ReloadInterval: 2 * time.Second, MaxTokenLifetime: time.Hour,
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Init(ctx); err != nil {
			t.Fatal(err)
		}
		return store, m
	}

	store1, m1 := open()
	body1, etag1 := m1.JWKS()
	signed := map[string]string{}
	for _, alg := range []string{keys.RS256, keys.ES256, keys.EdDSA} {
		tok, _, err := m1.IDTokenSigner().Generate(ctx, jwt.MapClaims{"sub": "s", "exp": now.Add(time.Hour).Unix()}, &jwt.Headers{Extra: map[string]interface{}{"alg": alg}})
		if err != nil {
			t.Fatalf("sign %s: %v", alg, err)
		}
		signed[alg] = tok
	}
	if err := store1.Close(); err != nil {
		t.Fatal(err)
	}

	// A second process: same file, same KEK.
	store2, m2 := open()
	defer store2.Close()
	body2, etag2 := m2.JWKS()
	if string(body1) != string(body2) || etag1 != etag2 {
		t.Fatal("JWKS differs after reloading the same key set from SQLite")
	}

	now = now.Add(time.Minute) // past the safe publish delay
	for _, alg := range []string{keys.RS256, keys.ES256, keys.EdDSA} {
		if _, err := m2.Rotate(ctx, alg, false); err != nil {
			t.Fatalf("rotate %s: %v", alg, err)
		}
	}
	body3, etag3 := m2.JWKS()
	if etag3 == etag2 {
		t.Fatal("ETag unchanged after rotation")
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body3, &set); err != nil {
		t.Fatal(err)
	}
	for alg, tok := range signed {
		jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		found := set.Key(jws.Signatures[0].Header.KeyID)
		if len(found) != 1 {
			t.Fatalf("%s: kid %q not published after rotation", alg, jws.Signatures[0].Header.KeyID)
		}
		if _, err := jws.Verify(found[0].Key); err != nil {
			t.Fatalf("%s: verify with published key: %v", alg, err)
		}
		if _, err := m2.IDTokenSigner().Decode(ctx, tok); err != nil {
			t.Fatalf("%s: fosite decode after rotation: %v", alg, err)
		}
	}
}
