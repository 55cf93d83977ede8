package keys

import (
	"bytes"
	"errors"
	"testing"
)

func TestCipherRoundTrip(t *testing.T) {
	t.Parallel()
	c := testCipher(t)
	for _, pt := range [][]byte{nil, {}, []byte("x"), bytes.Repeat([]byte("session-key"), 100)} {
		sealed := c.Seal(pt, []byte("aad"))
		if sealed[0] != sealVersion {
			t.Fatalf("version byte %d, want %d", sealed[0], sealVersion)
		}
		if len(sealed) != 1+nonceSize+len(pt)+tagSize {
			t.Fatalf("sealed length %d for %d-byte plaintext", len(sealed), len(pt))
		}
		if len(pt) >= 8 && bytes.Contains(sealed, pt) {
			t.Fatal("plaintext visible in ciphertext")
		}
		got, err := c.Open(sealed, []byte("aad"))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if !bytes.Equal(got, pt) {
			t.Fatalf("Open = %q, want %q", got, pt)
		}
	}
	// Random nonces: sealing twice never gives the same bytes.
	a, b := c.Seal([]byte("same"), nil), c.Seal([]byte("same"), nil)
	if bytes.Equal(a, b) || bytes.Equal(a[1:13], b[1:13]) {
		t.Fatal("two seals share a nonce")
	}
}

func TestCipherOpenFailures(t *testing.T) {
	t.Parallel()
	c := testCipher(t)
	other := testCipher(t)
	sealed := c.Seal([]byte("secret"), []byte("kid-1"))
	flip := func(i int) []byte {
		b := bytes.Clone(sealed)
		b[i] ^= 1
		return b
	}
	tests := []struct {
		name   string
		cipher *Cipher
		sealed []byte
		aad    []byte
	}{
		{"wrong KEK", other, sealed, []byte("kid-1")},
		{"wrong additional data", c, sealed, []byte("kid-2")},
		{"missing additional data", c, sealed, nil},
		{"flipped nonce bit", c, flip(2), []byte("kid-1")},
		{"flipped ciphertext bit", c, flip(len(sealed) - 20), []byte("kid-1")},
		{"flipped tag bit", c, flip(len(sealed) - 1), []byte("kid-1")},
		{"unknown version", c, flip(0), []byte("kid-1")},
		{"truncated", c, sealed[:len(sealed)-1], []byte("kid-1")},
		{"too short", c, sealed[:1+nonceSize+tagSize-1], []byte("kid-1")},
		{"empty", c, nil, []byte("kid-1")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pt, err := tt.cipher.Open(tt.sealed, tt.aad)
			if !errors.Is(err, ErrDecrypt) {
				t.Fatalf("Open error = %v, want ErrDecrypt", err)
			}
			if pt != nil {
				t.Fatal("plaintext returned on failure")
			}
		})
	}
}

func TestNewCipherKeyLength(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 16, 24, 31, 33, 64} {
		if _, err := NewCipher(make([]byte, n)); err == nil {
			t.Errorf("NewCipher(%d bytes) succeeded", n)
		}
	}
	kek := GenerateKEK()
	c, err := NewCipher(kek)
	if err != nil {
		t.Fatal(err)
	}
	// The cipher keeps its own copy of the KEK.
	sealed := c.Seal([]byte("x"), nil)
	kek[0] ^= 0xff
	if _, err := c.Open(sealed, nil); err != nil {
		t.Fatalf("cipher affected by caller mutating the KEK: %v", err)
	}
}

func TestDerive(t *testing.T) {
	t.Parallel()
	kek := GenerateKEK()
	c1, _ := NewCipher(kek)
	c2, _ := NewCipher(kek)
	c3 := testCipher(t)

	a := c1.Derive("phone-index")
	if len(a) != 32 {
		t.Fatalf("subkey length %d", len(a))
	}
	if !bytes.Equal(a, c2.Derive("phone-index")) {
		t.Fatal("same KEK and purpose gave different subkeys")
	}
	if bytes.Equal(a, c1.Derive("other")) {
		t.Fatal("different purposes gave the same subkey")
	}
	if bytes.Equal(a, c3.Derive("phone-index")) {
		t.Fatal("different KEKs gave the same subkey")
	}
	if bytes.Equal(a, kek) {
		t.Fatal("subkey equals the KEK")
	}
}

func TestGenerateKEK(t *testing.T) {
	t.Parallel()
	a, b := GenerateKEK(), GenerateKEK()
	if len(a) != KEKSize || len(b) != KEKSize {
		t.Fatalf("lengths %d, %d", len(a), len(b))
	}
	if bytes.Equal(a, b) {
		t.Fatal("two KEKs are equal")
	}
}
