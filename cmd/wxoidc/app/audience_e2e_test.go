package app_test

import (
	"context"
	"testing"

	"github.com/wxoidc/wxoidc/config"
	"github.com/wxoidc/wxoidc/internal/testharness"
	"github.com/wxoidc/wxoidc/provider"
	"github.com/wxoidc/wxoidc/storage"
)

// A client registered without a default audience gets the configured
// accounts.default_audience, so every access token still has `aud`.
func TestConfiguredDefaultAudience(t *testing.T) {
	const aud = "https://default-resource.example.com"
	s := newStack(t, func(c *config.Config) { c.Accounts.DefaultAudience = aud })
	c := storage.Client{
		ID: "mini-no-aud", TokenEndpointAuthMethod: provider.AuthMethodNone, WeChatAppID: appA,
		GrantTypes: []string{grantType}, Scopes: []string{"openid"},
	}
	if err := s.App.Store.CreateClient(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	tr := mustToken(t, s.token(wechatForm(c.ID, s.login(appA, "quinn"))))
	if got := s.introspect(tr.AccessToken)["aud"]; !testharness.JSONStringsEqual(got, aud) {
		t.Errorf("aud = %v, want [%s]", got, aud)
	}
}
