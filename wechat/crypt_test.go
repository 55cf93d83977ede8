package wechat_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/wechat"
	"github.com/wxoidc/wxoidc/wechat/wechattest"
)

// Official WeChat sample (docs/wechat.md §4.1).
const (
	vecAppID = "wx4f4bc4dec97d474b"
	vecKey   = "tiihtNczf5v6AKRyjwEUhQ=="
	vecIV    = "r7BXXKkLb8qrSNn05n0qiA=="
	vecData  = "CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC+oNPdbB+3hVbJSRgv+4lGOETKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2/fV6ChevvXvQP8Hkue1poOFtnEtpyxVLW1zAo6/1Xx1COxFvrc2d7UL/lmHInNlxuacJXwu0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8xz+W//FRAUid1OksQaQx4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/r7Z6xNrXd2UIeorGj5Ef7b1pJAYB6Y5anaHqZ9J6nKEBvB4DnNLIVWSgARns/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7XjfhQlVsAJdNiKdYmYVoKlaRv85IfVunYzO0IKXsyl7JCUjCpoG20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOyuxINew=="
)

func mustKey(t testing.TB, b64 string) wechat.SessionKey {
	t.Helper()
	k, err := wechat.ParseSessionKey(b64)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestDecryptDataOfficialVector(t *testing.T) {
	pt, err := wechat.DecryptData(mustKey(t, vecKey), vecData, vecIV, vecAppID)
	if err != nil {
		t.Fatalf("DecryptData: %v", err)
	}
	var info struct {
		OpenID    string `json:"openId"`
		UnionID   string `json:"unionId"`
		Watermark struct {
			Timestamp int64  `json:"timestamp"`
			AppID     string `json:"appid"`
		} `json:"watermark"`
	}
	if err := json.Unmarshal(pt, &info); err != nil {
		t.Fatal(err)
	}
	if info.OpenID != "oGZUI0egBJY1zhBYw2KhdUfwVJJE" || info.UnionID != "ocMvos6NjeKLIBqg5Mr9QjxrP1FA" ||
		info.Watermark.Timestamp != 1477314187 || info.Watermark.AppID != vecAppID {
		t.Errorf("unexpected plaintext %+v", info)
	}
	// Another expected appid fails the watermark check.
	_, err = wechat.DecryptData(mustKey(t, vecKey), vecData, vecIV, testAppID)
	assertReason(t, err, "watermark")
	if !errors.Is(err, wechat.ErrWatermark) {
		t.Error("watermark failure does not match ErrWatermark")
	}
	// It is user info, not a phone.
	_, err = wechat.DecryptPhone(mustKey(t, vecKey), vecData, vecIV, vecAppID)
	assertReason(t, err, "json")
}

func assertReason(t *testing.T, err error, reason string) {
	t.Helper()
	var de *wechat.DecryptError
	if !errors.As(err, &de) || de.Reason != reason {
		t.Fatalf("got %v, want DecryptError %q", err, reason)
	}
	if !errors.Is(err, wechat.ErrDecrypt) {
		t.Errorf("%v does not match ErrDecrypt", err)
	}
}

// encrypt builds legacy data locally (for cases the emulator does not mint).
func encrypt(t testing.TB, key, iv, pt []byte, pad bool) string {
	t.Helper()
	if pad {
		n := aes.BlockSize - len(pt)%aes.BlockSize
		pt = append(append([]byte(nil), pt...), bytes.Repeat([]byte{byte(n)}, n)...)
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, len(pt))
	cipher.NewCBCEncrypter(b, iv).CryptBlocks(out, pt)
	return base64.StdEncoding.EncodeToString(out)
}

func TestDecryptRejections(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 16)
	sk, _ := wechat.SessionKeyFromBytes(key)
	iv := bytes.Repeat([]byte{9}, 16)
	ivb64 := base64.StdEncoding.EncodeToString(iv)
	good := []byte(`{"phoneNumber":"13580006666","purePhoneNumber":"13580006666","countryCode":"86","watermark":{"appid":"` + testAppID + `","timestamp":1}}`)
	goodData := encrypt(t, key, iv, good, true)
	badPad := func(last []byte) string {
		pt := append(append([]byte(nil), good[:len(good)-len(good)%16]...), last...)
		return encrypt(t, key, iv, pt, false)
	}
	tests := []struct {
		name      string
		key       wechat.SessionKey
		data, iv  string
		reason    string
		wantPhone bool
	}{
		{"ok", sk, goodData, ivb64, "", true},
		{"zero key", wechat.SessionKey{}, goodData, ivb64, "key", false},
		{"plus turned into space", sk, strings.Replace(goodData, "+", " ", 1) + "", ivb64, "base64", false},
		{"url-safe alphabet", sk, strings.NewReplacer("+", "-", "/", "_").Replace(goodData), ivb64, "base64", false},
		{"newline inside", sk, goodData[:8] + "\n" + goodData[8:], ivb64, "base64", false},
		{"truncated base64", sk, goodData[:len(goodData)-1], ivb64, "base64", false},
		{"empty data", sk, "", ivb64, "base64", false},
		{"iv 12 bytes", sk, goodData, base64.StdEncoding.EncodeToString(iv[:12]), "iv", false},
		{"iv not base64", sk, goodData, "!!!!", "iv", false},
		{"ciphertext not whole blocks", sk, base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 20)), ivb64, "padding", false},
		{"pad byte 0", sk, badPad(append(bytes.Repeat([]byte{'x'}, 15), 0)), ivb64, "padding", false},
		{"pad byte 17", sk, badPad(append(bytes.Repeat([]byte{'x'}, 15), 17)), ivb64, "padding", false},
		{"pad bytes differ", sk, badPad(append(bytes.Repeat([]byte{'x'}, 13), 2, 3, 3)), ivb64, "padding", false},
		{"full padding block, truncated JSON", sk, encrypt(t, key, iv, append(good[:len(good)-len(good)%16:len(good)-len(good)%16], bytes.Repeat([]byte{16}, 16)...), false), ivb64, "json", false},
		{"not JSON", sk, encrypt(t, key, iv, []byte("hello world"), true), ivb64, "json", false},
		{"JSON array", sk, encrypt(t, key, iv, []byte(`[{"watermark":{"appid":"`+testAppID+`"}}]`), true), ivb64, "json", false},
		{"no watermark", sk, encrypt(t, key, iv, []byte(`{"phoneNumber":"1"}`), true), ivb64, "watermark", false},
		{"watermark of another app", sk, encrypt(t, key, iv, []byte(`{"watermark":{"appid":"`+otherAppID+`"}}`), true), ivb64, "watermark", false},
		{"phone fields missing", sk, encrypt(t, key, iv, []byte(`{"watermark":{"appid":"`+testAppID+`"}}`), true), ivb64, "", false},
		{"country code as number", sk, encrypt(t, key, iv, bytes.Replace(good, []byte(`"86"`), []byte(`86`), 1), true), ivb64, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pt, err := wechat.DecryptData(tc.key, tc.data, tc.iv, testAppID)
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("DecryptData: %v", err)
				}
				if !json.Valid(pt) {
					t.Error("plaintext not JSON")
				}
			} else {
				assertReason(t, err, tc.reason)
				if strings.Contains(err.Error(), tc.data) && tc.data != "" {
					t.Error("error echoes the data")
				}
			}
			p, err := wechat.DecryptPhone(tc.key, tc.data, tc.iv, testAppID)
			if tc.wantPhone {
				if err != nil || p.E164() != "+8613580006666" || p.WatermarkTime.Unix() != 1 {
					t.Errorf("DecryptPhone = %v, %v", p.E164(), err)
				}
			} else if !errors.Is(err, wechat.ErrDecrypt) {
				t.Errorf("DecryptPhone: want ErrDecrypt, got %v", err)
			}
		})
	}
	if _, err := wechat.DecryptData(sk, goodData, ivb64, ""); !errors.Is(err, wechat.ErrConfig) || errors.Is(err, wechat.ErrDecrypt) {
		t.Errorf("empty appid: got %v, want ErrConfig", err)
	}
}

