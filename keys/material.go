package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"sync"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/wxoidc/wxoidc/storage"
)

// Signing algorithms (JWA names) the package supports.
const (
	RS256 = "RS256" // RSASSA-PKCS1-v1_5 with SHA-256; mandatory per OIDC
	ES256 = "ES256" // ECDSA P-256 with SHA-256
	EdDSA = "EdDSA" // Ed25519 (RFC 8037)
)

// SupportedAlgorithms lists the algorithms Config.Algorithms may name.
var SupportedAlgorithms = []string{RS256, ES256, EdDSA}

func supportedAlgorithm(alg string) bool {
	switch alg {
	case RS256, ES256, EdDSA:
		return true
	}
	return false
}

// minRSABits is the smallest RSA modulus accepted when loading a key; new
// keys use Config.RSABits.
const minRSABits = 2048

// kidBytes random bytes make a kid: unguessable and never derived from time,
// so a kid reveals nothing about when or where a key was made.
const kidBytes = 16

// newKID returns a fresh kid. It never starts with '-': operators type kids
// on command lines ("wxoidc keys revoke KID"), where a leading '-' reads as
// a flag. Redrawing the first character's bits costs 2 of 128 bits.
func newKID() string {
	b := make([]byte, kidBytes)
	_, _ = rand.Read(b)
	for b[0]>>2 == 62 { // base64url index 62 is '-'
		_, _ = rand.Read(b[:1])
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// privateKeyAAD binds a sealed private key to its row: a ciphertext copied
// to another kid does not decrypt. The prefix separates it from other data
// sealed under the same KEK.
func privateKeyAAD(kid string) []byte {
	return []byte("wxoidc/signing-key/" + kid)
}

// generatePrivateKey makes a new private key for alg.
func generatePrivateKey(alg string, rsaBits int) (crypto.Signer, error) {
	switch alg {
	case RS256:
		k, err := rsa.GenerateKey(rand.Reader, rsaBits)
		if err != nil {
			return nil, fmt.Errorf("keys: generating RSA-%d key: %w", rsaBits, err)
		}
		return k, nil
	case ES256:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("keys: generating P-256 key: %w", err)
		}
		return k, nil
	case EdDSA:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("keys: generating Ed25519 key: %w", err)
		}
		return k, nil
	}
	return nil, fmt.Errorf("keys: unsupported algorithm %q", alg)
}

// checkKeyType verifies that priv is the right kind of key for alg.
func checkKeyType(alg string, priv any) (crypto.Signer, error) {
	switch alg {
	case RS256:
		k, ok := priv.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("keys: %s key holds %T, want RSA", alg, priv)
		}
		if k.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("keys: RSA key of %d bits is too short (minimum %d)", k.N.BitLen(), minRSABits)
		}
		return k, nil
	case ES256:
		k, ok := priv.(*ecdsa.PrivateKey)
		if !ok || k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("keys: %s key is not a P-256 ECDSA key", alg)
		}
		return k, nil
	case EdDSA:
		k, ok := priv.(ed25519.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("keys: %s key holds %T, want Ed25519", alg, priv)
		}
		return k, nil
	}
	return nil, fmt.Errorf("keys: unsupported algorithm %q", alg)
}

// publicJWK is the JSON of the public JWK as published in the JWKS.
func publicJWK(kid, alg string, pub crypto.PublicKey) ([]byte, error) {
	jwk := jose.JSONWebKey{Key: pub, KeyID: kid, Algorithm: alg, Use: "sig"}
	b, err := jwk.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("keys: encoding public JWK of %s: %w", kid, err)
	}
	return b, nil
}

// sealNewKey encrypts priv and returns a SigningKey row without state or
// dates (the lifecycle sets those).
func sealNewKey(c *Cipher, kid, alg string, priv crypto.Signer) (storage.SigningKey, error) {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return storage.SigningKey{}, fmt.Errorf("keys: encoding private key %s: %w", kid, err)
	}
	pub, err := publicJWK(kid, alg, priv.Public())
	if err != nil {
		return storage.SigningKey{}, err
	}
	return storage.SigningKey{
		KID:                 kid,
		Algorithm:           alg,
		PrivateKeyEncrypted: c.Seal(der, privateKeyAAD(kid)),
		PublicJWK:           pub,
	}, nil
}

// newSealedKey generates a key for alg and seals it.
func newSealedKey(c *Cipher, alg string, rsaBits int) (storage.SigningKey, error) {
	priv, err := generatePrivateKey(alg, rsaBits)
	if err != nil {
		return storage.SigningKey{}, err
	}
	return sealNewKey(c, newKID(), alg, priv)
}

// loadedKey is a published key, decrypted and parsed once per change of the
// set. It is immutable after construction.
type loadedKey struct {
	info    KeyInfo
	alg     jose.SignatureAlgorithm
	private crypto.Signer
	public  crypto.PublicKey
	jwk     []byte // public JWK JSON as published, derived from private
	// headers caches the encoded protected header by typ (sign).
	headers sync.Map
}

type publicKeyEqualer interface {
	Equal(crypto.PublicKey) bool
}

// openKey decrypts and checks one row: the private key must decrypt under
// its kid, match the row's algorithm, and match the stored public JWK (so a
// tampered PublicJWK column cannot publish a foreign key).
func openKey(c *Cipher, row storage.SigningKey) (*loadedKey, error) {
	if !supportedAlgorithm(row.Algorithm) {
		return nil, fmt.Errorf("keys: key %s: unsupported algorithm %q", row.KID, row.Algorithm)
	}
	der, err := c.Open(row.PrivateKeyEncrypted, privateKeyAAD(row.KID))
	if err != nil {
		return nil, fmt.Errorf("keys: key %s: private key: %w", row.KID, err)
	}
	raw, err := x509.ParsePKCS8PrivateKey(der)
	clear(der)
	if err != nil {
		return nil, fmt.Errorf("keys: key %s: parsing private key: %w", row.KID, err)
	}
	priv, err := checkKeyType(row.Algorithm, raw)
	if err != nil {
		return nil, fmt.Errorf("keys: key %s: %w", row.KID, err)
	}
	pub := priv.Public()

	var stored jose.JSONWebKey
	if err := stored.UnmarshalJSON(row.PublicJWK); err != nil {
		return nil, fmt.Errorf("keys: key %s: parsing public JWK: %w", row.KID, err)
	}
	eq, ok := pub.(publicKeyEqualer)
	switch {
	case !stored.IsPublic():
		return nil, fmt.Errorf("keys: key %s: stored public JWK holds private material", row.KID)
	case stored.KeyID != row.KID || stored.Algorithm != row.Algorithm:
		return nil, fmt.Errorf("keys: key %s: stored public JWK names kid %q alg %q", row.KID, stored.KeyID, stored.Algorithm)
	case !ok || !eq.Equal(stored.Key):
		return nil, fmt.Errorf("keys: key %s: stored public JWK does not match the private key", row.KID)
	}

	jwk, err := publicJWK(row.KID, row.Algorithm, pub)
	if err != nil {
		return nil, err
	}
	return &loadedKey{
		info:    infoOf(row),
		jwk:     jwk,
		alg:     jose.SignatureAlgorithm(row.Algorithm),
		private: priv,
		public:  pub,
	}, nil
}
