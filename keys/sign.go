package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
)

var (
	// ErrNoSigningKey: no current key is loaded for the algorithm (Init not
	// run, or the key could not be loaded).
	ErrNoSigningKey = errors.New("keys: no current signing key")
	// ErrUnknownKey: the token's kid names no published key (unknown,
	// revoked, removed, or missing).
	ErrUnknownKey = errors.New("keys: token kid is not a published key")
	// ErrAlgorithmMismatch: the token's alg is not the algorithm of the key
	// its kid names (alg confusion, "none", HS256 with a public key).
	ErrAlgorithmMismatch = errors.New("keys: token alg does not match its key")
)

// reservedHeader names JOSE header parameters the signer sets itself or
// that steer how a verifier finds keys or reads the token; they are never
// copied from the caller's header.
func reservedHeader(name string) bool {
	switch name {
	case "alg", "kid", "typ", "jku", "jwk", "crit", "b64", "enc", "zip":
		return true
	}
	return strings.HasPrefix(name, "x5")
}

// sign signs payload with the current key of alg, writing kid and typ
// itself and copying the non-reserved entries of extra. It writes the
// compact serialization (RFC 7515 §7.1) directly: go-jose built a signer,
// a JWK and a JSON encoder for every token, about 150 allocations and a
// third of a grant's; verification still goes through go-jose (Verify).
func (s *snapshot) sign(alg, typ string, extra map[string]any, payload []byte) (string, error) {
	k, ok := s.current[alg]
	if !ok {
		return "", fmt.Errorf("%w for %s", ErrNoSigningKey, alg)
	}
	header, err := k.protectedHeader(typ, extra)
	if err != nil {
		return "", err
	}
	b64 := base64.RawURLEncoding
	buf := make([]byte, 0, len(header)+1+b64.EncodedLen(len(payload))+1+b64.EncodedLen(maxSignatureLen))
	buf = append(buf, header...)
	buf = append(buf, '.')
	buf = b64.AppendEncode(buf, payload)
	sig, err := k.signInput(buf)
	if err != nil {
		return "", fmt.Errorf("keys: signing with %s: %w", k.info.KID, err)
	}
	buf = append(buf, '.')
	buf = b64.AppendEncode(buf, sig)
	return string(buf), nil
}

// maxSignatureLen is the longest signature of a supported algorithm
// (RSA-3072).
const maxSignatureLen = 384

// protectedHeader returns the base64url-encoded protected header. Without
// extra entries (every token we issue) it is the same for every token of a
// key and typ, so it is encoded once.
func (k *loadedKey) protectedHeader(typ string, extra map[string]any) (string, error) {
	custom := false
	for name := range extra {
		if !reservedHeader(name) {
			custom = true
			break
		}
	}
	if !custom {
		if v, ok := k.headers.Load(typ); ok {
			return v.(string), nil
		}
	}
	h := map[string]any{"alg": string(k.alg), "kid": k.info.KID, "typ": typ}
	for name, v := range extra {
		if !reservedHeader(name) {
			h[name] = v
		}
	}
	raw, err := json.Marshal(h) // map keys come out sorted: one header, one encoding
	if err != nil {
		return "", fmt.Errorf("keys: encoding the JWS header: %w", err)
	}
	enc := base64.RawURLEncoding.EncodeToString(raw)
	if !custom {
		k.headers.Store(typ, enc)
	}
	return enc, nil
}

// signInput signs a JWS signing input as RFC 7518 §3 and RFC 8037 say:
// RS256 is RSASSA-PKCS1-v1_5 over SHA-256; ES256 is ECDSA P-256 over
// SHA-256 with the signature as R‖S, 32 bytes each (not ASN.1); EdDSA is
// Ed25519 over the input itself.
func (k *loadedKey) signInput(input []byte) ([]byte, error) {
	switch k.alg {
	case jose.RS256:
		digest := sha256.Sum256(input)
		return k.private.Sign(rand.Reader, digest[:], crypto.SHA256)
	case jose.ES256:
		priv, ok := k.private.(*ecdsa.PrivateKey)
		if !ok || priv.Curve != elliptic.P256() {
			return nil, fmt.Errorf("ES256 needs a P-256 key, have %T", k.private)
		}
		digest := sha256.Sum256(input)
		r, s, err := ecdsa.Sign(rand.Reader, priv, digest[:])
		if err != nil {
			return nil, err
		}
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		return sig, nil
	case jose.EdDSA:
		return k.private.Sign(nil, input, crypto.Hash(0))
	}
	return nil, fmt.Errorf("unsupported algorithm %s", k.alg)
}