// TestEmulatorTampering: the emulator's tampering hooks produce each class of
// rejection.
func TestEmulatorTampering(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		tamper wechattest.Tamper
		reason string
	}{
		{wechattest.TamperNone, ""},
		{wechattest.TamperCiphertext, "padding"},
		{wechattest.TamperWatermark, "watermark"},
		{wechattest.TamperIVLength, "iv"},
		{wechattest.TamperNonJSON, "json"},
	} {
		g, err := e.emu.PhoneTampered(testAppID, "tess", "+8613800138000", tc.tamper)
		if err != nil {
			t.Fatal(err)
		}
		key := mustKey(t, e.emu.CurrentSessionKey(testAppID, "tess"))
		p, err := wechat.DecryptPhone(key, g.EncryptedData, g.IV, testAppID)
		if tc.reason == "" {
			if err != nil || p.E164() != "+8613800138000" || !p.WatermarkTime.Equal(t0) || p.WatermarkAppID != testAppID {
				t.Errorf("untampered: %v %v", p.E164(), err)
			}
			continue
		}
		assertReason(t, err, tc.reason)
	}
}

// TestStaleSessionKeyRace reproduces the classic race (docs/wechat.md §4.3): the
// phone data is encrypted under the key of the first login; a second login
// in the button callback rotates the key; code2Session returns the new key,
// which cannot decrypt; the previous key still can.
func TestStaleSessionKeyRace(t *testing.T) {
	e := newEnv(t)
	s1, err := e.code2Session(e.login(testAppID, "uma"))
	if err != nil {
		t.Fatal(err)
	}
	g := e.phone(testAppID, "uma", "+8613800138000")
	e.clock.Advance(time.Second)
	s2, err := e.code2Session(e.login(testAppID, "uma")) // wx.login inside the callback
	if err != nil {
		t.Fatal(err)
	}
	if s1.SessionKey.Equal(s2.SessionKey) {
		t.Fatal("login did not rotate the session key")
	}
	_, err = wechat.DecryptPhone(s2.SessionKey, g.EncryptedData, g.IV, testAppID)
	if !errors.Is(err, wechat.ErrDecrypt) {
		t.Fatalf("new key decrypted old data: %v", err)
	}
	p, err := wechat.DecryptPhone(s1.SessionKey, g.EncryptedData, g.IV, testAppID)
	if err != nil || p.E164() != "+8613800138000" {
		t.Fatalf("previous key: %v", err)
	}
	// The reverse order (data fetched before the code) is the same bug: data
	// under the current key decrypts with the key the latest code returns.
	g2 := e.phone(testAppID, "uma", "+8613800138000")
	if _, err := wechat.DecryptPhone(s2.SessionKey, g2.EncryptedData, g2.IV, testAppID); err != nil {
		t.Errorf("current key: %v", err)
	}
}

// TestSessionKeyMinRotation: logins within the minimum period keep the key,
// so the race does not happen.
func TestSessionKeyMinRotation(t *testing.T) {
	e := newEnv(t, func(o *wechattest.Options, _ *wechat.Config) { o.SessionKeyMinRotation = time.Hour })
	s1, err := e.code2Session(e.login(testAppID, "vic"))
	if err != nil {
		t.Fatal(err)
	}
	g := e.phone(testAppID, "vic", "+8613800138000")
	e.clock.Advance(10 * time.Minute)
	s2, err := e.code2Session(e.login(testAppID, "vic"))
	if err != nil {
		t.Fatal(err)
	}
	if !s1.SessionKey.Equal(s2.SessionKey) {
		t.Fatal("key rotated within the minimum period")
	}
	if _, err := wechat.DecryptPhone(s2.SessionKey, g.EncryptedData, g.IV, testAppID); err != nil {
		t.Error(err)
	}
	e.clock.Advance(time.Hour)
	s3, err := e.code2Session(e.login(testAppID, "vic"))
	if err != nil {
		t.Fatal(err)
	}
	if s3.SessionKey.Equal(s2.SessionKey) {
		t.Error("key did not rotate after the minimum period")
	}
}
