package keys

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
)

// TestParseKEK pins the one rule for reading a key-encryption key (the
// configuration check and the server both call ParseKEK).
func TestParseKEK(t *testing.T) {
	t.Parallel()
	kek := GenerateKEK()
	// A key whose base64 uses both alphabet-specific characters, so that
	// the standard and URL-safe forms really differ.
	special := bytes.Repeat([]byte{0xfb, 0xff, 0xbf}, 11)[:KEKSize]
	std := base64.StdEncoding.EncodeToString(kek)
	tests := []struct {
		name string
		in   string
		want []byte // nil: must fail
		msg  string // for failures, a substring of the error
	}{
		{"hex", hex.EncodeToString(kek), kek, ""},
		{"hex upper case", strings.ToUpper(hex.EncodeToString(kek)), kek, ""},
		{"base64 standard", std, kek, ""},
		{"base64 standard unpadded", base64.RawStdEncoding.EncodeToString(kek), kek, ""},
		{"base64 url", base64.URLEncoding.EncodeToString(kek), kek, ""},
		{"base64 url unpadded", base64.RawURLEncoding.EncodeToString(kek), kek, ""},
		{"base64 standard with + and /", base64.StdEncoding.EncodeToString(special), special, ""},
		{"base64 url with - and _", base64.RawURLEncoding.EncodeToString(special), special, ""},
		{"file with trailing newline", std + "\n", kek, ""},
		{"file with CRLF", hex.EncodeToString(kek) + "\r\n", kek, ""},
		{"surrounding spaces and tabs", " \t" + std + " \n", kek, ""},

		{"empty", "", nil, "is empty"},
		{"blank", " \n\t", nil, "is empty"},
		{"space inside", std[:20] + " " + std[20:], nil, "white space inside"},
		{"wrapped base64", std[:22] + "\n" + std[22:], nil, "white space inside"},
		{"short hex", hex.EncodeToString(kek[:16]), nil, "got 32 hex digits"},
		{"long hex", hex.EncodeToString(append(bytes.Clone(kek), 1)), nil, "got 66 hex digits"},
		{"63 hex digits", hex.EncodeToString(kek)[:63], nil, "must be 32 bytes"},
		{"16-byte base64", base64.StdEncoding.EncodeToString(kek[:16]), nil, "got 16"},
		{"48-byte base64", base64.StdEncoding.EncodeToString(bytes.Repeat(kek, 2)[:48]), nil, "got 48"},
		{"mixed base64 alphabets", "+_" + base64.RawStdEncoding.EncodeToString(kek)[2:], nil, "must be 32 bytes written as"},
		{"not an encoding", "this-is-not-a-key-encryption-key!!", nil, "must be 32 bytes written as"},
		{"64 non-hex characters", strings.Repeat("z", 63) + "!", nil, "must be 32 bytes written as"},
		{"bad padding", std[:43] + "==", nil, "must be 32 bytes written as"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseKEK(tt.in)
			if tt.want != nil {
				if err != nil {
					t.Fatalf("ParseKEK: %v", err)
				}
				if !bytes.Equal(got, tt.want) {
					t.Fatal("ParseKEK returned another key")
				}
				return
			}
			if err == nil {
				t.Fatal("ParseKEK accepted it")
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not say %q", err, tt.msg)
			}
			for _, part := range strings.Fields(tt.in) {
				if len(part) >= 8 && strings.Contains(err.Error(), part) {
					t.Fatalf("error %q echoes the input", err)
				}
			}
		})
	}
}
