package provider

import (
	"net/url"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/storage"
)

// A refresh re-reads the person with the refresh token (one statement) and
// its ID token carries what is stored now: here a phone changed since the
// grant, and the identity in the client's app, on both backends.
func TestRefreshClaimsAreFresh(t *testing.T) {
	for _, b := range testBackends {
		t.Run(b.name, func(t *testing.T) {
			e := b.env(t)
			grant := e.grantForm(true)
			grant.Set("scope", "openid phone wechat offline_access")
			first := e.token(t, tokenRequest(grant, "", ""))
			before := jwtPart(t, str(first, "id_token"), 1)
			sub, _ := before["sub"].(string)
			if sub == "" || before["phone_number"] == nil || before["wechat_openid"] == nil {
				t.Fatalf("first ID token: %v", before)
			}
			const phone = "+8613900001111"
			if err := e.store.SetAccountPhone(t.Context(), sub, storage.AccountPhone{
				Encrypted: e.p.accounts.sealPhone(sub, phone), Hash: e.p.accounts.PhoneHash(phone),
				Source: PhoneSourceCode, VerifiedAt: time.Now(),
			}); err != nil {
				t.Fatal(err)
			}
			form := url.Values{"grant_type": {GrantTypeRefreshToken}, "client_id": {benchMini}, "refresh_token": {first["refresh_token"].(string)}}
			after := jwtPart(t, str(e.token(t, tokenRequest(form, "", "")), "id_token"), 1)
			if after["sub"] != sub || after["phone_number"] != phone || after["wechat_openid"] != before["wechat_openid"] {
				t.Errorf("refreshed ID token: sub %v phone_number %v wechat_openid %v, want %s, %s and %v",
					after["sub"], after["phone_number"], after["wechat_openid"], sub, phone, before["wechat_openid"])
			}
		})
	}
}
