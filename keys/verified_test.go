package keys

import (
	"context"
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/wxoidc/wxoidc/storage"
)

// TestVerifiedCache: a token verified once is answered from the cache; a
// token that differs in any byte is verified afresh (a valid signature on
// another payload fails); failures are not cached; the cache is bounded;
// and an entry whose kid now names another key is not trusted.
func TestVerifiedCache(t *testing.T) {
	t.Parallel()
	m, _, _ := newTestManager(t)
	ctx := context.Background()
	tok, _, err := m.AccessTokenSigner().Generate(ctx, testClaims(), nil)
	if err != nil {
		t.Fatal(err)
	}
	p1, h1, err := m.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.verified.get(sha256.Sum256([]byte(tok))); !ok {
		t.Fatal("a verified token is not cached")
	}
	p2, h2, err := m.Verify(tok)
	if err != nil || string(p1) != string(p2) || h1.KeyID != h2.KeyID || h1.Algorithm != h2.Algorithm {
		t.Fatalf("second Verify: %v (%s vs %s)", err, p2, p1)
	}

	// The same signature on another payload.
	parts := strings.Split(tok, ".")
	other, _, err := m.AccessTokenSigner().Generate(ctx, map[string]interface{}{"sub": "someone-else"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	forged := parts[0] + "." + strings.Split(other, ".")[1] + "." + parts[2]
	for range 2 {
		if _, _, err := m.Verify(forged); err == nil {
			t.Fatal("a valid signature on another payload verified")
		}
	}
	if _, ok := m.verified.get(sha256.Sum256([]byte(forged))); ok {
		t.Fatal("a failed verification was cached")
	}

	// An entry for the forged token, as if a key under its kid had verified
	// it, but not the key the kid names now: not trusted.
	otherManager, _, _ := newTestManager(t)
	foreign := otherManager.snap.Load().byKID[onlyKey(t, otherManager.Keys(), otherManager.cfg.AccessTokenAlgorithm, storage.KeyCurrent).KID].public
	m.verified.put(sha256.Sum256([]byte(forged)), verifiedToken{payload: []byte(`{"sub":"x"}`), header: h1, key: foreign})
	if _, _, err := m.Verify(forged); err == nil {
		t.Fatal("a cache entry of another key was trusted")
	}
	if _, ok := m.verified.get(sha256.Sum256([]byte(forged))); ok {
		t.Fatal("the untrusted entry was kept")
	}

	// Bounded.
	for i := range maxVerified + 50 {
		tok, _, err := m.AccessTokenSigner().Generate(ctx, map[string]interface{}{"n": i}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := m.Verify(tok); err != nil {
			t.Fatal(err)
		}
	}
	m.verified.mu.Lock()
	n := len(m.verified.entries)
	m.verified.mu.Unlock()
	if n > maxVerified {
		t.Fatalf("%d cached tokens, bound %d", n, maxVerified)
	}
}
