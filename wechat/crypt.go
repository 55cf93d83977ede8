package wechat

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// maxEncryptedDataLen bounds the base64 input of DecryptData. Phone and user
// info plaintexts are a few hundred bytes; 64 KiB leaves room for anything
// WeChat sends while refusing to decrypt megabytes on a client's say-so.
const maxEncryptedDataLen = 64 << 10

// DecryptData decrypts legacy encrypted data (docs/wechat.md §4.1): base64
// encryptedData and iv, AES-128-CBC under the session key, strict PKCS#7,
// plaintext parsed as a JSON object whose watermark.appid must equal appID.
// It returns the plaintext JSON.
//
// Every failure is a *DecryptError (errors.Is(err, ErrDecrypt)); padding, JSON
// and watermark failures are what a stale session key or tampered data look
// like, so callers should treat them alike (try the previous session key,
// then answer invalid_grant). An empty appID is a programming error and
// returns ErrConfig.
func DecryptData(key SessionKey, encryptedData, iv, appID string) ([]byte, error) {
	if appID == "" {
		return nil, fmt.Errorf("wechat: DecryptData without an expected appid: %w", ErrConfig)
	}
	if key.IsZero() {
		return nil, &DecryptError{Reason: reasonKey}
	}
	if len(encryptedData) > maxEncryptedDataLen || !isStdBase64(encryptedData) {
		return nil, &DecryptError{Reason: reasonBase64}
	}
	ct, err := base64.StdEncoding.DecodeString(encryptedData)
	if err != nil {
		return nil, &DecryptError{Reason: reasonBase64}
	}
	if !isStdBase64(iv) {
		return nil, &DecryptError{Reason: reasonIV}
	}
	ivb, err := base64.StdEncoding.DecodeString(iv)
	if err != nil || len(ivb) != aes.BlockSize {
		return nil, &DecryptError{Reason: reasonIV}
	}
	if len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return nil, &DecryptError{Reason: reasonPadding}
	}
	block, err := aes.NewCipher(key.k[:])
	if err != nil { // cannot happen with a 16-byte key
		return nil, &DecryptError{Reason: reasonKey}
	}
	pt := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, ivb).CryptBlocks(pt, ct)
	n, ok := pkcs7Len(pt)
	if !ok {
		return nil, &DecryptError{Reason: reasonPadding}
	}
	pt = pt[:n]
	if err := checkWatermark(pt, appID); err != nil {
		return nil, err
	}
	return pt, nil
}

// pkcs7Len returns the unpadded length of b, checking the whole padding in
// constant time with respect to the padding bytes (no early exit that would
// help a padding oracle).
func pkcs7Len(b []byte) (int, bool) {
	if len(b) == 0 || len(b)%aes.BlockSize != 0 {
		return 0, false
	}
	last := b[len(b)-1]
	p := int(last)
	good := subtle.ConstantTimeLessOrEq(1, p) & subtle.ConstantTimeLessOrEq(p, aes.BlockSize)
	// Compare the last 16 bytes: those within the padding must equal last.
	tail := b[len(b)-aes.BlockSize:]
	for i := range aes.BlockSize {
		inPad := subtle.ConstantTimeLessOrEq(aes.BlockSize-i, p) // i >= 16-p
		eq := subtle.ConstantTimeByteEq(tail[i], last)
		good &= subtle.ConstantTimeSelect(inPad, eq, 1)
	}
	if good != 1 {
		return 0, false
	}
	return len(b) - p, true
}

type watermark struct {
	AppID     string     `json:"appid"`
	Timestamp flexNumber `json:"timestamp"`
}

// checkWatermark requires pt to be a JSON object with watermark.appid == appID.
func checkWatermark(pt []byte, appID string) error {
	var doc struct {
		Watermark *watermark `json:"watermark"`
	}
	if !isJSONObject(pt) || json.Unmarshal(pt, &doc) != nil {
		return &DecryptError{Reason: reasonJSON}
	}
	if doc.Watermark == nil || doc.Watermark.AppID != appID {
		return &DecryptError{Reason: reasonWatermark}
	}
	return nil
}

// isJSONObject is a cheap pre-check; json.Unmarshal validates the rest.
func isJSONObject(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && b[0] == '{'
}

