package provider

import (
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/ory/fosite"

	"github.com/wxoidc/wxoidc/keys"
	"github.com/wxoidc/wxoidc/storage"
)

// Grant types and auth methods wxoidc knows.
const (
	GrantTypeWeChat            = "urn:wxoidc:params:oauth:grant-type:wechat-miniprogram"
	GrantTypeRefreshToken      = "refresh_token"
	GrantTypeClientCredentials = "client_credentials"

	AuthMethodNone              = "none"
	AuthMethodClientSecretBasic = "client_secret_basic"
	AuthMethodClientSecretPost  = "client_secret_post"
	AuthMethodPrivateKeyJWT     = "private_key_jwt"
)

// fositeClient adapts a stored client to fosite. It implements
// fosite.OpenIDConnectClient so fosite enforces the registered
// token_endpoint_auth_method (a bare DefaultClient accepts any method).
type fositeClient struct {
	storage.Client
}

var (
	_ fosite.Client              = (*fositeClient)(nil)
	_ fosite.OpenIDConnectClient = (*fositeClient)(nil)
)

func (c *fositeClient) GetID() string             { return c.ID }
func (c *fositeClient) GetHashedSecret() []byte   { return []byte(c.SecretHash) }
func (c *fositeClient) GetRedirectURIs() []string { return c.RedirectURIs }
func (c *fositeClient) GetGrantTypes() fosite.Arguments {
	return fosite.Arguments(c.GrantTypes)
}
func (c *fositeClient) GetResponseTypes() fosite.Arguments { return fosite.Arguments{"code"} }
func (c *fositeClient) GetScopes() fosite.Arguments        { return fosite.Arguments(c.Scopes) }
func (c *fositeClient) IsPublic() bool                     { return c.TokenEndpointAuthMethod == AuthMethodNone }

// GetAudience lists the audiences the client may request, plus its default.
func (c *fositeClient) GetAudience() fosite.Arguments {
	out := make(fosite.Arguments, 0, len(c.Audiences)+1)
	out = append(out, c.Audiences...)
	if c.DefaultAudience != "" && !out.Has(c.DefaultAudience) {
		out = append(out, c.DefaultAudience)
	}
	return out
}

func (c *fositeClient) GetRequestURIs() []string                 { return nil }
func (c *fositeClient) GetJSONWebKeysURI() string                { return "" }
func (c *fositeClient) GetRequestObjectSigningAlgorithm() string { return "" }
func (c *fositeClient) GetTokenEndpointAuthMethod() string       { return c.TokenEndpointAuthMethod }

// idTokenAlg is the algorithm the client's ID tokens are signed with.
func (c *fositeClient) idTokenAlg() string { return IDTokenAlg(c.Client) }

// IDTokenAlg is the algorithm c's ID tokens are signed with: its
// id_token_signed_response_alg, keys.DefaultIDTokenAlgorithm (RS256, OIDC's
// default) when it names none. The admin service shows it and revokes by it.
func IDTokenAlg(c storage.Client) string {
	if c.IDTokenSignedResponseAlg == "" {
		return keys.DefaultIDTokenAlgorithm
	}
	return c.IDTokenSignedResponseAlg
}

// IDTokenSigningAlgs lists the ID-token algorithms to advertise in
// discovery: the configured ones, the one a client naming none gets
// (IDTokenAlg) first, as OIDC makes it the default; that one alone when none
// is configured. configured is not changed.
func IDTokenSigningAlgs(configured []string) []string {
	def := keys.DefaultIDTokenAlgorithm
	if len(configured) == 0 {
		return []string{def}
	}
	out := make([]string, 0, len(configured))
	if slices.Contains(configured, def) {
		out = append(out, def)
	}
	for _, a := range configured {
		if a != def {
			out = append(out, a)
		}
	}
	return out
}

type errInvalidJWKS string

func (e errInvalidJWKS) Error() string { return "client jwks: " + string(e) }

// ValidateClient checks a client's registration for consistency, so a bad
// admin command fails at once rather than at the client's first request.
func ValidateClient(c storage.Client) error {
	var problems []string
	if !slices.Contains(authMethods, c.TokenEndpointAuthMethod) {
		problems = append(problems, "unknown token_endpoint_auth_method "+strconv.Quote(c.TokenEndpointAuthMethod))
	}
	grants := fosite.Arguments(c.GrantTypes)
	for _, g := range c.GrantTypes {
		if !registrableGrant(g) {
			problems = append(problems, "unknown grant type "+strconv.Quote(g))
		}
	}
	if grants.Has(GrantTypeWeChat) && c.WeChatAppID == "" {
		problems = append(problems, "the WeChat grant needs a WeChat appid")
	}
	if grants.Has(GrantTypeWeChatApp) && c.WeChatAppID == "" {
		problems = append(problems, "the WeChat mobile app grant needs the mobile app's appid")
	}
	if grants.Has(GrantTypeWeChat) && grants.Has(GrantTypeWeChatApp) {
		problems = append(problems, "a client is bound to one WeChat app: the mini-program grant or the mobile app grant, not both")
	}
	if grants.Has(GrantTypeClientCredentials) && c.TokenEndpointAuthMethod == AuthMethodNone {
		problems = append(problems, "client_credentials needs a confidential client")
	}
	if c.TokenEndpointAuthMethod == AuthMethodPrivateKeyJWT && len(c.JWKS) == 0 {
		problems = append(problems, "private_key_jwt needs a JWK set")
	}
	if alg := c.IDTokenSignedResponseAlg; alg != "" && !slices.Contains(keys.SupportedAlgorithms, alg) {
		problems = append(problems, "unsupported id_token_signed_response_alg "+strconv.Quote(alg))
	}
	problems = append(problems, clientURIProblems(c)...)
	if len(problems) > 0 {
		return errors.New("invalid client: " + strings.Join(problems, "; "))
	}
	return nil
}
