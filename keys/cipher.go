package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// sealVersion prefixes every sealed value so that the format (AEAD, nonce
// size, key derivation) can change later without guessing.
const sealVersion byte = 1

const (
	nonceSize = 12
	tagSize   = 16
	// aeadInfo and derivePrefix separate the AEAD key from every Derive
	// subkey: the KEK itself is never used directly by two primitives.
	aeadInfo     = "wxoidc/aead/aes-256-gcm/v1"
	derivePrefix = "wxoidc/derive/"
)

// ErrDecrypt is returned by Open for any ciphertext that does not
// authenticate: wrong KEK, wrong additional data, truncation or tampering.
// The cause is deliberately not distinguished.
var ErrDecrypt = errors.New("keys: decryption failed")

// Cipher is an AEAD (AES-256-GCM) under a key-encryption key. It encrypts
// private signing keys at rest and, in the provider, WeChat session keys,
// phone numbers and token-session data. It is safe for concurrent use.
type Cipher struct {
	aead cipher.AEAD
	kek  []byte
}

// NewCipher returns a Cipher for a 32-byte KEK. The KEK is copied.
func NewCipher(kek []byte) (*Cipher, error) {
	if len(kek) != KEKSize {
		return nil, fmt.Errorf("keys: key-encryption key must be %d bytes, got %d", KEKSize, len(kek))
	}
	k := make([]byte, KEKSize)
	copy(k, kek)
	aeadKey, err := hkdf.Key(sha256.New, k, nil, aeadInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("keys: deriving AEAD key: %w", err)
	}
	block, err := aes.NewCipher(aeadKey)
	if err != nil {
		return nil, fmt.Errorf("keys: AES: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("keys: GCM: %w", err)
	}
	return &Cipher{aead: aead, kek: k}, nil
}

// Seal encrypts plaintext bound to additionalData (which is authenticated,
// not stored). The result is version byte || random 12-byte nonce ||
// ciphertext || tag.
func (c *Cipher) Seal(plaintext, additionalData []byte) []byte {
	out := make([]byte, 1+nonceSize, 1+nonceSize+len(plaintext)+tagSize)
	out[0] = sealVersion
	// crypto/rand.Read never fails (Go 1.24+); it aborts the program instead.
	_, _ = rand.Read(out[1 : 1+nonceSize])
	return c.aead.Seal(out, out[1:1+nonceSize], plaintext, additionalData)
}

// Open decrypts a value made by Seal with the same additionalData. Every
// failure is ErrDecrypt (wrapped with the reason when it is structural).
func (c *Cipher) Open(sealed, additionalData []byte) ([]byte, error) {
	if len(sealed) < 1+nonceSize+tagSize {
		return nil, fmt.Errorf("%w: ciphertext too short", ErrDecrypt)
	}
	if sealed[0] != sealVersion {
		return nil, fmt.Errorf("%w: unknown format version %d", ErrDecrypt, sealed[0])
	}
	pt, err := c.aead.Open(nil, sealed[1:1+nonceSize], sealed[1+nonceSize:], additionalData)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// Derive returns a 32-byte subkey of the KEK for purpose (HKDF-SHA256), e.g.
// the HMAC key of a blind index. Distinct purposes give independent keys;
// the same purpose always gives the same key for the same KEK.
func (c *Cipher) Derive(purpose string) []byte {
	k, err := hkdf.Key(sha256.New, c.kek, nil, derivePrefix+purpose, 32)
	if err != nil {
		// Only possible for an output longer than 255*32 bytes.
		panic(fmt.Sprintf("keys: hkdf: %v", err))
	}
	return k
}
