package keys

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"testing"

	"github.com/wxoidc/wxoidc/internal/testharness"
)

var benchAlgorithms = []struct {
	name string
	alg  string
	bits int
}{
	{"RS256-2048", RS256, 2048},
	{"RS256-3072", RS256, 3072},
	{"ES256", ES256, 0},
	{"EdDSA", EdDSA, 0},
}

func benchManager(b *testing.B, alg string, bits int) *Manager {
	b.Helper()
	cfg := testConfig(&memStore{}, testharness.NewClock(testStart), testCipher(b), alg)
	if bits != 0 {
		cfg.RSABits = bits
	}
	m, err := NewManager(cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := m.Init(context.Background()); err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkSign measures Signer.Generate, the path fosite takes for every
// ID token and JWT access token.
func BenchmarkSign(b *testing.B) {
	for _, a := range benchAlgorithms {
		b.Run(a.name, func(b *testing.B) {
			m := benchManager(b, a.alg, a.bits)
			ctx, claims, h := context.Background(), testClaims(), headers("typ", "at+jwt")
			s := m.AccessTokenSigner()
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := s.Generate(ctx, claims, h); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerify measures Manager.Verify (go-jose v4), used for
// introspection of JWT access tokens: "first" is a token not verified
// before (the cache emptied each time), "cached" one verified before.
func BenchmarkVerify(b *testing.B) {
	for _, a := range benchAlgorithms {
		m := benchManager(b, a.alg, a.bits)
		tok, _, err := m.AccessTokenSigner().Generate(context.Background(), testClaims(), nil)
		if err != nil {
			b.Fatal(err)
		}
		for _, cached := range []bool{false, true} {
			name := a.name + "/first"
			if cached {
				name = a.name + "/cached"
			}
			b.Run(name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if !cached {
						m.verified.drop(sha256.Sum256([]byte(tok)))
					}
					if _, _, err := m.Verify(tok); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkDecode measures Signer.Decode (fosite's go-jose v3 parser), the
// path of fosite's own JWT access-token validation.
func BenchmarkDecode(b *testing.B) {
	for _, a := range benchAlgorithms {
		b.Run(a.name, func(b *testing.B) {
			m := benchManager(b, a.alg, a.bits)
			ctx := context.Background()
			s := m.AccessTokenSigner()
			tok, _, err := s.Generate(ctx, testClaims(), nil)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Decode(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSignPrimitive is the signature alone, through crypto directly,
// with the same key material as BenchmarkSign: the difference is the cost
// of the JWS around it (claims JSON, base64, go-jose). It shows how much of
// an RS256 token is the RSA operation, which no code of ours can shorten.
func BenchmarkSignPrimitive(b *testing.B) {
	digest := sha256.Sum256([]byte("header.payload"))
	for _, a := range []struct {
		name string
		alg  string
		bits int
	}{{"RS256-2048", RS256, 2048}, {"ES256", ES256, 0}} {
		b.Run(a.name, func(b *testing.B) {
			signer, err := generatePrivateKey(a.alg, a.bits)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := signer.Sign(rand.Reader, digest[:], crypto.SHA256); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
