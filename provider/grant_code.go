package provider

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"time"

	"github.com/ory/fosite"
)

// codeIDToken issues the ID token of an authorization-code exchange in
// place of fosite's OpenIDConnectExplicitHandler token half, so code-flow
// ID tokens follow the same at_hash rule and claims as the other grants.
// The nonce and auth_time were put in the session at the authorization
// endpoint. It must be registered after fosite's AuthorizeExplicitGrantHandler,
// which grants the code's scopes when it issues the access token.
type codeIDToken struct {
	issuer   *idTokenIssuer
	lifespan time.Duration
}

var _ fosite.TokenEndpointHandler = (*codeIDToken)(nil)

func (h *codeIDToken) CanSkipClientAuth(context.Context, fosite.AccessRequester) bool { return false }

func (h *codeIDToken) CanHandleTokenEndpointRequest(_ context.Context, r fosite.AccessRequester) bool {
	return r.GetGrantTypes().ExactOne(GrantTypeAuthorizationCode)
}

func (h *codeIDToken) HandleTokenEndpointRequest(context.Context, fosite.AccessRequester) error {
	return fosite.ErrUnknownRequest // the code handler validates the request
}

func (h *codeIDToken) PopulateTokenEndpointResponse(ctx context.Context, r fosite.AccessRequester, resp fosite.AccessResponder) error {
	if !h.CanHandleTokenEndpointRequest(ctx, r) || !r.GetGrantedScopes().Has(ScopeOpenID) {
		return fosite.ErrUnknownRequest
	}
	return h.issuer.issue(ctx, r, resp, h.lifespan)
}

// codeReplayed revokes what a code's first exchange issued, as fosite does
// for a replay it sees before it writes (RFC 6749 §4.1.2: the
// authorization server SHOULD revoke), and answers invalid_grant.
func (p *Provider) codeReplayed(ctx context.Context, requestID string, cause error) error {
	hint := "The authorization code has already been used."
	if err := p.store.RevokeAccessToken(ctx, requestID); err != nil {
		p.log.ErrorContext(ctx, "revoking the access token of a replayed code failed", "err", err.Error())
	}
	if err := p.store.RevokeRefreshToken(ctx, requestID); err != nil {
		p.log.ErrorContext(ctx, "revoking the refresh token of a replayed code failed", "err", err.Error())
	}
	return fosite.ErrInvalidGrant.WithWrap(cause).WithHint(hint)
}

// derivedKey derives a purpose-bound key from the provider's HMAC secret,
// so no two uses share a key.
func derivedKey(secret []byte, purpose string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}
