package app_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/config"
)

// With a grace window, a client that lost the refresh response may use the
// rotated token again; a revoked chain stays revoked whatever the window.
func TestRefreshGraceWindow(t *testing.T) {
	s := newStack(t, func(c *config.Config) { c.Tokens.RefreshTokenGrace = config.D(time.Minute) })
	tr := mustToken(t, s.token(wechatForm(miniA, s.login(appA, "paul"), "scope", "openid offline_access")))
	first, err := refresh(s, miniA, tr.RefreshToken)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	again, err := refresh(s, miniA, tr.RefreshToken)
	if err != nil {
		t.Fatalf("reuse inside the grace window: %v", err)
	}
	if again.RefreshToken == first.RefreshToken {
		t.Fatal("reuse inside the grace window returned the same refresh token")
	}
	// Revoking the chain ends the grace window at once.
	resp, body := s.postForm("/oauth2/revoke", url.Values{"token": {again.RefreshToken}, "client_id": {miniA}}, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d %s", resp.StatusCode, body)
	}
	for name, rt := range map[string]string{"original": tr.RefreshToken, "first": first.RefreshToken, "again": again.RefreshToken} {
		if _, err := refresh(s, miniA, rt); oauthErrorCode(err) != "invalid_grant" {
			t.Errorf("%s refresh token after revocation: %v", name, err)
		}
	}
}
