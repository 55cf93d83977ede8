package wechat_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/wechat"
)

func TestParseSessionKey(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"tiihtNczf5v6AKRyjwEUhQ==", true},
		{"5tF5KuDigyB6e4m7FigHvw==", true},
		{"tiihtNczf5v6AKRyjwEUhQ=", false},          // short
		{"tiihtNczf5v6AKRyjwEUhQ", false},           // no padding
		{"tiihtNczf5v6AKRyjwEUhQ==\n", false},       // trailing newline
		{"tiihtNczf5v6AKRyjwEUh Q=", false},         // space
		{"tiihtNczf5v6AKRyjwEUhR==", false},         // non-canonical padding bits
		{"tiihtNczf5v6AKRyjwEUhQ-_", false},         // URL alphabet
		{"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", false}, // 24 bytes
		{"", false},
	}
	for _, tc := range tests {
		k, err := wechat.ParseSessionKey(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParseSessionKey(%q): err = %v, want ok=%v", tc.in, err, tc.ok)
		}
		if err != nil && tc.in != "" && strings.Contains(err.Error(), tc.in) {
			t.Errorf("error echoes the input: %v", err)
		}
		if tc.ok && (k.IsZero() || len(k.Bytes()) != 16) {
			t.Errorf("ParseSessionKey(%q) gave an empty key", tc.in)
		}
	}
	if _, err := wechat.SessionKeyFromBytes(make([]byte, 15)); err == nil {
		t.Error("SessionKeyFromBytes accepted 15 bytes")
	}
	var zero wechat.SessionKey
	if !zero.IsZero() || zero.Bytes() != nil {
		t.Error("zero key not zero")
	}
	k := mustKey(t, vecKey)
	b := k.Bytes()
	b[0] ^= 1
	if !bytes.Equal(k.Bytes(), mustKey(t, vecKey).Bytes()) {
		t.Error("Bytes does not return a copy")
	}
	k2, _ := wechat.SessionKeyFromBytes(k.Bytes())
	if !k2.Equal(k) || k2.Equal(zero) {
		t.Error("Equal")
	}
	if err := json.Unmarshal([]byte(`"x"`), &k2); err == nil {
		t.Error("SessionKey decoded from JSON")
	}
}

// render prints v every way a program might.
func render(t *testing.T, v any) string {
	t.Helper()
	var out strings.Builder
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		fmt.Fprintf(&out, verb+"\n", v)
	}
	j, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	out.Write(j)
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("m", "v", v)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("m", "v", v)
	out.Write(buf.Bytes())
	return out.String()
}

func TestRedaction(t *testing.T) {
	key := mustKey(t, vecKey)
	keyHex := fmt.Sprintf("%x", key.Bytes())
	phone := wechat.Phone{PhoneNumber: "13580006666", PurePhoneNumber: "13580006666", CountryCode: "86", WatermarkAppID: testAppID, WatermarkTime: time.Unix(1, 0)}
	tests := []struct {
		name   string
		v      any
		secret []string
	}{
		{"SessionKey", key, []string{vecKey, keyHex}},
		{"*SessionKey", &key, []string{vecKey, keyHex}},
		{"Session", wechat.Session{OpenID: "oX", SessionKey: key}, []string{vecKey, keyHex}},
		{"App", wechat.App{AppID: testAppID, Secret: testSecret}, []string{testSecret, fmt.Sprintf("%x", testSecret)}},
		{"Phone", phone, []string{"13580006666", "3580006666"}},
		{"[]Phone", []wechat.Phone{phone}, []string{"13580006666"}},
	}
	for _, tc := range tests {
		out := render(t, tc.v)
		for _, s := range tc.secret {
			if strings.Contains(strings.ToLower(out), strings.ToLower(s)) {
				t.Errorf("%s: output shows a secret:\n%s", tc.name, out)
			}
		}
		if !strings.Contains(out, "[redacted]") {
			t.Errorf("%s: no redaction marker:\n%s", tc.name, out)
		}
	}
	if !strings.Contains(fmt.Sprint(wechat.App{AppID: testAppID}), testAppID) {
		t.Error("App should still show its appid")
	}
}
