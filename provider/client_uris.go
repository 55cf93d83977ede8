package provider

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/ory/fosite"

	"github.com/wxoidc/wxoidc/storage"
)

// GrantTypeAuthorizationCode is the browser sign-in grant (RFC 6749 §4.1,
// with PKCE, RFC 7636).
const GrantTypeAuthorizationCode = "authorization_code"

// Limits on a client's URI lists: enough for every real deployment
// (staging, production, a loopback port or two), small enough that exact
// matching stays cheap and a registration stays readable.
const (
	maxClientURIs     = 20
	maxClientURIBytes = 2000
	maxWeChatApps     = 20
	maxAppIDBytes     = 64
)

// registrableGrant reports whether a client may be registered with grant
// g: the grants the token endpoint serves.
func registrableGrant(g string) bool { return slices.Contains(grantTypes, g) }

// clientURIProblems checks the browser sign-in part of a registration:
// redirect and post-logout redirect URIs, the back-channel logout URI, the
// WeChat apps, and that redirect URIs and the authorization_code grant
// come together.
func clientURIProblems(c storage.Client) []string {
	public := c.TokenEndpointAuthMethod == AuthMethodNone
	var problems []string
	problems = append(problems, redirectURIListProblems("redirect_uris", c.RedirectURIs, public)...)
	problems = append(problems, redirectURIListProblems("post_logout_redirect_uris", c.PostLogoutRedirectURIs, public)...)
	if c.BackchannelLogoutURI != "" {
		if p := webURIProblem(c.BackchannelLogoutURI); p != "" {
			problems = append(problems, "backchannel_logout_uri "+strconv.Quote(c.BackchannelLogoutURI)+": "+p)
		}
	}
	hasCode := fosite.Arguments(c.GrantTypes).Has(GrantTypeAuthorizationCode)
	switch {
	case hasCode && len(c.RedirectURIs) == 0:
		problems = append(problems, "the authorization_code grant needs at least one redirect URI")
	case !hasCode && len(c.RedirectURIs) > 0:
		problems = append(problems, "redirect URIs need the authorization_code grant")
	}
	return append(problems, weChatAppsProblems(c.WeChatApps)...)
}

// redirectURIListProblems checks one list of redirect URIs. They are
// matched exactly at the authorization endpoint (OAuth 2.0 Security BCP
// §4.1.3), so two entries differing only in a trailing slash are two URIs
// and both may be registered.
func redirectURIListProblems(field string, uris []string, public bool) []string {
	var problems []string
	if len(uris) > maxClientURIs {
		problems = append(problems, fmt.Sprintf("%s: at most %d URIs, got %d", field, maxClientURIs, len(uris)))
	}
	seen := make(map[string]bool, len(uris))
	for _, u := range uris {
		if seen[u] {
			problems = append(problems, fmt.Sprintf("%s: duplicate %q", field, u))
			continue
		}
		seen[u] = true
		if p := redirectURIProblem(u, public); p != "" {
			problems = append(problems, fmt.Sprintf("%s: %q: %s", field, u, p))
		}
	}
	return problems
}

// redirectURIProblem says what is wrong with one redirect URI, "" if
// nothing: RFC 6749 §3.1.2 (absolute, no fragment), the Security BCP
// (exact, so no wildcard; https), RFC 8252 (http only on loopback §7.3;
// private-use schemes for native, that is public, clients §7.1).
func redirectURIProblem(raw string, public bool) string {
	u, p := parseClientURI(raw)
	if p != "" {
		return p
	}
	switch u.Scheme {
	case "https", "http":
		return webURIChecks(u)
	}
	// RFC 8252 §7.1: a private-use scheme is a reverse domain name the app
	// controls, so it names a dot; this also keeps out javascript:, data:,
	// file: and friends.
	if !strings.Contains(u.Scheme, ".") {
		return "scheme must be https, http on a loopback host, or a reverse-domain private-use scheme (RFC 8252 §7.1)"
	}
	if !public {
		return "a private-use scheme is for native apps, which are public clients (token_endpoint_auth_method none)"
	}
	if u.Opaque != "" {
		return "a private-use URI needs a path, as in com.example.app:/callback (RFC 8252 §7.1)"
	}
	return ""
}

// webURIProblem checks a URI the provider itself calls or sends a browser
// to over the web (back-channel logout): https, or http on loopback.
func webURIProblem(raw string) string {
	u, p := parseClientURI(raw)
	if p != "" {
		return p
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return "scheme must be https, or http on a loopback host"
	}
	return webURIChecks(u)
}

// parseClientURI applies the checks every registered URI shares: size,
// plain ASCII without spaces (matched byte for byte, so no room for
// look-alikes), absolute, no fragment, no userinfo, no wildcard.
func parseClientURI(raw string) (*url.URL, string) {
	if raw == "" {
		return nil, "must not be empty"
	}
	if len(raw) > maxClientURIBytes {
		return nil, fmt.Sprintf("longer than %d bytes", maxClientURIBytes)
	}
	for i := 0; i < len(raw); i++ {
		if b := raw[i]; b <= ' ' || b >= 0x7f {
			return nil, "must be ASCII without spaces or control characters (percent-encode the rest)"
		}
	}
	if strings.Contains(raw, "#") {
		return nil, "must not have a fragment (RFC 6749 §3.1.2)"
	}
	if strings.Contains(raw, "*") {
		return nil, "must not have a wildcard: URIs are matched exactly"
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, "not a URI"
	}
	if u.Scheme == "" {
		return nil, "must be an absolute URI"
	}
	if u.User != nil {
		return nil, "must not have userinfo"
	}
	return u, ""
}

// webURIChecks checks an http(s) URI: a host, and http only on loopback
// (RFC 8252 §7.3 and §8.3: the request never leaves the device).
func webURIChecks(u *url.URL) string {
	if u.Opaque != "" || u.Host == "" || u.Hostname() == "" {
		return "must have a host"
	}
	if u.Scheme == "http" && !isLoopbackHost(u.Hostname()) {
		return "http is allowed only on loopback hosts (127.0.0.1, [::1], localhost); use https"
	}
	return ""
}

func isLoopbackHost(h string) bool {
	return h == "127.0.0.1" || h == "::1" || strings.EqualFold(h, "localhost")
}

// weChatAppsProblems checks the appids a person may sign in with through
// the browser. Their shape is checked loosely (WeChat's appids are "wx"
// and 16 hex digits, but the config accepts any appid and so must we);
// the admin service checks each is configured under wechat.apps.
func weChatAppsProblems(apps []string) []string {
	var problems []string
	if len(apps) > maxWeChatApps {
		problems = append(problems, fmt.Sprintf("wechat_apps: at most %d, got %d", maxWeChatApps, len(apps)))
	}
	seen := make(map[string]bool, len(apps))
	for _, a := range apps {
		switch {
		case seen[a]:
			problems = append(problems, fmt.Sprintf("wechat_apps: duplicate %q", a))
		case !looksLikeAppID(a):
			problems = append(problems, fmt.Sprintf("wechat_apps: %q is not an appid (1 to %d letters, digits, - or _)", a, maxAppIDBytes))
		}
		seen[a] = true
	}
	return problems
}

func looksLikeAppID(a string) bool {
	if a == "" || len(a) > maxAppIDBytes {
		return false
	}
	for _, r := range a {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}
