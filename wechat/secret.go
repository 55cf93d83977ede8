package wechat

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
)

const redacted = "[redacted]"

// App identifies a WeChat app and holds its AppSecret. Printing, logging or
// JSON-encoding an App never shows the secret.
type App struct {
	AppID  string
	Secret string
}

func (a App) String() string {
	return "wechat.App{AppID:" + a.AppID + " Secret:" + redacted + "}"
}

// GoString implements fmt.GoStringer for %#v.
func (a App) GoString() string { return a.String() }

// Format implements fmt.Formatter so that every verb (%v, %+v, %#v, %s, %q,
// %x …) prints the redacted form.
func (a App) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, a.String()) }

// LogValue implements slog.LogValuer.
func (a App) LogValue() slog.Value {
	return slog.GroupValue(slog.String("appid", a.AppID), slog.String("secret", redacted))
}

// MarshalJSON redacts the secret.
func (a App) MarshalJSON() ([]byte, error) {
	return fmt.Appendf(nil, `{"AppID":%q,"Secret":%q}`, a.AppID, redacted), nil
}

func (a App) validate() error {
	if a.AppID == "" {
		return fmt.Errorf("wechat: app has no appid: %w", ErrConfig)
	}
	if a.Secret == "" {
		return fmt.Errorf("wechat: app %s has no secret: %w", a.AppID, ErrConfig)
	}
	return nil
}

// SessionKey is a user's 16-byte WeChat session_key (AES-128 key for legacy
// encrypted data). Its String, Format (every verb), GoString, MarshalJSON and
// LogValue all print "[redacted]"; use Bytes to persist it (encrypted).
type SessionKey struct {
	k   [16]byte
	set bool
}

// ParseSessionKey decodes WeChat's session_key: standard base64 with padding of
// exactly 16 bytes (24 characters). Anything else is rejected; the error does
// not echo the input.
func ParseSessionKey(b64 string) (SessionKey, error) {
	if len(b64) != 24 || !isStdBase64(b64) {
		return SessionKey{}, errors.New("wechat: session key is not base64 of 16 bytes")
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(b64)
	if err != nil || len(raw) != 16 {
		return SessionKey{}, errors.New("wechat: session key is not base64 of 16 bytes")
	}
	return SessionKeyFromBytes(raw)
}

// SessionKeyFromBytes builds a SessionKey from its 16 raw bytes (as returned
// by Bytes). The slice is copied.
func SessionKeyFromBytes(b []byte) (SessionKey, error) {
	if len(b) != 16 {
		return SessionKey{}, fmt.Errorf("wechat: session key must be 16 bytes, got %d", len(b))
	}
	var k SessionKey
	copy(k.k[:], b)
	k.set = true
	return k, nil
}

// Bytes returns a copy of the raw key, or nil for the zero SessionKey.
func (k SessionKey) Bytes() []byte {
	if !k.set {
		return nil
	}
	b := make([]byte, 16)
	copy(b, k.k[:])
	return b
}

// IsZero reports whether k holds no key.
func (k SessionKey) IsZero() bool { return !k.set }

// Equal compares two keys in constant time.
func (k SessionKey) Equal(o SessionKey) bool {
	return k.set == o.set && subtle.ConstantTimeCompare(k.k[:], o.k[:]) == 1
}

func (k SessionKey) String() string { return redacted }

// GoString implements fmt.GoStringer.
func (k SessionKey) GoString() string { return redacted }

// Format implements fmt.Formatter: every verb prints "[redacted]".
func (k SessionKey) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// LogValue implements slog.LogValuer.
func (k SessionKey) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON prints "[redacted]".
func (k SessionKey) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// UnmarshalJSON always fails: a SessionKey never travels as JSON (MarshalJSON
// redacts it), so decoding one would silently yield a wrong key.
func (k *SessionKey) UnmarshalJSON([]byte) error {
	return errors.New("wechat: a SessionKey cannot be decoded from JSON; persist Bytes() instead")
}

// isStdBase64 reports whether s uses only the standard base64 alphabet with
// optional trailing '=' padding. It rejects the whitespace and '-'/'_' that the
// decoder would otherwise tolerate or that signal mangled transport (a '+'
// turned into a space by URL decoding).
func isStdBase64(s string) bool {
	if len(s) == 0 || len(s)%4 != 0 {
		return false
	}
	pad := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '=':
			pad++
		case pad > 0:
			return false // data after padding
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/':
		default:
			return false
		}
	}
	return pad <= 2
}