// Phone is a verified phone number from WeChat. String, Format (every verb),
// GoString, LogValue and MarshalJSON redact the numbers (so a Phone inside a
// logged slice or struct stays redacted); read the fields to store them.
type Phone struct {
	PhoneNumber     string // as WeChat gives it: with the country code for non-CN numbers
	PurePhoneNumber string // national number, digits only
	CountryCode     string // digits, decoded from a JSON string or number
	WatermarkAppID  string
	WatermarkTime   time.Time // when the user acted (watermark.timestamp); zero if absent
}

// E164 returns "+" + CountryCode + PurePhoneNumber, e.g. "+8613800138000", or
// "" when either part is missing.
func (p Phone) E164() string {
	if p.CountryCode == "" || p.PurePhoneNumber == "" {
		return ""
	}
	return "+" + p.CountryCode + p.PurePhoneNumber
}

func (p Phone) String() string { return "wechat.Phone{" + redacted + "}" }

// GoString implements fmt.GoStringer.
func (p Phone) GoString() string { return p.String() }

// Format implements fmt.Formatter: every verb prints the redacted form.
func (p Phone) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, p.String()) }

// LogValue implements slog.LogValuer.
func (p Phone) LogValue() slog.Value { return slog.StringValue(p.String()) }

// MarshalJSON prints the redacted form.
func (p Phone) MarshalJSON() ([]byte, error) { return json.Marshal(p.String()) }

// phoneJSON is the phone object shared by the legacy plaintext and the new
// API's phone_info.
type phoneJSON struct {
	PhoneNumber     string     `json:"phoneNumber"`
	PurePhoneNumber string     `json:"purePhoneNumber"`
	CountryCode     flexString `json:"countryCode"`
	Watermark       *watermark `json:"watermark"`
}

// toPhone validates the decoded object; ok is false when a number is missing
// or not made of digits.
func (j *phoneJSON) toPhone() (Phone, bool) {
	cc := string(j.CountryCode)
	if !isDigits(cc, 1, 4) || !isDigits(j.PurePhoneNumber, 3, 20) || j.PhoneNumber == "" || len(j.PhoneNumber) > 32 {
		return Phone{}, false
	}
	p := Phone{
		PhoneNumber:     j.PhoneNumber,
		PurePhoneNumber: j.PurePhoneNumber,
		CountryCode:     cc,
	}
	if j.Watermark != nil {
		p.WatermarkAppID = j.Watermark.AppID
		if ts := int64(j.Watermark.Timestamp); ts > 0 {
			p.WatermarkTime = time.Unix(ts, 0)
		}
	}
	return p, true
}

// DecryptPhone decrypts legacy phone data (DecryptData) and decodes it.
// A plaintext that is JSON but not a phone object fails with reason "json".
func DecryptPhone(key SessionKey, encryptedData, iv, appID string) (Phone, error) {
	pt, err := DecryptData(key, encryptedData, iv, appID)
	if err != nil {
		return Phone{}, err
	}
	var j phoneJSON
	if err := json.Unmarshal(pt, &j); err != nil {
		return Phone{}, &DecryptError{Reason: reasonJSON}
	}
	p, ok := j.toPhone()
	if !ok {
		return Phone{}, &DecryptError{Reason: reasonJSON}
	}
	return p, nil
}

func isDigits(s string, minLen, maxLen int) bool {
	if len(s) < minLen || len(s) > maxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// flexString decodes a JSON string or a JSON integer (WeChat's doc table says
// countryCode is a string, its sample prints a bare number).
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = ""
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(strings.TrimSpace(s))
		return nil
	}
	n, err := strconv.ParseUint(string(b), 10, 32)
	if err != nil {
		return fmt.Errorf("wechat: expected a string or an unsigned integer")
	}
	*f = flexString(strconv.FormatUint(n, 10))
	return nil
}

// flexNumber decodes a JSON integer or a string holding one (timestamps,
// expires_in); anything else decodes to an error.
type flexNumber int64

func (f *flexNumber) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = 0
		return nil
	}
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("wechat: expected an integer")
	}
	*f = flexNumber(n)
	return nil
}
