package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/wxoidc/wxoidc/config"
)

// userInfoStatus calls GET /userinfo with token as a Bearer credential and
// returns the status and the WWW-Authenticate challenge.
func (s *stack) userInfoStatus(token string) (int, string, string) {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), string(body)
}

// Refresh tokens go only to the token endpoint (RFC 6749 §10.4, RFC 6750):
// no protected resource accepts one as a bearer token, in either access-token
// format, and neither does an ID token or a client's own token.
func TestOnlyAccessTokensAreBearerTokens(t *testing.T) {
	for _, format := range []string{"jwt", "opaque"} {
		t.Run(format, func(t *testing.T) {
			s := newStack(t, func(c *config.Config) { c.Tokens.AccessTokenFormat = format })
			ph := s.phone(appA, "rita", "+8613812345678")
			tr := mustToken(t, s.token(wechatForm(miniA, s.login(appA, "rita"), "phone_code", ph.Code, "scope", "openid phone offline_access", "nonce", "n-0123456789")))
			if tr.RefreshToken == "" || tr.IDToken == "" {
				t.Fatalf("no refresh or ID token: %+v", tr)
			}
			// The access token itself works: the refusals below are about the token type.
			if status, _, body := s.userInfoStatus(tr.AccessToken); status != http.StatusOK || !strings.Contains(body, "+8613812345678") {
				t.Fatalf("access token at userinfo: %d %s", status, body)
			}

			for name, tok := range map[string]string{"refresh token": tr.RefreshToken, "ID token": tr.IDToken} {
				status, challenge, body := s.userInfoStatus(tok)
				if status != http.StatusUnauthorized || !strings.HasPrefix(challenge, "Bearer ") || !strings.Contains(challenge, `error="invalid_token"`) {
					t.Errorf("%s at userinfo: %d %q %s", name, status, challenge, body)
				}
				if strings.Contains(body, "+8613812345678") {
					t.Errorf("%s at userinfo leaked the phone: %s", name, body)
				}
				// RFC 6750 §2.2: the form-encoded body parameter is refused the same way.
				resp, body2 := s.postForm("/userinfo", url.Values{"access_token": {tok}}, nil)
				if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
					t.Errorf("%s in a POST body at userinfo: %d %s", name, resp.StatusCode, body2)
				}
			}

			// The refresh token still works where it belongs, and an access
			// token is no refresh token.
			if _, err := refresh(s, miniA, tr.AccessToken); oauthErrorCode(err) != "invalid_grant" {
				t.Errorf("access token as refresh token: %v", err)
			}
			refreshed, err := refresh(s, miniA, tr.RefreshToken)
			if err != nil {
				t.Fatalf("refresh token at the token endpoint: %v", err)
			}
			if status, _, body := s.userInfoStatus(refreshed.AccessToken); status != http.StatusOK || !strings.Contains(body, "+8613812345678") {
				t.Errorf("refreshed access token at userinfo: %d %s", status, body)
			}
		})
	}
}

// token_type_hint is only a hint (RFC 7662 §2.1, RFC 7009 §2.1): a wrong
// hint neither hides a token nor changes what it is reported to be.
func TestTokenTypeHintIsOnlyAHint(t *testing.T) {
	for _, format := range []string{"jwt", "opaque"} {
		t.Run(format, func(t *testing.T) {
			s := newStack(t, func(c *config.Config) { c.Tokens.AccessTokenFormat = format })
			tr := mustToken(t, s.token(wechatForm(miniA, s.login(appA, "sam"), "scope", "openid offline_access")))
			for _, hint := range []string{"", "access_token", "refresh_token", "bogus"} {
				if got := s.introspectHint(tr.AccessToken, hint); got["active"] != true || got["token_type"] != "Bearer" {
					t.Errorf("access token, hint %q: %v", hint, got)
				}
				if got := s.introspectHint(tr.RefreshToken, hint); got["active"] != true || got["token_type"] != "refresh_token" {
					t.Errorf("refresh token, hint %q: %v", hint, got)
				}
			}

			// Revocation with the wrong hint still revokes (RFC 7009 §2.1).
			resp, body := s.postForm("/oauth2/revoke", url.Values{"token": {tr.AccessToken}, "client_id": {miniA}, "token_type_hint": {"refresh_token"}}, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("revoke access token hinted as refresh: %d %s", resp.StatusCode, body)
			}
			if got := s.introspect(tr.AccessToken); got["active"] != false {
				t.Errorf("access token still active after revocation: %v", got)
			}
			tr2 := mustToken(t, s.token(wechatForm(miniA, s.login(appA, "sam"), "scope", "openid offline_access")))
			resp, body = s.postForm("/oauth2/revoke", url.Values{"token": {tr2.RefreshToken}, "client_id": {miniA}, "token_type_hint": {"access_token"}}, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("revoke refresh token hinted as access: %d %s", resp.StatusCode, body)
			}
			if _, err := refresh(s, miniA, tr2.RefreshToken); oauthErrorCode(err) != "invalid_grant" {
				t.Errorf("refresh after revocation: %v", err)
			}
			if got := s.introspect(tr2.AccessToken); got["active"] != false {
				t.Errorf("access token of a revoked refresh token: %v", got)
			}
		})
	}
}

func (s *stack) introspectHint(token, hint string) map[string]interface{} {
	s.t.Helper()
	form := url.Values{"token": {token}, "client_id": {postCli}, "client_secret": {backendPw}}
	if hint != "" {
		form.Set("token_type_hint", hint)
	}
	resp, body := s.postForm("/oauth2/introspect", form, nil)
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("introspect: %d %s", resp.StatusCode, body)
	}
	out := map[string]interface{}{}
	if err := json.Unmarshal(body, &out); err != nil {
		s.t.Fatal(err)
	}
	return out
}
