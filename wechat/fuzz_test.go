package wechat

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// FuzzDecryptData feeds arbitrary key/data/iv/appid to DecryptData and
// DecryptPhone, and round-trips arbitrary plaintexts through a correct
// encryption. Invariants: no panic; every failure is a *DecryptError (or
// ErrConfig for an empty appid) whose message names only the reason; a
// success is a JSON object whose watermark names the expected appid.
func FuzzDecryptData(f *testing.F) {
	f.Add([]byte("tiihtNczf5v6AKRy"), "CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC+oNPdbB+3hVbJSRgv+4lGOETKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2/fV6ChevvXvQP8Hkue1poOFtnEtpyxVLW1zAo6/1Xx1COxFvrc2d7UL/lmHInNlxuacJXwu0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8xz+W//FRAUid1OksQaQx4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/r7Z6xNrXd2UIeorGj5Ef7b1pJAYB6Y5anaHqZ9J6nKEBvB4DnNLIVWSgARns/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7XjfhQlVsAJdNiKdYmYVoKlaRv85IfVunYzO0IKXsyl7JCUjCpoG20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOyuxINew==", "r7BXXKkLb8qrSNn05n0qiA==", "wx4f4bc4dec97d474b",
		[]byte(`{"phoneNumber":"13580006666","purePhoneNumber":"13580006666","countryCode":"86","watermark":{"appid":"wx4f4bc4dec97d474b","timestamp":1}}`))
	f.Add([]byte("0123456789abcdef"), "AAAAAAAAAAAAAAAAAAAAAA==", "AAAAAAAAAAAAAAAAAAAAAA==", "wx1", []byte(`{"watermark":{"appid":"wx1"}}`))
	f.Add([]byte("0123456789abcdef"), "", "", "", []byte(`[]`))
	f.Add([]byte("short"), "a b", "====", "wx1", []byte(`{"phoneNumber":1,"countryCode":86}`))
	f.Add([]byte("0123456789abcdef"), "AAAA", "r7BXXKkLb8qrSNn05n0qiA==", "wx1", []byte("\x00\x10"))

	f.Fuzz(func(t *testing.T, rawKey []byte, data, iv, appID string, plaintext []byte) {
		key, kerr := SessionKeyFromBytes(rawKey)
		if kerr != nil {
			key = SessionKey{}
		}
		checkDecrypt(t, key, data, iv, appID)

		// Round trip: a correct encryption of plaintext decrypts to exactly
		// plaintext iff plaintext is a JSON object with a matching watermark.
		if kerr != nil || appID == "" || len(plaintext) > 4096 {
			return
		}
		ivb := bytes.Repeat([]byte{0x42}, aes.BlockSize)
		enc := encryptForTest(key.k[:], ivb, plaintext)
		pt, err := DecryptData(key, enc, base64.StdEncoding.EncodeToString(ivb), appID)
		want := checkWatermark(plaintext, appID) == nil
		if want != (err == nil) {
			t.Fatalf("round trip: err = %v, plaintext valid = %v", err, want)
		}
		if err == nil && !bytes.Equal(pt, plaintext) {
			t.Fatal("round trip changed the plaintext")
		}
	})
}

func checkDecrypt(t *testing.T, key SessionKey, data, iv, appID string) {
	pt, err := DecryptData(key, data, iv, appID)
	if err != nil {
		var de *DecryptError
		switch {
		case errors.As(err, &de):
			switch de.Reason {
			case reasonKey, reasonBase64, reasonIV, reasonPadding, reasonJSON, reasonWatermark:
			default:
				t.Fatalf("unknown reason %q", de.Reason)
			}
			if de.Error() != "wechat: encrypted data rejected: "+de.Reason {
				t.Fatalf("message carries data: %q", de.Error())
			}
		case appID == "" && errors.Is(err, ErrConfig):
		default:
			t.Fatalf("unexpected error type %T: %v", err, err)
		}
	} else {
		var doc struct {
			Watermark struct {
				AppID string `json:"appid"`
			} `json:"watermark"`
		}
		if json.Unmarshal(pt, &doc) != nil || doc.Watermark.AppID != appID || appID == "" {
			t.Fatalf("accepted plaintext without a matching watermark: %q", pt)
		}
	}
	p, perr := DecryptPhone(key, data, iv, appID)
	if (err != nil) && perr == nil {
		t.Fatal("DecryptPhone succeeded where DecryptData failed")
	}
	if perr == nil && (p.E164() == "" || p.WatermarkAppID != appID || strings.ContainsAny(p.E164()[1:], "+- ")) {
		t.Fatalf("DecryptPhone accepted a bad phone: %+v", p.E164())
	}
}

func encryptForTest(key, iv, pt []byte) string {
	n := aes.BlockSize - len(pt)%aes.BlockSize
	buf := append(append([]byte(nil), pt...), bytes.Repeat([]byte{byte(n)}, n)...)
	b, _ := aes.NewCipher(key)
	cipher.NewCBCEncrypter(b, iv).CryptBlocks(buf, buf)
	return base64.StdEncoding.EncodeToString(buf)
}

