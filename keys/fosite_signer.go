package keys

// This file is the only one that imports go-jose v3: fosite v0.49.0 parses
// tokens with v3 and accepts only v3 key types from a key function.

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"

	josev3 "github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite/token/jwt"
)

// Signer is the fosite jwt.Signer backed by a Manager's key set. Unlike
// fosite's DefaultSigner it signs with the current key of the wanted
// algorithm (EdDSA included), sets kid and typ itself, and validates tokens
// signed by any published key, so tokens survive rotation.
type Signer struct {
	m          *Manager
	defaultAlg string
}

var _ jwt.Signer = (*Signer)(nil)

// IDTokenSigner signs ID tokens: with the algorithm named by the header's
// "alg" entry (the client's id_token_signed_response_alg) when it is
// configured, else with Config.DefaultAlgorithm.
func (m *Manager) IDTokenSigner() *Signer { return m.idTokens }

// AccessTokenSigner signs JWT access tokens with Config.AccessTokenAlgorithm
// (or the header's "alg" when it is configured).
func (m *Manager) AccessTokenSigner() *Signer { return m.accessTokens }

// DefaultAlgorithm is the algorithm used when the header names none.
func (s *Signer) DefaultAlgorithm() string { return s.defaultAlg }

// Generate signs claims. The algorithm is header "alg" if configured, else
// the signer's default; typ is header "typ" (e.g. "at+jwt"), default "JWT";
// kid is always the signing key's, whatever the header carries (a kid
// persisted in a session would go stale after rotation, hydra#3573). Other
// header entries are copied except alg, kid, typ, jku, jwk, x5*, crit and
// b64. It returns the token and its signature part, like fosite's
// DefaultSigner.
func (s *Signer) Generate(ctx context.Context, claims jwt.MapClaims, header jwt.Mapper) (string, string, error) {
	if claims == nil {
		return "", "", errors.New("keys: Generate: nil claims")
	}
	alg, typ := s.defaultAlg, "JWT"
	var extra map[string]any
	if header != nil {
		if a, ok := header.Get("alg").(string); ok && a != "" {
			if s.m.configured(a) {
				alg = a
			} else {
				s.m.cfg.Logger.WarnContext(ctx, "requested signing algorithm is not configured; using the default",
					"alg", a, "default", s.defaultAlg)
			}
		}
		if t, ok := header.Get("typ").(string); ok && t != "" {
			typ = t
		}
		extra = header.ToMap()
	}
	payload, err := appendClaims(make([]byte, 0, 512), claims)
	if err != nil {
		return "", "", fmt.Errorf("keys: encoding claims: %w", err)
	}
	tok, err := s.m.snap.Load().sign(alg, typ, extra, payload)
	if err != nil {
		return "", "", err
	}
	return tok, tok[strings.LastIndexByte(tok, '.')+1:], nil
}

// Decode parses and verifies token with fosite's parser against the
// published key its kid names, and checks exp/iat/nbf as fosite does. Like
// fosite's DefaultSigner it returns the parsed token together with a
// *jwt.ValidationError on failure.
func (s *Signer) Decode(_ context.Context, token string) (*jwt.Token, error) {
	snap := s.m.snap.Load()
	return jwt.ParseWithClaims(token, jwt.MapClaims{}, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		k, err := snap.lookup(kid, string(t.Method))
		if err != nil {
			return nil, err
		}
		// A *JSONWebKey, not the bare key: fosite's parser turns non-pointer
		// keys into pointers, and go-jose v3 rejects *ed25519.PublicKey.
		return &josev3.JSONWebKey{Key: k.public, KeyID: kid, Algorithm: string(k.alg), Use: "sig"}, nil
	})
}

// Validate verifies token (see Decode) and returns its signature part.
func (s *Signer) Validate(ctx context.Context, token string) (string, error) {
	if _, err := s.Decode(ctx, token); err != nil {
		return "", err
	}
	return s.GetSignature(ctx, token)
}

// GetSignature returns the third part of a compact JWS.
func (s *Signer) GetSignature(_ context.Context, token string) (string, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", errors.New("keys: token must have header, payload and signature parts")
	}
	return parts[2], nil
}

// Hash is SHA-256, as in fosite's DefaultSigner.
func (s *Signer) Hash(_ context.Context, in []byte) ([]byte, error) {
	sum := sha256.Sum256(in)
	return sum[:], nil
}

// GetSigningMethodLength is the digest size of the default algorithm's
// hash: 32 for RS256 and ES256, 64 for EdDSA (Ed25519 hashes with
// SHA-512). fosite v0.49.0 has no caller of it outside tests.
func (s *Signer) GetSigningMethodLength(context.Context) int {
	if s.defaultAlg == EdDSA {
		return 64
	}
	return sha256.Size
}

func (m *Manager) configured(alg string) bool {
	for _, a := range m.cfg.Algorithms {
		if a == alg {
			return true
		}
	}
	return false
}
