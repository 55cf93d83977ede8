package provider

import (
	"fmt"
	"strings"
	"testing"

	"github.com/wxoidc/wxoidc/storage"
)

// webClient is a valid confidential browser client; each case changes one
// thing.
func webClient() storage.Client {
	return storage.Client{
		ID: "web", TokenEndpointAuthMethod: AuthMethodClientSecretBasic,
		GrantTypes:   []string{GrantTypeAuthorizationCode, GrantTypeRefreshToken},
		RedirectURIs: []string{"https://app.example.com/callback"},
	}
}

func nativeClient() storage.Client {
	c := webClient()
	c.ID, c.TokenEndpointAuthMethod = "native", AuthMethodNone
	return c
}

func TestValidateClientRedirectURIs(t *testing.T) {
	for _, tc := range []struct {
		name   string
		public bool
		uris   []string
		want   string // "" for valid, else a piece of the error
	}{
		{"https", false, []string{"https://app.example.com/callback"}, ""},
		{"https with port and query", false, []string{"https://app.example.com:8443/cb?tenant=a"}, ""},
		{"trailing-slash variants are two URIs", false, []string{"https://app.example.com/cb", "https://app.example.com/cb/"}, ""},
		{"host only", false, []string{"https://app.example.com"}, ""},
		{"http 127.0.0.1", false, []string{"http://127.0.0.1/cb"}, ""},
		{"http 127.0.0.1 with port", true, []string{"http://127.0.0.1:51004/cb"}, ""},
		{"http [::1]", true, []string{"http://[::1]:8080/cb"}, ""},
		{"http localhost", false, []string{"http://localhost:3000/cb"}, ""},
		{"private-use scheme, public client", true, []string{"com.example.app:/oauth2redirect"}, ""},
		{"private-use scheme with authority, public client", true, []string{"com.example.app://cb"}, ""},
		{"https, public client", true, []string{"https://spa.example.com/cb"}, ""},
		{"20 URIs", false, numbered(20), ""},

		{"http not loopback", false, []string{"http://example.com/cb"}, "http is allowed only on loopback"},
		{"http 127.0.0.2 is not in the list", false, []string{"http://127.0.0.2/cb"}, "loopback"},
		{"http localhost look-alike", false, []string{"http://localhost.example.com/cb"}, "loopback"},
		{"userinfo", false, []string{"https://user:pw@x/cb"}, "userinfo"},
		{"user only", false, []string{"https://user@x/cb"}, "userinfo"},
		{"fragment", false, []string{"https://x/cb#frag"}, "fragment"},
		{"empty fragment", false, []string{"https://x/cb#"}, "fragment"},
		{"wildcard host", false, []string{"https://*.x/cb"}, "wildcard"},
		{"wildcard path", false, []string{"https://x/*"}, "wildcard"},
		{"javascript", true, []string{"javascript:alert(1)"}, "scheme must be"},
		{"data", true, []string{"data:text/html,hi"}, "scheme must be"},
		{"file", true, []string{"file:///etc/passwd"}, "scheme must be"},
		{"relative", false, []string{"/cb"}, "absolute"},
		{"scheme-relative", false, []string{"//x/cb"}, "absolute"},
		{"empty", false, []string{""}, "must not be empty"},
		{"whitespace only", false, []string{" "}, "without spaces"},
		{"surrounding whitespace", false, []string{" https://x/cb"}, "without spaces"},
		{"inner space", false, []string{"https://x/c b"}, "without spaces"},
		{"newline", false, []string{"https://x/cb\n"}, "control"},
		{"non-ASCII", false, []string{"https://exämple.com/cb"}, "ASCII"},
		{"https without host", false, []string{"https:/cb"}, "host"},
		{"https opaque", false, []string{"https:cb"}, "host"},
		{"private-use scheme, confidential client", false, []string{"com.example.app:/cb"}, "public clients"},
		{"private-use scheme, opaque", true, []string{"com.example.app:cb"}, "needs a path"},
		{"bad escape", false, []string{"https://x/%zz"}, "not a URI"},
		{"duplicate", false, []string{"https://x/cb", "https://x/cb"}, "duplicate"},
		{"21 URIs", false, numbered(21), "at most 20"},
		{"too long", false, []string{"https://x/" + strings.Repeat("a", 2000)}, "longer than 2000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := webClient()
			if tc.public {
				c = nativeClient()
			}
			c.RedirectURIs = tc.uris
			check(t, "redirect_uris", ValidateClient(c), tc.want)
			// Post-logout URIs follow the same rules.
			c = webClient()
			if tc.public {
				c = nativeClient()
			}
			c.PostLogoutRedirectURIs = tc.uris
			check(t, "post_logout_redirect_uris", ValidateClient(c), tc.want)
		})
	}
}

