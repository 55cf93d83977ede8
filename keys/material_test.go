package keys

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/wxoidc/wxoidc/storage"
)

func TestGenerateEachAlgorithm(t *testing.T) {
	t.Parallel()
	c := testCipher(t)
	tests := []struct {
		name  string
		alg   string
		bits  int
		check func(t *testing.T, k *loadedKey)
	}{
		{"RS256-2048", RS256, 2048, func(t *testing.T, k *loadedKey) {
			if p, ok := k.private.(*rsa.PrivateKey); !ok || p.N.BitLen() != 2048 {
				t.Fatalf("private key %T", k.private)
			}
		}},
		{"RS256-3072", RS256, 3072, func(t *testing.T, k *loadedKey) {
			if p, ok := k.private.(*rsa.PrivateKey); !ok || p.N.BitLen() != 3072 {
				t.Fatalf("private key %T", k.private)
			}
		}},
		{"ES256", ES256, 0, func(t *testing.T, k *loadedKey) {
			if p, ok := k.private.(*ecdsa.PrivateKey); !ok || p.Curve != elliptic.P256() {
				t.Fatalf("private key %T", k.private)
			}
		}},
		{"EdDSA", EdDSA, 0, func(t *testing.T, k *loadedKey) {
			if _, ok := k.private.(ed25519.PrivateKey); !ok {
				t.Fatalf("private key %T", k.private)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			row, err := newSealedKey(c, tt.alg, tt.bits)
			if err != nil {
				t.Fatal(err)
			}
			if b, err := base64.RawURLEncoding.DecodeString(row.KID); err != nil || len(b) != kidBytes {
				t.Fatalf("kid %q is not %d random bytes in base64url", row.KID, kidBytes)
			}
			row.State = storage.KeyNext
			k, err := openKey(c, row)
			if err != nil {
				t.Fatalf("openKey: %v", err)
			}
			tt.check(t, k)
			if string(k.alg) != tt.alg || k.info.KID != row.KID {
				t.Fatalf("loaded alg %s kid %s", k.alg, k.info.KID)
			}
			var jwk map[string]any
			if err := json.Unmarshal(row.PublicJWK, &jwk); err != nil {
				t.Fatal(err)
			}
			if jwk["kid"] != row.KID || jwk["alg"] != tt.alg || jwk["use"] != "sig" {
				t.Fatalf("public JWK %v", jwk)
			}
			for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
				if _, ok := jwk[private]; ok {
					t.Fatalf("public JWK has %q", private)
				}
			}
		})
	}
}

func TestKIDsAreRandom(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 10000 {
		k := newKID()
		if seen[k] {
			t.Fatalf("duplicate kid %s", k)
		}
		seen[k] = true
	}
}

func TestOpenKeyRejects(t *testing.T) {
	t.Parallel()
	c := testCipher(t)
	es, err := newSealedKey(c, ES256, 0)
	if err != nil {
		t.Fatal(err)
	}
	ed, err := newSealedKey(c, EdDSA, 0)
	if err != nil {
		t.Fatal(err)
	}
	privateJWK := func() []byte {
		// The stored public JWK plus the private scalar "d".
		k, err := openKey(c, es)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		_ = json.Unmarshal(es.PublicJWK, &m)
		d, err := k.private.(*ecdsa.PrivateKey).Bytes()
		if err != nil {
			t.Fatal(err)
		}
		m["d"] = base64.RawURLEncoding.EncodeToString(d)
		out, _ := json.Marshal(m)
		return out
	}

	tests := []struct {
		name    string
		cipher  *Cipher
		mutate  func(r *storage.SigningKey)
		wantErr error
		wantMsg string
	}{
		{"wrong KEK", testCipher(t), func(*storage.SigningKey) {}, ErrDecrypt, ""},
		{"ciphertext moved to another kid", c, func(r *storage.SigningKey) { r.KID = ed.KID }, ErrDecrypt, ""},
		{"ciphertext of another row", c, func(r *storage.SigningKey) { r.PrivateKeyEncrypted = ed.PrivateKeyEncrypted }, ErrDecrypt, ""},
		{"algorithm relabelled", c, func(r *storage.SigningKey) { r.Algorithm = EdDSA }, nil, "want Ed25519"},
		{"unsupported algorithm", c, func(r *storage.SigningKey) { r.Algorithm = "HS256" }, nil, "unsupported algorithm"},
		{"public JWK of another key", c, func(r *storage.SigningKey) {
			other, _ := newSealedKey(c, ES256, 0)
			r.PublicJWK = []byte(strings.Replace(string(other.PublicJWK), other.KID, r.KID, 1))
		}, nil, "does not match"},
		{"public JWK with another kid", c, func(r *storage.SigningKey) {
			r.PublicJWK = []byte(strings.Replace(string(r.PublicJWK), r.KID, "someone-else", 1))
		}, nil, "names kid"},
		{"public JWK with private part", c, func(r *storage.SigningKey) { r.PublicJWK = privateJWK() }, nil, "private material"},
		{"public JWK not JSON", c, func(r *storage.SigningKey) { r.PublicJWK = []byte("{") }, nil, "parsing public JWK"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			row := es
			row.PrivateKeyEncrypted = append([]byte(nil), es.PrivateKeyEncrypted...)
			tt.mutate(&row)
			_, err := openKey(tt.cipher, row)
			if err == nil {
				t.Fatal("openKey succeeded")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if tt.wantMsg != "" && !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("error %q lacks %q", err, tt.wantMsg)
			}
		})
	}
}

func TestShortRSAKeyRejected(t *testing.T) {
	t.Parallel()
	c := testCipher(t)
	// A 1024-bit key is made here only to prove loading rejects it.
	priv, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	row, err := sealNewKey(c, newKID(), RS256, priv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := openKey(c, row); err == nil || !strings.Contains(err.Error(), "too short") {
		t.Fatalf("openKey error %v, want too short", err)
	}
}
