package app_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/wxoidc/wxoidc/cmd/wxoidc/app"
	"github.com/wxoidc/wxoidc/provider"
	"github.com/wxoidc/wxoidc/storage"
)

// client_credentials grants the scopes it validates: the token response,
// the JWT's `scope` claim (verified with a stock library) and introspection
// all carry them. With no `scope`, no scope is granted (docs/contract.md §1.3).
func TestClientCredentialsGrantsRequestedScopes(t *testing.T) {
	s := newStack(t)
	hasher, err := app.SecretHasher(s.App.Config, s.App.Cipher)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := hasher.Hash(context.Background(), []byte(backendPw))
	if err != nil {
		t.Fatal(err)
	}
	const svc = "svc-scoped"
	s.createClient(storage.Client{
		ID: svc, SecretHash: string(hash), TokenEndpointAuthMethod: provider.AuthMethodClientSecretPost,
		GrantTypes: []string{provider.GrantTypeClientCredentials},
		Scopes:     []string{"api.read", "api.write", provider.ScopeOpenID},
		Audiences:  []string{resource}, DefaultAudience: s.URL,
	})
	ccForm := func(scope string) url.Values {
		f := url.Values{"grant_type": {"client_credentials"}, "client_id": {svc}, "client_secret": {backendPw}, "audience": {resource}}
		if scope != "" {
			f.Set("scope", scope)
		}
		return f
	}

	for _, scope := range []string{"api.read", "api.read api.write"} {
		tr := mustToken(t, s.token(ccForm(scope)))
		if tr.Scope != scope {
			t.Errorf("requested %q: token response scope = %q", scope, tr.Scope)
		}
		if c := verifyAccessToken(t, s, resource, tr.AccessToken); c["scope"] != scope || c["sub"] != svc || c["client_id"] != svc {
			t.Errorf("requested %q: JWT claims = %v", scope, c)
		}
		if got := s.introspect(tr.AccessToken); got["active"] != true || got["scope"] != scope {
			t.Errorf("requested %q: introspection = %v", scope, got)
		}
	}

	// No scope requested: none granted, whatever the client may ask for.
	tr := mustToken(t, s.token(ccForm("")))
	if tr.Scope != "" {
		t.Errorf("no scope requested: response scope = %q", tr.Scope)
	}
	if c := verifyAccessToken(t, s, resource, tr.AccessToken); c["scope"] != nil && c["scope"] != "" {
		t.Errorf("no scope requested: JWT scope = %v", c["scope"])
	}
	if got := s.introspect(tr.AccessToken); got["active"] != true || got["scope"] != nil {
		t.Errorf("no scope requested: introspection = %v", got)
	}

	// A scope the client is not registered for is refused, and nothing is issued.
	if r := s.token(ccForm("api.read api.admin")); r.Status != http.StatusBadRequest || r.Error != "invalid_scope" || r.AccessToken != "" {
		t.Errorf("unregistered scope: %d %s %q", r.Status, r.Error, r.AccessToken)
	}

	// A client's own token has no user behind it: UserInfo refuses it even
	// when it was granted openid.
	oidcTok := mustToken(t, s.token(ccForm("openid")))
	if oidcTok.Scope != "openid" {
		t.Fatalf("openid requested: scope = %q", oidcTok.Scope)
	}
	if status, challenge, body := s.userInfoStatus(oidcTok.AccessToken); status != http.StatusUnauthorized || challenge == "" {
		t.Errorf("client token at userinfo: %d %q %s", status, challenge, body)
	}
	// Even when a client's id happens to equal an account's sub, its own
	// token does not speak for that account.
	ph := s.phone(appA, "tess", "+8613898765432")
	sub := s.verifyID(miniA, mustToken(t, s.token(wechatForm(miniA, s.login(appA, "tess"), "phone_code", ph.Code, "scope", "openid phone")))).Subject
	s.createClient(storage.Client{
		ID: sub, SecretHash: string(hash), TokenEndpointAuthMethod: provider.AuthMethodClientSecretPost,
		GrantTypes: []string{provider.GrantTypeClientCredentials},
		Scopes:     []string{provider.ScopeOpenID, provider.ScopePhone}, DefaultAudience: s.URL,
	})
	twin := mustToken(t, s.token(url.Values{"grant_type": {"client_credentials"}, "client_id": {sub}, "client_secret": {backendPw}, "scope": {"openid phone"}}))
	if status, _, body := s.userInfoStatus(twin.AccessToken); status != http.StatusUnauthorized {
		t.Errorf("client token of a client named like an account: %d %s", status, body)
	}
}
