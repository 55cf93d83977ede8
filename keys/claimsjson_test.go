package keys

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/ory/fosite/token/jwt"
)

// checkLikeMarshal requires appendClaims to write what json.Marshal writes,
// or to fail where it fails.
func checkLikeMarshal(t *testing.T, claims map[string]any) {
	t.Helper()
	want, wantErr := json.Marshal(claims)
	got, err := appendClaims([]byte("prefix"), claims)
	switch {
	case (err != nil) != (wantErr != nil):
		t.Fatalf("appendClaims error %v, json.Marshal error %v, for %#v", err, wantErr, claims)
	case err != nil:
		return
	case !bytes.HasPrefix(got, []byte("prefix")):
		t.Fatalf("appendClaims dropped what dst held: %q", got)
	case !bytes.Equal(got[len("prefix"):], want):
		t.Fatalf("appendClaims wrote\n%s\njson.Marshal writes\n%s", got[len("prefix"):], want)
	}
}

func TestAppendClaimsMatchesJSON(t *testing.T) {
	now := time.Unix(1_767_000_000, 0)
	id := &jwt.IDTokenClaims{
		JTI: "b7c1", Issuer: "https://id.example", Subject: "acc_123", Audience: []string{"mini"},
		Nonce: "n-0S6_WzA2Mj", ExpiresAt: now.Add(time.Hour), IssuedAt: now, RequestedAt: now, AuthTime: now,
		AccessTokenHash: "77QmUPtjPfzWtF2AnpK9RQ", AuthenticationMethodsReferences: []string{"wechat"},
		Extra: map[string]any{"phone_number": "+8613800138000", "phone_number_verified": true, "sid": "s1"},
	}
	access := &jwt.JWTClaims{
		Subject: "acc_123", Issuer: "https://id.example", Audience: []string{"api"}, JTI: "j1",
		IssuedAt: now, NotBefore: now, ExpiresAt: now.Add(time.Hour), Scope: []string{"openid", "offline_access"},
		Extra: map[string]any{"client_id": "mini"},
	}
	for name, claims := range map[string]map[string]any{
		"fosite ID token":     id.ToMap(),
		"fosite access token": access.ToMap(),
		"nil":                 nil,
		"empty":               {},
		"escapes": {
			"html": "<script>&</script>", "quote": `say "hi" \ bye`, "controls": "a\nb\tc\x01\x7f",
			"unicode": "微信用户 é", "separators": "a\u2028b\u2029c", "invalid utf-8": "a\xffb", "ké<y>": 1,
		},
		"numbers": {
			"int": 42, "negative": int64(-7), "zero": 0.0, "negative zero": math.Copysign(0, -1),
			"small": 1e-7, "tiny": -2.5e-300, "large": 1e21, "just below": 999999999999999999999.0,
			"fraction": 123.456, "max": math.MaxFloat64, "uint": uint8(3), "int32": int32(-3),
			"number": json.Number("12.50"),
		},
		"nested": {
			"nil slice": []string(nil), "strings": []string{"a", "<b>"}, "empty strings": []string{},
			"mixed": []any{"x", 1, true, nil, []any{2.5}, map[string]any{"k": "v"}}, "nil any slice": []any(nil),
			"map": map[string]any{"z": 1, "a": map[string]any{"deep": []string{"y"}}}, "nil map": map[string]any(nil),
			"time": now, "bytes": []byte("raw"), "struct": struct{ A int }{1},
		},
		"many keys": func() map[string]any {
			m := map[string]any{}
			for i := range 50 {
				m[string(rune('A'+i))+"key"] = i
			}
			return m
		}(),
	} {
		t.Run(name, func(t *testing.T) { checkLikeMarshal(t, claims) })
	}
	t.Run("not a number", func(t *testing.T) {
		for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
			if _, err := appendClaims(nil, map[string]any{"x": f}); err == nil {
				t.Errorf("%v encoded without an error", f)
			}
			if _, err := appendClaims(nil, map[string]any{"x": []any{f}}); err == nil {
				t.Errorf("%v in an array encoded without an error", f)
			}
		}
	})
}

func FuzzAppendClaims(f *testing.F) {
	f.Add("sub", "acc_1", 1.5, int64(3), true)
	f.Add("<k>", "a\u2028\xff\"", 1e-7, int64(-1), false)
	f.Add("", "", 1e21, int64(0), false)
	f.Fuzz(func(t *testing.T, key, s string, fl float64, i int64, b bool) {
		checkLikeMarshal(t, map[string]any{
			key: s, key + "f": fl, key + "i": i, key + "b": b,
			key + "l": []string{s, key}, key + "m": map[string]any{s: fl},
		})
	})
}
