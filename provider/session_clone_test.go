package provider

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/mohae/deepcopy"
	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"
)

// fullSession is a session with every field set, nested claim values
// included.
func fullSession() *session {
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	return &session{
		DefaultSession: &openid.DefaultSession{
			Claims: &jwt.IDTokenClaims{
				JTI: "j", Issuer: "https://id.example.com", Subject: "sub-1", Audience: []string{"a", "b"}, Nonce: "n",
				ExpiresAt: at.Add(time.Hour), IssuedAt: at, RequestedAt: at, AuthTime: at, AccessTokenHash: "ah",
				AuthenticationContextClassReference: "acr", AuthenticationMethodsReferences: []string{"wechat"}, CodeHash: "ch",
				Extra: map[string]any{
					"phone_number": "+8613800138000", "phone_number_verified": true, "n": 3.5, "empty": []any{}, "null": nil,
					"nested":   map[string]any{"list": []any{"x", map[string]any{"y": 1.0}}, "strs": []string{"p", "q"}},
					"nilslice": []any(nil), "num": json.Number("7"),
				},
			},
			Headers:   &jwt.Headers{Extra: map[string]any{"alg": "ES256"}},
			ExpiresAt: map[fosite.TokenType]time.Time{fosite.AccessToken: at.Add(time.Hour), fosite.RefreshToken: at.Add(24 * time.Hour)},
			Username:  "u", Subject: "sub-1",
		},
		ClientID: "c", IDTokenAlg: "ES256", SID: "sid", AppID: "wx", PKCEChallenge: "pc", PKCEMethod: "S256",
		grant: &grantWrite{},
	}
}

// Clone gives what the reflective deep copy gave, and a copy that shares
// nothing mutable with the original.
func TestSessionClone(t *testing.T) {
	orig := fullSession()
	got := orig.Clone().(*session)
	want := deepcopy.Copy(orig).(*session)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Clone differs from a deep copy:\n got %#v\nwant %#v", got.DefaultSession.Claims, want.DefaultSession.Claims)
	}
	if got.grant != nil {
		t.Error("the grant was copied")
	}
	gj, _ := json.Marshal(got)
	oj, _ := json.Marshal(orig)
	if string(gj) != string(oj) {
		t.Errorf("JSON differs:\n%s\n%s", gj, oj)
	}

	// Change everything in the copy; the original must not move.
	before, _ := json.Marshal(orig)
	got.Claims.Audience[0] = "changed"
	got.Claims.AuthenticationMethodsReferences[0] = "changed"
	got.Claims.Extra["phone_number"] = "changed"
	got.Claims.Extra["nested"].(map[string]any)["list"].([]any)[1].(map[string]any)["y"] = 2.0
	got.Claims.Extra["nested"].(map[string]any)["strs"].([]string)[0] = "changed"
	got.Headers.Extra["alg"] = "RS256"
	got.ExpiresAt[fosite.AccessToken] = time.Time{}
	got.Claims.Subject = "changed"
	got.Subject = "changed"
	got.ClientID = "changed"
	after, _ := json.Marshal(orig)
	if string(before) != string(after) {
		t.Errorf("changing the clone changed the original:\n%s\n%s", before, after)
	}

	var nilSession *session
	if nilSession.Clone() != nil {
		t.Error("nil clone")
	}
	bare := &session{ClientID: "c"}
	if c := bare.Clone().(*session); c.ClientID != "c" || c.DefaultSession != nil {
		t.Errorf("bare clone: %+v", c)
	}
	if c := newSession().Clone().(*session); !reflect.DeepEqual(c, deepcopy.Copy(newSession())) {
		t.Errorf("new session clone: %+v", c)
	}
}
