package keys

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/wxoidc/wxoidc/internal/testharness"
	"github.com/wxoidc/wxoidc/storage"
)

// collectKeys lists every object key anywhere in a JSON document.
func collectKeys(t *testing.T, v any, out map[string]bool) {
	t.Helper()
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			out[k] = true
			collectKeys(t, e, out)
		}
	case []any:
		for _, e := range v {
			collectKeys(t, e, out)
		}
	}
}

func TestJWKSShape(t *testing.T) {
	t.Parallel()
	m, _, _ := newTestManager(t, RS256, ES256, EdDSA)
	body, etag := m.JWKS()

	sum := sha256.Sum256(body)
	if want := `"` + hex.EncodeToString(sum[:]) + `"`; etag != want {
		t.Fatalf("ETag %s, want %s", etag, want)
	}

	var doc any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	collectKeys(t, doc, names)
	for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k", "oth"} {
		if names[private] {
			t.Fatalf("JWKS contains private member %q: %s", private, body)
		}
	}

	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 6 {
		t.Fatalf("JWKS has %d keys, want 6 (current + next for 3 algorithms)", len(set.Keys))
	}
	want := map[string][]string{
		RS256: {"kty", "kid", "alg", "use", "n", "e"},
		ES256: {"kty", "kid", "alg", "use", "crv", "x", "y"},
		EdDSA: {"kty", "kid", "alg", "use", "crv", "x"},
	}
	kty := map[string]string{RS256: "RSA", ES256: "EC", EdDSA: "OKP"}
	crv := map[string]string{ES256: "P-256", EdDSA: "Ed25519"}
	published := map[string]bool{}
	for _, k := range m.Keys() {
		published[k.KID] = true
	}
	for _, k := range set.Keys {
		alg, _ := k["alg"].(string)
		members := slices.Sorted(func(yield func(string) bool) {
			for n := range k {
				if !yield(n) {
					return
				}
			}
		})
		wantMembers := slices.Sorted(slices.Values(want[alg]))
		if !slices.Equal(members, wantMembers) {
			t.Fatalf("%s key members %v, want %v", alg, members, wantMembers)
		}
		if k["use"] != "sig" || k["kty"] != kty[alg] {
			t.Fatalf("key %v", k)
		}
		if c, ok := crv[alg]; ok && k["crv"] != c {
			t.Fatalf("key %v: crv want %s", k, c)
		}
		if kid, _ := k["kid"].(string); !published[kid] {
			t.Fatalf("kid %v not in Keys()", k["kid"])
		}
	}
	// Current keys come first, for naive clients that take keys[0].
	for i, k := range set.Keys[:3] {
		if info := findInfo(m.Keys(), k["kid"].(string)); info.State != storage.KeyCurrent {
			t.Fatalf("JWKS entry %d is %s, want current first", i, info.State)
		}
	}

	// go-jose v4 parses it as a public key set.
	var jset jose.JSONWebKeySet
	if err := json.Unmarshal(body, &jset); err != nil {
		t.Fatal(err)
	}
	for _, k := range jset.Keys {
		if !k.IsPublic() || !k.Valid() {
			t.Fatalf("key %s: public %v valid %v", k.KeyID, k.IsPublic(), k.Valid())
		}
	}
	if m.MaxAge() != testReload {
		t.Fatalf("MaxAge %s", m.MaxAge())
	}
}

func findInfo(keys []KeyInfo, kid string) KeyInfo {
	for _, k := range keys {
		if k.KID == kid {
			return k
		}
	}
	return KeyInfo{}
}

func TestReloadYieldsIdenticalJWKS(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, store, clock := newTestManager(t)
	bodyA, etagA := a.JWKS()

	// A second instance on the same store and KEK: same body, same ETag.
	b, err := NewManager(testConfig(store, clock, a.cfg.Cipher))
	if err != nil {
		t.Fatal(err)
	}
	updates := store.updateCount()
	if err := b.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if store.updateCount() != updates {
		t.Fatal("Init of a second instance wrote to the store")
	}
	bodyB, etagB := b.JWKS()
	if string(bodyA) != string(bodyB) || etagA != etagB {
		t.Fatalf("instances disagree:\n%s %s\n%s %s", bodyA, etagA, bodyB, etagB)
	}

	// An unchanged set is not parsed again: the snapshot stays the same.
	before := a.snap.Load()
	if err := a.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if a.snap.Load() != before {
		t.Fatal("Reload of an unchanged set rebuilt the snapshot")
	}
	if body, etag := a.JWKS(); string(body) != string(bodyA) || etag != etagA {
		t.Fatal("JWKS changed on reload of an unchanged set")
	}

	// A change made elsewhere shows up after Reload, with a new ETag.
	if _, err := Rotate(ctx, testConfig(store, clock, a.cfg.Cipher), ES256, true); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	bodyA2, etagA2 := a.JWKS()
	bodyB2, etagB2 := b.JWKS()
	if etagA2 == etagA || string(bodyA2) != string(bodyB2) || etagA2 != etagB2 {
		t.Fatal("instances disagree after a rotation and reload")
	}
}

func TestReloadReportsDamagedRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, store, _ := newTestManager(t)
	rows := store.snapshotRows()
	var damaged string
	for i := range rows {
		if rows[i].Algorithm == EdDSA && rows[i].State == storage.KeyNext {
			rows[i].PrivateKeyEncrypted[len(rows[i].PrivateKeyEncrypted)-1] ^= 1
			damaged = rows[i].KID
		}
	}
	store.setRows(rows)
	err := m.Reload(ctx)
	if !errors.Is(err, ErrDecrypt) || !strings.Contains(err.Error(), damaged) {
		t.Fatalf("Reload error %v, want ErrDecrypt naming %s", err, damaged)
	}
	// The rest is installed: the damaged key is not published, others are.
	body, _ := m.JWKS()
	if strings.Contains(string(body), damaged) {
		t.Fatal("damaged key published")
	}
	if _, err := m.snap.Load().sign(EdDSA, "JWT", nil, []byte("{}")); err != nil {
		t.Fatalf("signing with the intact current key: %v", err)
	}
	// The error is reported again while the set stays unchanged.
	if err := m.Reload(ctx); err == nil {
		t.Fatal("second Reload of the same damaged set reported nothing")
	}

	// A manager with the wrong KEK cannot start.
	wrong, err := NewManager(testConfig(store, testharness.NewClock(testStart), testCipher(t)))
	if err != nil {
		t.Fatal(err)
	}
	if err := wrong.Init(ctx); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("Init with the wrong KEK: %v, want ErrDecrypt", err)
	}
}
