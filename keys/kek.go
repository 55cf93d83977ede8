package keys

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// KEKSize is the length of a key-encryption key in bytes.
const KEKSize = 32

// kekHint tells an operator how to write a key-encryption key.
const kekHint = "64 hex digits or base64, e.g. the output of `openssl rand -base64 32`"

// ParseKEK decodes a key-encryption key. It is the one rule for every place
// a KEK is read (the configuration check and the cipher the server builds),
// so that a key the check accepts is the key the server uses:
//
//   - white space around the key is ignored (a file's trailing newline or
//     CRLF, stray spaces in an environment variable); white space inside it
//     is an error, so a wrapped or pasted-together key is not silently joined;
//   - 64 hex digits, either case, are hex;
//   - anything else must be base64 of exactly 32 bytes, in the standard or
//     URL-safe alphabet, padded (44 characters) or not (43).
//
// The error never contains the input, which is a secret.
func ParseKEK(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return nil, errors.New("keys: key-encryption key is empty")
	case strings.ContainsFunc(s, unicode.IsSpace):
		return nil, errors.New("keys: key-encryption key has white space inside it (only white space around it is ignored)")
	case len(s) == 2*KEKSize:
		if b, err := hex.DecodeString(s); err == nil {
			return b, nil
		}
	case len(s)%2 == 0 && isHex(s):
		// Also valid base64, but meant as hex: say so rather than report
		// the length of a base64 reading.
		return nil, fmt.Errorf("keys: key-encryption key must be %d bytes, got %d hex digits (%s)", KEKSize, len(s), kekHint)
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		b, err := enc.DecodeString(s)
		if err != nil {
			continue
		}
		// The encodings agree on length: a wrong one is wrong under all.
		if len(b) != KEKSize {
			return nil, fmt.Errorf("keys: key-encryption key must be %d bytes, got %d (%s)", KEKSize, len(b), kekHint)
		}
		return b, nil
	}
	return nil, fmt.Errorf("keys: key-encryption key must be %d bytes written as %s", KEKSize, kekHint)
}

func isHex(s string) bool {
	for _, r := range s {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f' || 'A' <= r && r <= 'F') {
			return false
		}
	}
	return true
}

// GenerateKEK returns a fresh random 32-byte key-encryption key.
func GenerateKEK() []byte {
	k := make([]byte, KEKSize)
	_, _ = rand.Read(k)
	return k
}
