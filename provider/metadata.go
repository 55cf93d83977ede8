package provider

// grantTypes are the grants the token endpoint serves, in the order of the
// handler chain New builds (a test checks that the two agree). Token answers
// unsupported_grant_type for any other.
var grantTypes = []string{GrantTypeWeChat, GrantTypeWeChatApp, GrantTypeRefreshToken, GrantTypeClientCredentials, GrantTypeAuthorizationCode}

// authMethods are the client authentication methods fosite is set up for.
var authMethods = []string{AuthMethodNone, AuthMethodClientSecretBasic, AuthMethodClientSecretPost, AuthMethodPrivateKeyJWT}

// Metadata is what the provider supports, for the discovery document
// (OpenID Connect Discovery 1.0 §3, RFC 8414 §2); the HTTP layer adds its
// endpoints and the ID-token algorithms of its keys.
type Metadata struct {
	Issuer       string
	GrantTypes   []string
	Scopes       []string
	Claims       []string
	SubjectTypes []string
	// TokenEndpointAuthMethods are also the revocation endpoint's: any
	// client may revoke its own tokens.
	TokenEndpointAuthMethods []string
	// IntrospectionAuthMethods leave out "none": only confidential clients
	// may introspect (see Introspect).
	IntrospectionAuthMethods []string
	// TokenEndpointAuthSigningAlgs are the private_key_jwt assertion
	// algorithms accepted at the token endpoint.
	TokenEndpointAuthSigningAlgs []string
	// RevocationAuthSigningAlgs are those advertised for revocation.
	RevocationAuthSigningAlgs []string
}

// Metadata returns what p supports. The slices are the caller's.
func (p *Provider) Metadata() Metadata {
	var confidential []string
	for _, m := range authMethods {
		if m != AuthMethodNone {
			confidential = append(confidential, m)
		}
	}
	return Metadata{
		Issuer:                       p.issuer,
		GrantTypes:                   append([]string(nil), grantTypes...),
		Scopes:                       []string{ScopeOpenID, ScopePhone, ScopeWeChat, ScopeOfflineAccess},
		Claims:                       []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "amr", "nonce", "azp", "at_hash", "phone_number", "phone_number_verified", "wechat_appid", "wechat_openid", "wechat_unionid"},
		SubjectTypes:                 []string{"public"},
		TokenEndpointAuthMethods:     append([]string(nil), authMethods...),
		IntrospectionAuthMethods:     confidential,
		TokenEndpointAuthSigningAlgs: []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"},
		RevocationAuthSigningAlgs:    []string{"RS256", "ES256", "PS256"},
	}
}
