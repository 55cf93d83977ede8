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

// RFC 6749 §6: a refresh may ask for the scopes originally granted or fewer.
// The new access token (and ID token) carry the narrower scope; the new
// refresh token keeps the scope of the one it replaced, so a later refresh
// without a scope gets everything back. Asking for more, or for a scope in
// another case, is invalid_scope and rotates nothing. Both backends.
func TestRefreshNarrowsScope(t *testing.T) {
	const full = "openid phone wechat offline_access"
	for _, b := range testBackends {
		t.Run(b.name, func(t *testing.T) {
			e := b.env(t)
			grant := e.grantForm(true)
			grant.Set("scope", full)
			rt := str(e.token(t, tokenRequest(grant, "", "")), "refresh_token")
			refresh := func(scope *string) (map[string]any, error) {
				form := url.Values{"grant_type": {GrantTypeRefreshToken}, "client_id": {benchMini}, "refresh_token": {rt}}
				if scope != nil {
					form.Set("scope", *scope)
				}
				out, err := e.p.Token(t.Context(), tokenRequest(form, "", ""))
				if err == nil {
					rt = str(out, "refresh_token")
				}
				return out, err
			}
			scopeOf := func(t *testing.T, token string) string {
				t.Helper()
				out, err := e.p.introspectToken(t.Context(), token, "")
				if err != nil || out["active"] != true {
					t.Fatalf("introspect: %v %v", out, err)
				}
				return str(out, "scope")
			}
			p := func(s string) *string { return &s }

			for _, c := range []struct{ name, ask string }{
				{"more than granted", "openid phone email"},
				{"another case", "OPENID"},
				{"unknown only", "admin"},
			} {
				t.Run(c.name, func(t *testing.T) {
					before := rt
					_, err := refresh(p(c.ask))
					if err == nil || ErrorOf(err).Code != "invalid_scope" || ErrorOf(err).Status != 400 {
						t.Fatalf("scope %q: %v, want invalid_scope", c.ask, err)
					}
					if rt != before {
						t.Fatal("a refused refresh returned a token")
					}
				})
			}
			// The refused requests rotated nothing: the token still works.
			steps := []struct {
				name      string
				ask       *string
				wantScope string
				wantID    bool
				wantPhone bool
			}{
				{"narrower", p("openid openid"), "openid", true, false},
				{"omitted after a narrowing: the refresh token kept everything", nil, full, true, true},
				{"without openid: no ID token", p("phone offline_access"), "phone offline_access", false, false},
				{"empty is omitted", p(" "), full, true, true},
				{"all of them, reordered", p("offline_access wechat phone openid"), full, true, true},
			}
			for _, s := range steps {
				out, err := refresh(s.ask)
				if err != nil {
					t.Fatalf("%s: %v", s.name, err)
				}
				if got := str(out, "scope"); got != s.wantScope {
					t.Errorf("%s: response scope %q, want %q", s.name, got, s.wantScope)
				}
				if got := scopeOf(t, str(out, "access_token")); got != s.wantScope {
					t.Errorf("%s: access token scope %q, want %q", s.name, got, s.wantScope)
				}
				if got := scopeOf(t, rt); got != full {
					t.Errorf("%s: refresh token scope %q, want %q", s.name, got, full)
				}
				idt := str(out, "id_token")
				if (idt != "") != s.wantID {
					t.Fatalf("%s: ID token %q, want one: %v", s.name, idt, s.wantID)
				}
				if idt != "" {
					claims := jwtPart(t, idt, 1)
					if (claims["phone_number"] != nil) != s.wantPhone || (claims["wechat_openid"] != nil) != s.wantPhone {
						t.Errorf("%s: ID token claims %v, want phone and WeChat claims: %v", s.name, claims, s.wantPhone)
					}
				}
			}
		})
	}
}