// FuzzParseResponse feeds arbitrary bodies to the response parsers.
// Invariants: no panic; a success is self-consistent; errmsg sanitising
// bounds the message and strips control characters.
func FuzzParseResponse(f *testing.F) {
	for _, s := range []string{
		`{"session_key":"5tF5KuDigyB6e4m7FigHvw==","openid":"orWy35UBNFZyReiUYVZvtPrqht-0"}`,
		`{"session_key":"5tF5KuDigyB6e4m7FigHvw==","openid":"o1","unionid":"ocMvos6NjeKLIBqg5Mr9QjxrP1FA","errcode":0,"errmsg":"ok"}`,
		`{"errcode":40029,"errmsg":"invalid code, rid: 6166f719-6cb5d09c-633ab469"}`,
		`{"errcode":-1,"errmsg":"system error"}`,
		`{"errcode":"45011"}`,
		`{"errcode":0,"errmsg":"ok","phone_info":{"phoneNumber":"+14155550123","purePhoneNumber":"4155550123","countryCode":1,"watermark":{"timestamp":1637744274,"appid":"wx1"}}}`,
		`{"access_token":"ACCESS_TOKEN_ACCESS_TOKEN","expires_in":7200}`,
		`{"access_token":"x","expires_in":"7200"}`,
		``, `null`, `[]`, `<html></html>`, `{"errcode":1e3}`, "{\"errmsg\":\"\\u0000\\n\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		env, err := parseEnvelope(body)
		if err != nil {
			return
		}
		msg := sanitizeErrMsg(env.msg, []string{"SECRETSECRET"})
		if strings.Contains(msg, "SECRETSECRET") || len([]rune(msg)) > maxErrMsgRunes+1 {
			t.Fatalf("sanitizeErrMsg: %q", msg)
		}
		for _, r := range msg {
			if r < 0x20 || r == 0x7f {
				t.Fatalf("control character in %q", msg)
			}
		}
		if s, err := parseSession(body); err == nil {
			if s.OpenID == "" || s.SessionKey.IsZero() || len(s.OpenID) > maxIDLen {
				t.Fatalf("bad session accepted: %+v", s)
			}
		}
		if p, err := parsePhoneInfo(body); err == nil {
			if !isDigits(p.CountryCode, 1, 4) || !isDigits(p.PurePhoneNumber, 3, 20) {
				t.Fatalf("bad phone accepted")
			}
		}
		if tok, exp, err := parseToken(body); err == nil {
			if tok == "" || exp <= 0 || strings.ContainsAny(tok, " \n\t") {
				t.Fatalf("bad token accepted: %q %d", tok, exp)
			}
		}
	})
}

// FuzzClassifyBody feeds arbitrary bodies to the image-or-envelope
// classification of binary answers (getwxacodeunlimit). Invariants: no
// panic; an image is reported exactly when the body starts with a PNG or
// JPEG magic number, and then no envelope is read; anything else gets
// exactly parseEnvelope's verdict, so a JSON error can never pass for an
// image; a non-binary request never sees an image.
func FuzzClassifyBody(f *testing.F) {
	for _, s := range []string{
		"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
		"\xff\xd8\xff\xe0\x00\x10JFIF",
		"\x89PNG\r\n",
		"\xff\xd8",
		`{"errcode":45009,"errmsg":"reach max api daily quota limit"}`,
		` {"errcode":41030,"errmsg":"invalid page"}`,
		`{"errcode":0}`,
		"GIF89a", "", "null", "<html></html>",
	} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, body []byte, binary bool) {
		kind, env, err := classifyBody(body, binary)
		isPNG := bytes.HasPrefix(body, []byte("\x89PNG\r\n\x1a\n"))
		isJPEG := bytes.HasPrefix(body, []byte{0xff, 0xd8, 0xff})
		switch {
		case binary && isPNG:
			if kind != "image/png" || err != nil || env != (envelope{}) {
				t.Fatalf("PNG classified as %q, %v, %v", kind, env, err)
			}
		case binary && isJPEG:
			if kind != "image/jpeg" || err != nil || env != (envelope{}) {
				t.Fatalf("JPEG classified as %q, %v, %v", kind, env, err)
			}
		default:
			if kind != "" {
				t.Fatalf("non-image (or non-binary) body classified as %q", kind)
			}
			wantEnv, wantErr := parseEnvelope(body)
			if env != wantEnv || !errors.Is(err, wantErr) || (err == nil) != (wantErr == nil) {
				t.Fatalf("got %v, %v; parseEnvelope says %v, %v", env, err, wantEnv, wantErr)
			}
		}
		if b := bodyBound(kind, 4096); (kind == "" && b != 4096) || (kind != "" && b != maxImageBytes) {
			t.Fatalf("bodyBound(%q) = %d", kind, b)
		}
	})
}
