package provider

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/ory/fosite"
)

// SecretHasher hashes client secrets for fosite.
//
// Two encodings, chosen per secret:
//   - "$hmac-sha256$salt$mac": server-generated secrets (≥ 32 random bytes).
//     Their entropy makes brute force hopeless, so a keyed hash (pepper
//     derived from the KEK) is enough and costs about a microsecond, where
//     fosite's default bcrypt cost 12 costs ~250 ms per request.
//   - "$pbkdf2-sha256$iter$salt$dk": anything shorter or imported (humans
//     choose weak secrets), with a configurable iteration count; its input
//     is peppered too.
type SecretHasher struct {
	pepper     []byte
	iterations int
}

var _ fosite.Hasher = (*SecretHasher)(nil)

// generatedSecretMinLen is the length from which a secret counts as
// server-generated: 32 random bytes in unpadded base64url.
const generatedSecretMinLen = 43

// DefaultPBKDF2Iterations is the cost of imported secrets; see docs/performance.md.
const DefaultPBKDF2Iterations = 25000

// NewSecretHasher returns a hasher; iterations <= 0 selects the default.
func NewSecretHasher(pepper []byte, iterations int) (*SecretHasher, error) {
	if len(pepper) < 32 {
		return nil, errors.New("secret hasher: pepper must be at least 32 bytes")
	}
	if iterations <= 0 {
		iterations = DefaultPBKDF2Iterations
	}
	return &SecretHasher{pepper: pepper, iterations: iterations}, nil
}

// GenerateSecret returns a new 256-bit client secret.
func GenerateSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Hash encodes data per the rules above.
func (h *SecretHasher) Hash(_ context.Context, data []byte) ([]byte, error) {
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	enc := base64.RawStdEncoding
	if len(data) >= generatedSecretMinLen {
		return []byte("$hmac-sha256$" + enc.EncodeToString(salt) + "$" + enc.EncodeToString(h.mac(salt, data))), nil
	}
	dk, err := pbkdf2.Key(sha256.New, h.peppered(data), salt, h.iterations, 32)
	if err != nil {
		return nil, fmt.Errorf("secret hasher: %w", err)
	}
	return []byte(fmt.Sprintf("$pbkdf2-sha256$%d$%s$%s", h.iterations, enc.EncodeToString(salt), enc.EncodeToString(dk))), nil
}

var errSecretMismatch = errors.New("secret hasher: secret does not match")

// Compare checks data against an encoded hash in constant time.
func (h *SecretHasher) Compare(_ context.Context, hash, data []byte) error {
	parts := strings.Split(string(hash), "$")
	enc := base64.RawStdEncoding
	var want, got []byte
	switch {
	case len(parts) == 4 && parts[1] == "hmac-sha256":
		salt, err1 := enc.DecodeString(parts[2])
		w, err2 := enc.DecodeString(parts[3])
		if err1 != nil || err2 != nil {
			return errors.New("secret hasher: malformed hash")
		}
		want, got = w, h.mac(salt, data)
	case len(parts) == 5 && parts[1] == "pbkdf2-sha256":
		iter, err := strconv.Atoi(parts[2])
		salt, err1 := enc.DecodeString(parts[3])
		w, err2 := enc.DecodeString(parts[4])
		if err != nil || err1 != nil || err2 != nil || iter < 1 || iter > 10_000_000 {
			return errors.New("secret hasher: malformed hash")
		}
		dk, err := pbkdf2.Key(sha256.New, h.peppered(data), salt, iter, len(w))
		if err != nil {
			return fmt.Errorf("secret hasher: %w", err)
		}
		want, got = w, dk
	default:
		return errors.New("secret hasher: unknown hash format")
	}
	if subtle.ConstantTimeCompare(want, got) != 1 {
		return errSecretMismatch
	}
	return nil
}

// peppered keys the PBKDF2 input too, so a stolen database alone does not
// allow offline guessing of weak imported secrets.
func (h *SecretHasher) peppered(data []byte) string {
	m := hmac.New(sha256.New, h.pepper)
	m.Write([]byte("pbkdf2:"))
	m.Write(data)
	return string(m.Sum(nil))
}

func (h *SecretHasher) mac(salt, data []byte) []byte {
	m := hmac.New(sha256.New, h.pepper)
	m.Write(salt)
	m.Write(data)
	return m.Sum(nil)
}
