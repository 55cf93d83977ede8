package provider

import (
	"testing"

	"github.com/wxoidc/wxoidc/keys"
	"github.com/wxoidc/wxoidc/storage"
)

// atHash must agree with the keys package's OIDC token hash for every
// algorithm wxoidc signs ID tokens with, EdDSA (SHA-512) included, and with
// the OIDC Core §3.1.3.6 rule for the others.
func TestAtHashMatchesKeysTokenHash(t *testing.T) {
	tokens := []string{"", "a", "eyJhbGciOiJFUzI1NiJ9.e30.sig", string(make([]byte, 1000))}
	for _, alg := range []string{"RS256", "ES256", "PS256", "RS384", "ES384", "PS384", "RS512", "ES512", "PS512", "EdDSA"} {
		for _, tok := range tokens {
			want, err := keys.TokenHash(alg, tok)
			if err != nil {
				t.Fatal(err)
			}
			if got := atHash(alg, tok); got != want {
				t.Errorf("atHash(%s, %q…) = %s, keys.TokenHash = %s", alg, tok[:min(len(tok), 8)], got, want)
			}
		}
	}
	// An empty alg (a session from before IDTokenAlg was stored) means the
	// default, RS256.
	want, _ := keys.TokenHash("RS256", "tok")
	if got := atHash("", "tok"); got != want {
		t.Errorf("atHash(\"\") = %s, want the RS256 hash %s", got, want)
	}
	// Known vector: SHA-256 of "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"
	// from OIDC Core's examples gives at_hash "77QmUPtjPfzWtF2AnpK9RQ".
	if got := atHash("RS256", "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"); got != "77QmUPtjPfzWtF2AnpK9RQ" {
		t.Errorf("OIDC Core example: at_hash = %s", got)
	}
}

func TestIdentityClaimsFollowScopes(t *testing.T) {
	ident := identityFixture()
	acc := ident.acc
	cases := []struct {
		scopes []string
		phone  string
		want   []string
		absent []string
	}{
		{[]string{"openid"}, "+8613800138000", []string{"azp"}, []string{"phone_number", "wechat_openid"}},
		{[]string{"openid", "phone"}, "+8613800138000", []string{"azp", "phone_number", "phone_number_verified"}, []string{"wechat_openid"}},
		{[]string{"openid", "phone"}, "", []string{"azp"}, []string{"phone_number", "phone_number_verified"}},
		{[]string{"openid", "wechat"}, "", []string{"wechat_appid", "wechat_openid", "wechat_unionid"}, []string{"phone_number"}},
	}
	for _, c := range cases {
		got := identityClaims(c.scopes, "client-1", acc, c.phone, ident.id)
		for _, k := range c.want {
			if _, ok := got[k]; !ok {
				t.Errorf("scopes %v: missing %s in %v", c.scopes, k, got)
			}
		}
		for _, k := range c.absent {
			if _, ok := got[k]; ok {
				t.Errorf("scopes %v: unexpected %s in %v", c.scopes, k, got)
			}
		}
		if v, ok := got["phone_number_verified"]; ok && v != true {
			t.Errorf("phone_number_verified = %v", v)
		}
	}
	// No unionid known: the claim is omitted, not empty.
	noUnion := ident.id
	noUnion.UnionID = ""
	if _, ok := identityClaims([]string{"wechat"}, "", acc, "", noUnion)["wechat_unionid"]; ok {
		t.Error("empty wechat_unionid emitted")
	}
	// No client: no azp (UserInfo).
	if _, ok := identityClaims([]string{"openid"}, "", acc, "", ident.id)["azp"]; ok {
		t.Error("azp without a client")
	}
}

type identityFix struct {
	acc storage.Account
	id  storage.WeChatIdentity
}

func identityFixture() identityFix {
	return identityFix{
		acc: storage.Account{ID: "acc-1"},
		id:  storage.WeChatIdentity{AppID: "wxaaaaaaaaaaaaaaaa", OpenID: "o-open-id", UnionID: "u-union-id", AccountID: "acc-1"},
	}
}
