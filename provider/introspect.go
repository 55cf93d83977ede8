package provider

import (
	"context"
	"errors"

	"github.com/ory/fosite"

	"github.com/wxoidc/wxoidc/storage"
)

// introspectToken answers RFC 7662 for a token: inactive for anything that
// is not a live token of ours (unknown, expired, revoked, signed by a revoked
// key, of a disabled account), the token's metadata otherwise. An error means the server failed.
// Tokens signed by any published key introspect, so a rotation never makes
// a valid token inactive.
func (p *Provider) introspectToken(ctx context.Context, token, hint string) (map[string]interface{}, error) {
	use := fosite.AccessToken
	if hint == "refresh_token" {
		use = fosite.RefreshToken
	}
	tu, req, err := p.oauth.IntrospectToken(ctx, token, use, newSession())
	if err != nil {
		rfc := fosite.ErrorToRFC6749Error(err)
		if rfc.CodeField >= 500 && !errors.Is(err, fosite.ErrNotFound) && rfc.ErrorField == fosite.ErrServerError.ErrorField {
			return nil, err
		}
		return map[string]interface{}{"active": false}, nil
	}
	sess, _ := req.GetSession().(*session)
	// A token of a disabled or deleted account is inactive, as refresh and
	// UserInfo already refuse it: disabling revokes the tokens, but one
	// stored without that revocation (or racing it) must not answer active.
	if sess != nil && sess.authenticatedUser() {
		acc, err := p.store.db.GetAccount(ctx, sess.GetSubject())
		switch {
		case errors.Is(err, storage.ErrNotFound):
			return map[string]interface{}{"active": false}, nil
		case err != nil:
			return nil, err
		case acc.Disabled:
			return map[string]interface{}{"active": false}, nil
		}
	}
	out := map[string]interface{}{
		"active":    true,
		"client_id": req.GetClient().GetID(),
		"iss":       p.issuer,
		"iat":       req.GetRequestedAt().Unix(),
	}
	if len(req.GetGrantedScopes()) > 0 {
		out["scope"] = scopeString(req.GetGrantedScopes())
	}
	if len(req.GetGrantedAudience()) > 0 {
		out["aud"] = []string(req.GetGrantedAudience())
	}
	if sess != nil {
		out["sub"] = sess.GetSubject()
		if exp := sess.GetExpiresAt(tu); !exp.IsZero() {
			out["exp"] = exp.Unix()
		}
	}
	if tu == fosite.RefreshToken {
		out["token_type"] = "refresh_token"
	} else {
		out["token_type"] = "Bearer"
	}
	return out, nil
}