func TestValidateClientBackchannelLogoutURI(t *testing.T) {
	for _, tc := range []struct{ uri, want string }{
		{"", ""},
		{"https://app.example.com/logout", ""},
		{"https://app.example.com/logout?from=op", ""},
		{"http://127.0.0.1:8080/logout", ""},
		{"http://app.example.com/logout", "loopback"},
		{"https://app.example.com/logout#x", "fragment"},
		{"/logout", "absolute"},
		{"com.example.app:/logout", "scheme must be https"},
		{"https://u:p@app.example.com/logout", "userinfo"},
		{"https:///logout", "host"},
	} {
		c := webClient()
		c.BackchannelLogoutURI = tc.uri
		check(t, fmt.Sprintf("backchannel_logout_uri %q", tc.uri), ValidateClient(c), tc.want)
	}
}

func TestValidateClientAuthorizationCodeNeedsRedirectURIs(t *testing.T) {
	for _, tc := range []struct {
		name   string
		grants []string
		uris   []string
		want   string
	}{
		{"code with a redirect URI", []string{GrantTypeAuthorizationCode}, []string{"https://x/cb"}, ""},
		{"code and refresh", []string{GrantTypeAuthorizationCode, GrantTypeRefreshToken}, []string{"https://x/cb"}, ""},
		{"code without redirect URI", []string{GrantTypeAuthorizationCode}, nil, "needs at least one redirect URI"},
		{"code with an empty list", []string{GrantTypeAuthorizationCode}, []string{}, "needs at least one redirect URI"},
		{"redirect URI without code", []string{GrantTypeClientCredentials}, []string{"https://x/cb"}, "need the authorization_code grant"},
		{"neither", []string{GrantTypeClientCredentials}, nil, ""},
		{"unknown grant still refused", []string{"implicit"}, nil, `unknown grant type "implicit"`},
	} {
		c := webClient()
		c.GrantTypes, c.RedirectURIs = tc.grants, tc.uris
		check(t, tc.name, ValidateClient(c), tc.want)
	}
}

// authorization_code is registrable but not yet served: discovery and the
// token endpoint's handler chain keep their own list.
func TestAuthorizationCodeRegistrableNotAdvertised(t *testing.T) {
	if !registrableGrant(GrantTypeAuthorizationCode) {
		t.Error("authorization_code is not registrable")
	}
	for _, g := range grantTypes {
		if !registrableGrant(g) {
			t.Errorf("served grant %q is not registrable", g)
		}
	}
	if registrableGrant("password") || registrableGrant("") {
		t.Error("password or the empty grant is registrable")
	}
}

func TestValidateClientWeChatApps(t *testing.T) {
	many := make([]string, 21)
	for i := range many {
		many[i] = fmt.Sprintf("wx%016x", i)
	}
	for _, tc := range []struct {
		name string
		apps []string
		want string
	}{
		{"none", nil, ""},
		{"one", []string{"wx1234567890abcdef"}, ""},
		{"website, official account, mini-program", []string{"wx1234567890abcdef", "wxfedcba0987654321", "wxaaaaaaaaaaaaaaaa"}, ""},
		{"any configured shape", []string{"wx-admintest-app"}, ""},
		{"20", many[:20], ""},
		{"21", many, "at most 20"},
		{"duplicate", []string{"wx1234567890abcdef", "wx1234567890abcdef"}, "duplicate"},
		{"empty", []string{""}, "not an appid"},
		{"space", []string{" wx1234567890abcdef"}, "not an appid"},
		{"a URL", []string{"https://x"}, "not an appid"},
		{"non-ASCII", []string{"wx测试"}, "not an appid"},
		{"too long", []string{"wx" + strings.Repeat("a", 63)}, "not an appid"},
	} {
		c := webClient()
		c.WeChatApps = tc.apps
		check(t, tc.name, ValidateClient(c), tc.want)
	}
}

func check(t *testing.T, name string, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("%s: %v, want valid", name, err)
	case want != "" && err == nil:
		t.Errorf("%s: valid, want an error with %q", name, want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Errorf("%s: %v, want an error with %q", name, err, want)
	}
}

func numbered(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("https://app.example.com/cb%d", i)
	}
	return out
}