// lookup returns the published key named by a token header, checking that
// the header's alg is that key's algorithm.
func (s *snapshot) lookup(kid, alg string) (*loadedKey, error) {
	if kid == "" {
		return nil, fmt.Errorf("%w: no kid header", ErrUnknownKey)
	}
	k, ok := s.byKID[kid]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownKey, kid)
	}
	if alg != string(k.alg) {
		return nil, fmt.Errorf("%w: alg %q, key %s is %s", ErrAlgorithmMismatch, alg, kid, k.alg)
	}
	return k, nil
}

// Verify checks a compact JWS against the published key its kid names
// (next, current or retired; never revoked) and returns the payload and the
// protected header. It checks the signature and the algorithm only: claims
// (exp, iss, aud, typ...) are the caller's to check. A token verified
// before is answered from verifiedCache while its key is still published;
// the payload and header may then be shared with earlier callers, so they
// must not be modified.
func (m *Manager) Verify(token string) (payload []byte, header jose.Header, err error) {
	s := m.snap.Load()
	if len(s.verifyAlgs) == 0 {
		return nil, jose.Header{}, fmt.Errorf("%w: no keys loaded", ErrUnknownKey)
	}
	sum := sha256.Sum256([]byte(token))
	if v, ok := m.verified.get(sum); ok {
		k, err := s.lookup(v.header.KeyID, v.header.Algorithm)
		if err == nil && sameKey(k.public, v.key) {
			return v.payload, v.header, nil
		}
		// The key is gone, or the kid names another key now: verify afresh.
		m.verified.drop(sum)
	}
	obj, err := jose.ParseSignedCompact(token, s.verifyAlgs)
	if err != nil {
		// go-jose rejects algorithms outside verifyAlgs here ("none", HS256).
		return nil, jose.Header{}, fmt.Errorf("keys: malformed or unacceptable JWS: %w", err)
	}
	if len(obj.Signatures) != 1 {
		return nil, jose.Header{}, errors.New("keys: JWS must have exactly one signature")
	}
	h := obj.Signatures[0].Protected
	k, err := s.lookup(h.KeyID, h.Algorithm)
	if err != nil {
		return nil, jose.Header{}, err
	}
	payload, err = obj.Verify(k.public)
	if err != nil {
		return nil, jose.Header{}, fmt.Errorf("keys: invalid signature (kid %s): %w", k.info.KID, err)
	}
	m.verified.put(sum, verifiedToken{payload: payload, header: h, key: k.public})
	return payload, h, nil
}

// sameKey reports whether two public keys are the same key.
func sameKey(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}

// TokenHash computes an OIDC hash claim (at_hash, c_hash) of value for an
// ID token signed with alg: the left half of the hash, base64url. The hash
// follows the OpenID token-hash rules: SHA-256/384/512 from the JWA name,
// and SHA-512 for EdDSA with Ed25519 (the only EdDSA curve this package
// makes). fosite's own at_hash uses SHA-256 for EdDSA; see the package
// tests.
func TokenHash(alg, value string) (string, error) {
	var h hash.Hash
	switch alg {
	case "RS256", "PS256", "ES256", "HS256", "ES256K":
		h = sha256.New()
	case "RS384", "PS384", "ES384", "HS384":
		h = sha512.New384()
	case "RS512", "PS512", "ES512", "HS512", EdDSA:
		h = sha512.New()
	default:
		return "", fmt.Errorf("keys: no token hash for alg %q", alg)
	}
	h.Write([]byte(value))
	sum := h.Sum(nil)
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2]), nil
}
