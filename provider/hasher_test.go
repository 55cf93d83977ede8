package provider

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func testHasher(t *testing.T, pepper byte, iterations int) *SecretHasher {
	t.Helper()
	h, err := NewSecretHasher(bytes.Repeat([]byte{pepper}, 32), iterations)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestSecretHasherRoundTrip(t *testing.T) {
	ctx := context.Background()
	h := testHasher(t, 1, 1000)
	generated := GenerateSecret()
	if len(generated) < generatedSecretMinLen {
		t.Fatalf("generated secret has %d chars, want ≥ %d", len(generated), generatedSecretMinLen)
	}
	for _, c := range []struct {
		secret, prefix string
	}{
		{generated, "$hmac-sha256$"},
		{"short-human-secret", "$pbkdf2-sha256$1000$"},
		{"", "$pbkdf2-sha256$1000$"},
		{strings.Repeat("é", 30), "$hmac-sha256$"}, // 60 bytes
	} {
		hash, err := h.Hash(ctx, []byte(c.secret))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(hash), c.prefix) {
			t.Errorf("hash of a %d-byte secret = %s, want prefix %s", len(c.secret), hash, c.prefix)
		}
		if strings.Contains(string(hash), c.secret) && c.secret != "" {
			t.Errorf("hash contains the secret")
		}
		if err := h.Compare(ctx, hash, []byte(c.secret)); err != nil {
			t.Errorf("Compare(own hash) = %v", err)
		}
		if err := h.Compare(ctx, hash, []byte(c.secret+"x")); err == nil {
			t.Error("Compare accepted a wrong secret")
		}
		// Salted: hashing twice gives different encodings that both verify.
		again, _ := h.Hash(ctx, []byte(c.secret))
		if bytes.Equal(again, hash) {
			t.Error("two hashes of one secret are equal: no salt")
		}
		// The pepper (derived from the KEK) is part of the hash.
		if err := testHasher(t, 2, 1000).Compare(ctx, hash, []byte(c.secret)); err == nil && c.prefix == "$hmac-sha256$" {
			t.Error("a hasher with another pepper accepted the hash")
		}
	}
}

// A hash records its own iteration count, so changing the configured cost
// keeps existing secrets working.
func TestSecretHasherCostChange(t *testing.T) {
	ctx := context.Background()
	old, err := testHasher(t, 1, 500).Hash(ctx, []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	if err := testHasher(t, 1, 2000).Compare(ctx, old, []byte("pw")); err != nil {
		t.Fatalf("hash made with another cost: %v", err)
	}
}

func TestSecretHasherRejectsMalformedHashes(t *testing.T) {
	ctx := context.Background()
	h := testHasher(t, 1, 1000)
	for _, hash := range []string{
		"", "plain", "$2a$12$abcdefghijklmnopqrstuv", // bcrypt is not accepted
		"$hmac-sha256$", "$hmac-sha256$!!!$!!!", "$hmac-sha256$AAAA$AAAA$extra",
		"$pbkdf2-sha256$x$AAAA$AAAA", "$pbkdf2-sha256$0$AAAA$AAAA", "$pbkdf2-sha256$-5$AAAA$AAAA",
		"$pbkdf2-sha256$10000001$AAAA$AAAA", // bounded: a planted hash cannot stall a request
		"$pbkdf2-sha256$1000$!!!$AAAA",
	} {
		if err := h.Compare(ctx, []byte(hash), []byte("pw")); err == nil {
			t.Errorf("Compare accepted malformed hash %q", hash)
		}
	}
}

func TestNewSecretHasherValidates(t *testing.T) {
	if _, err := NewSecretHasher(make([]byte, 31), 0); err == nil {
		t.Error("short pepper accepted")
	}
	h, err := NewSecretHasher(make([]byte, 32), 0)
	if err != nil {
		t.Fatal(err)
	}
	if h.iterations != DefaultPBKDF2Iterations {
		t.Errorf("default iterations = %d", h.iterations)
	}
}
