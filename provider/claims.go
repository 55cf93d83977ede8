package provider

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"hash"
	"time"

	"github.com/google/uuid"
	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"

	"github.com/wxoidc/wxoidc/storage"
)

// Scopes wxoidc knows (docs/contract.md §2).
const (
	ScopeOpenID        = "openid"
	ScopePhone         = "phone"
	ScopeWeChat        = "wechat"
	ScopeOfflineAccess = "offline_access"
)

// grantScopesAndAudience grants what the request asks for when the client is
// allowed it (exact matches only), or the defaults when it asks for nothing.
// Every access token gets an audience: RFC 9068 requires `aud`.
func grantScopesAndAudience(r fosite.AccessRequester, c *fositeClient, defaultScopes []string) error {
	allowed := c.GetScopes()
	requested := r.GetRequestedScopes()
	if len(requested) == 0 {
		for _, s := range defaultScopes {
			if allowed.Has(s) {
				r.GrantScope(s)
			}
		}
	}
	for _, s := range requested {
		if !allowed.Has(s) {
			return fosite.ErrInvalidScope.WithHintf("The client is not allowed to request scope '%s'.", s)
		}
		r.GrantScope(s)
	}
	return grantAudience(r, c)
}

func grantAudience(r fosite.AccessRequester, c *fositeClient) error {
	allowed := c.GetAudience()
	requested := r.GetRequestedAudience()
	for _, a := range requested {
		if !allowed.Has(a) {
			return fosite.ErrInvalidRequest.WithHintf("The client is not allowed to request audience '%s'.", a)
		}
		r.GrantAudience(a)
	}
	if len(requested) == 0 && c.DefaultAudience != "" {
		r.GrantAudience(c.DefaultAudience)
	}
	return nil
}

// identityClaims are the account claims of ID tokens and UserInfo for the
// granted scopes (docs/contract.md §2).
func identityClaims(scopes fosite.Arguments, clientID string, acc storage.Account, phone string, ident storage.WeChatIdentity) map[string]interface{} {
	out := map[string]interface{}{}
	if clientID != "" {
		out["azp"] = clientID
	}
	if scopes.Has(ScopePhone) && phone != "" {
		out["phone_number"] = phone
		out["phone_number_verified"] = true
	}
	if scopes.Has(ScopeWeChat) && ident.OpenID != "" {
		out["wechat_appid"] = ident.AppID
		out["wechat_openid"] = ident.OpenID
		if ident.UnionID != "" {
			out["wechat_unionid"] = ident.UnionID
		}
	}
	return out
}

// phoneFor returns the account's phone, or "" when it has none or it cannot
// be decrypted (the claim is then omitted rather than failing the login).
func phoneFor(a accountCrypto, acc storage.Account) string {
	p, err := a.Phone(acc)
	if err != nil {
		return ""
	}
	return p
}

// idTokenIssuer signs ID tokens for grants fosite has no OpenID handler for
// (ours) and for refresh, computing at_hash per the signing algorithm.
type idTokenIssuer struct {
	strategy openid.OpenIDConnectTokenStrategy
	now      func() time.Time
}

func (i *idTokenIssuer) issue(ctx context.Context, r fosite.AccessRequester, resp fosite.AccessResponder, lifespan time.Duration) error {
	sess, ok := r.GetSession().(*session)
	if !ok {
		return fosite.ErrServerError.WithDebug("unexpected session type")
	}
	claims := sess.IDTokenClaims()
	claims.AccessTokenHash = atHash(sess.IDTokenAlg, resp.GetAccessToken())
	claims.JTI = uuid.NewString()
	claims.IssuedAt = i.now().Truncate(time.Second)
	claims.ExpiresAt = time.Time{}
	claims.CodeHash = ""
	token, err := i.strategy.GenerateIDToken(ctx, lifespan, r)
	if err != nil {
		return err
	}
	resp.SetExtra("id_token", token)
	return nil
}

// atHash is OIDC Core §3.1.3.6's at_hash: the left half of the hash that
// matches the signing algorithm. fosite picks SHA-256 for EdDSA; Ed25519
// uses SHA-512, as go-oidc and other verifiers expect.
func atHash(alg, accessToken string) string {
	var h hash.Hash
	switch alg {
	case "RS384", "ES384", "PS384":
		h = sha512.New384()
	case "RS512", "ES512", "PS512", "EdDSA":
		h = sha512.New()
	default:
		h = sha256.New()
	}
	h.Write([]byte(accessToken))
	sum := h.Sum(nil)
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

// refreshIDToken replaces fosite's OpenIDConnectRefreshHandler so refreshed
// ID tokens get the same at_hash rule and claims as first ones. It must be
// registered after fosite's RefreshTokenGrantHandler.
type refreshIDToken struct {
	issuer   *idTokenIssuer
	lifespan time.Duration
}

var _ fosite.TokenEndpointHandler = (*refreshIDToken)(nil)

func (h *refreshIDToken) CanSkipClientAuth(context.Context, fosite.AccessRequester) bool {
	return false
}
func (h *refreshIDToken) CanHandleTokenEndpointRequest(_ context.Context, r fosite.AccessRequester) bool {
	return r.GetGrantTypes().ExactOne(GrantTypeRefreshToken)
}

func (h *refreshIDToken) HandleTokenEndpointRequest(ctx context.Context, r fosite.AccessRequester) error {
	if !h.CanHandleTokenEndpointRequest(ctx, r) || !r.GetGrantedScopes().Has(ScopeOpenID) {
		return fosite.ErrUnknownRequest
	}
	return nil
}

func (h *refreshIDToken) PopulateTokenEndpointResponse(ctx context.Context, r fosite.AccessRequester, resp fosite.AccessResponder) error {
	if !h.CanHandleTokenEndpointRequest(ctx, r) || !r.GetGrantedScopes().Has(ScopeOpenID) {
		return fosite.ErrUnknownRequest
	}
	return h.issuer.issue(ctx, r, resp, h.lifespan)
}
