package provider

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/keys"
	"github.com/wxoidc/wxoidc/storage"
)

const (
	authzConfidential = "web-confidential"
	authzPublic       = "web-public"
	authzCallback     = "https://rp.example.com/callback"
	authzLoopback     = "http://127.0.0.1:8765/cb"
	authzChallenge    = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM" // RFC 7636 appendix B
)

func newAuthzEnv(t *testing.T) *benchEnv {
	t.Helper()
	e := newBenchEnv(t, "NORMAL", keys.ES256)
	ctx := context.Background()
	for _, c := range []storage.Client{
		{ID: authzConfidential, Name: "Confidential RP", SecretHash: "x", TokenEndpointAuthMethod: AuthMethodClientSecretBasic,
			GrantTypes: []string{GrantTypeAuthorizationCode}, Scopes: []string{ScopeOpenID, ScopePhone},
			RedirectURIs: []string{authzCallback, "http://127.0.0.1:8090/callback"}, DefaultAudience: benchIssuer},
		{ID: authzPublic, Name: "Public RP", TokenEndpointAuthMethod: AuthMethodNone,
			GrantTypes: []string{GrantTypeAuthorizationCode}, Scopes: []string{ScopeOpenID},
			RedirectURIs: []string{authzLoopback, "com.example.app:/oauth2redirect"}, DefaultAudience: benchIssuer},
	} {
		if err := e.store.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func authzForm(client, redirect string, kv ...string) url.Values {
	f := url.Values{"client_id": {client}, "redirect_uri": {redirect}, "response_type": {"code"}, "scope": {"openid"},
		"state": {"state-0123456789"}, "code_challenge": {authzChallenge}, "code_challenge_method": {"S256"}}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "\x00" {
			f.Del(kv[i])
			continue
		}
		f.Set(kv[i], kv[i+1])
	}
	return f
}

// Every row of docs/contract.md §1.5's request rules: which failures show
// a page (never a redirect), which go back to the client with which error.
func TestParseAuthorize(t *testing.T) {
	e := newAuthzEnv(t)
	long := strings.Repeat("a", 3000)
	for _, tc := range []struct {
		name     string
		form     url.Values
		code     string // "" means accepted
		redirect bool   // the error goes back to the client
	}{
		{"confidential client", authzForm(authzConfidential, authzCallback), "", false},
		{"confidential without PKCE", authzForm(authzConfidential, authzCallback, "code_challenge", "\x00", "code_challenge_method", "\x00"), "", false},
		{"public loopback other port", authzForm(authzPublic, "http://127.0.0.1:50123/cb"), "", false},
		{"public private-use scheme", authzForm(authzPublic, "com.example.app:/oauth2redirect"), "", false},
		{"prompt and max_age", authzForm(authzConfidential, authzCallback, "prompt", "login consent", "max_age", "0", "ui_locales", "en zh-CN", "nonce", "nonce-0123456789"), "", false},

		{"no client_id", authzForm("", authzCallback), "invalid_request", false},
		{"unknown client", authzForm("nobody", authzCallback), ErrCodeUnknownClient, false},
		{"repeated client_id", func() url.Values {
			f := authzForm(authzConfidential, authzCallback)
			f.Add("client_id", authzPublic)
			return f
		}(), "invalid_request", false},
		{"no redirect_uri", authzForm(authzConfidential, "", "redirect_uri", "\x00"), ErrCodeBadRedirectURI, false},
		{"unregistered", authzForm(authzConfidential, "https://evil.example.com/callback"), ErrCodeBadRedirectURI, false},
		{"trailing slash", authzForm(authzConfidential, authzCallback+"/"), ErrCodeBadRedirectURI, false},
		{"other port", authzForm(authzConfidential, "https://rp.example.com:8443/callback"), ErrCodeBadRedirectURI, false},
		{"other scheme", authzForm(authzConfidential, "http://rp.example.com/callback"), ErrCodeBadRedirectURI, false},
		{"userinfo", authzForm(authzConfidential, "https://user@rp.example.com/callback"), ErrCodeBadRedirectURI, false},
		{"fragment", authzForm(authzConfidential, authzCallback+"#x"), ErrCodeBadRedirectURI, false},
		{"extra query", authzForm(authzConfidential, authzCallback+"?next=/"), ErrCodeBadRedirectURI, false},
		{"upper-case host", authzForm(authzConfidential, "https://RP.example.com/callback"), ErrCodeBadRedirectURI, false},
		{"confidential loopback other port", authzForm(authzConfidential, "http://127.0.0.1:9999/callback"), ErrCodeBadRedirectURI, false},
		{"public loopback other path", authzForm(authzPublic, "http://127.0.0.1:50123/other"), ErrCodeBadRedirectURI, false},
		{"public localhost name", authzForm(authzPublic, "http://localhost:8765/cb"), ErrCodeBadRedirectURI, false},
		{"repeated redirect_uri", func() url.Values {
			f := authzForm(authzConfidential, authzCallback)
			f.Add("redirect_uri", authzCallback)
			return f
		}(), "invalid_request", false},
		{"oversized redirect_uri", authzForm(authzConfidential, authzCallback+"?"+long), ErrCodeBadRedirectURI, false},

		{"no response_type", authzForm(authzConfidential, authzCallback, "response_type", "\x00"), "invalid_request", true},
		{"token response", authzForm(authzConfidential, authzCallback, "response_type", "token"), "unsupported_response_type", true},
		{"hybrid response", authzForm(authzConfidential, authzCallback, "response_type", "code id_token"), "unsupported_response_type", true},
		{"fragment mode", authzForm(authzConfidential, authzCallback, "response_mode", "fragment"), "invalid_request", true},
		{"no state", authzForm(authzConfidential, authzCallback, "state", "\x00"), "invalid_request", true},
		{"short state", authzForm(authzConfidential, authzCallback, "state", "abc"), "invalid_request", true},
		{"oversized state", authzForm(authzConfidential, authzCallback, "state", long), "invalid_request", true},
		{"repeated scope", func() url.Values { f := authzForm(authzConfidential, authzCallback); f.Add("scope", "phone"); return f }(), "invalid_request", true},
		{"scope not allowed", authzForm(authzConfidential, authzCallback, "scope", "openid wechat"), "invalid_scope", true},
		{"public without PKCE", authzForm(authzPublic, authzLoopback, "code_challenge", "\x00", "code_challenge_method", "\x00"), "invalid_request", true},
		{"plain PKCE", authzForm(authzPublic, authzLoopback, "code_challenge_method", "plain"), "invalid_request", true},
		{"PKCE without method", authzForm(authzPublic, authzLoopback, "code_challenge_method", "\x00"), "invalid_request", true},
		{"short challenge", authzForm(authzPublic, authzLoopback, "code_challenge", "abc"), "invalid_request", true},
		{"method without challenge", authzForm(authzConfidential, authzCallback, "code_challenge", "\x00"), "invalid_request", true},
		{"unknown prompt", authzForm(authzConfidential, authzCallback, "prompt", "select_account"), "invalid_request", true},
		{"prompt none plus login", authzForm(authzConfidential, authzCallback, "prompt", "none login"), "invalid_request", true},
		{"negative max_age", authzForm(authzConfidential, authzCallback, "max_age", "-1"), "invalid_request", true},
		{"junk max_age", authzForm(authzConfidential, authzCallback, "max_age", "1h"), "invalid_request", true},
		{"short nonce", authzForm(authzConfidential, authzCallback, "nonce", "n"), "invalid_request", true},
		{"request object", authzForm(authzConfidential, authzCallback, "request", "eyJ"), "request_not_supported", true},
		{"request_uri", authzForm(authzConfidential, authzCallback, "request_uri", "https://x/r"), "request_uri_not_supported", true},
		{"registration", authzForm(authzConfidential, authzCallback, "registration", "{}"), "registration_not_supported", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := e.p.ParseAuthorize(context.Background(), tc.form, time.Now())
			if tc.code == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if req.ClientName == "" || req.RedirectURI != tc.form.Get("redirect_uri") {
					t.Errorf("request = %+v", req)
				}
				return
			}
			var ae *AuthorizeError
			if !errors.As(err, &ae) {
				t.Fatalf("err = %v, want an AuthorizeError %s", err, tc.code)
			}
			if ae.Code != tc.code {
				t.Errorf("code = %s (%s), want %s", ae.Code, ae.Description, tc.code)
			}
			if !tc.redirect {
				if ae.RedirectURL != "" {
					t.Fatalf("redirects to %s: a page was due", ae.RedirectURL)
				}
				return
			}
			u, perr := url.Parse(ae.RedirectURL)
			if perr != nil || ae.RedirectURL == "" || !strings.HasPrefix(ae.RedirectURL, tc.form.Get("redirect_uri")) {
				t.Fatalf("redirect = %q", ae.RedirectURL)
			}
			q := u.Query()
			if q.Get("error") != tc.code || q.Get("iss") != benchIssuer {
				t.Errorf("redirect query = %v", q)
			}
			if st := tc.form.Get("state"); st != "" && len(st) < 600 && q.Get("state") != st {
				t.Errorf("state = %q, want %q", q.Get("state"), st)
			}
		})
	}
}
