package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/ory/fosite"

	"github.com/wxoidc/wxoidc/storage"
)

// introspectToken answers RFC 7662 for a token: inactive for anything that
// is not a live token of ours (unknown, expired, revoked, signed by a revoked
// key, of a disabled account or of a deleted or disabled client), the
// token's metadata otherwise. An error means the server failed.
// Tokens signed by any published key introspect, so a rotation never makes
// a valid token inactive.
//
// A JWT presented as an access token takes introspectJWT; everything else
// (opaque tokens, refresh tokens, the refresh_token hint) goes through
// fosite. A three-part token can be nothing but a JWT access token: fosite
// looks refresh tokens up by the second of exactly two parts.
func (p *Provider) introspectToken(ctx context.Context, token, hint string) (map[string]interface{}, error) {
	if p.verifier != nil && p.format == FormatJWT && hint != "refresh_token" && strings.Count(token, ".") == 2 {
		return p.introspectJWT(ctx, token)
	}
	return p.introspectFosite(ctx, token, hint)
}

// inactive is RFC 7662's answer for a token that is not active: nothing else.
func inactive() map[string]interface{} { return map[string]interface{}{"active": false} }

// introspectFosite is introspection through fosite's core validator: the
// token's row is read and its session decrypted and decoded, then a JWT is
// parsed and verified by fosite (decoding its claims twice).
func (p *Provider) introspectFosite(ctx context.Context, token, hint string) (map[string]interface{}, error) {
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
		return inactive(), nil
	}
	sess, _ := req.GetSession().(*session)
	// A token of a disabled or deleted account is inactive, as refresh and
	// UserInfo already refuse it: disabling revokes the tokens, but one
	// stored without that revocation (or racing it) must not answer active.
	if sess != nil && sess.authenticatedUser() {
		if ok, err := p.accountActive(ctx, sess.GetSubject()); !ok || err != nil {
			return inactiveOr(err)
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

// accessTokenClaims are the claims introspectJWT checks; the answer's other
// fields come from the token's row. Numbers decode as float64 and are
// truncated, as fosite's claims check does.
type accessTokenClaims struct {
	Iss string  `json:"iss"`
	Exp float64 `json:"exp"`
	Iat float64 `json:"iat"`
	Nbf float64 `json:"nbf"`
}

// liveJWT is a JWT access token that passed liveAccessJWT's checks.
type liveJWT struct {
	rec storage.TokenSession
	// One of these is read with rec: account (introspection) or, when
	// liveAccessJWT is asked for it, login (UserInfo's claims): rec.Subject's
	// account and its identity in the client's app.
	account storage.AccountState
	login   storage.SessionLogin
	key     string // the row key: the hash of the signature part
	claims  accessTokenClaims
	client  *fositeClient
}

// liveAccessJWT checks a JWT access token with one signature check (none
// for a token keys.Manager.Verify has verified before), one claims
// decoding, one read of the row with its subject's account state, and the
// client from its cache, without decrypting the row's session. ok is false
// for a token that is not a live access token of ours: not ours, a revoked
// key, a bad signature, not an access token, expired, revoked, rotated
// away, of a deleted or disabled client. The account is the caller's to
// check. It is stricter than fosite's validator on tokens we do not issue:
// iss must be this issuer and exp present (fosite checks neither). Times
// are the provider's clock (fosite reads the system's; they are the same
// outside tests). A storage failure is an error, where fosite's validator
// turns every failure into an invalid token.
func (p *Provider) liveAccessJWT(ctx context.Context, token string, withLogin bool) (t liveJWT, ok bool, err error) {
	payload, header, err := p.verifier.Verify(token)
	if err != nil {
		return liveJWT{}, false, nil // not ours, a revoked key, a bad signature, alg none...
	}
	// An ID token (or any other JWT we sign) is not an access token; ours
	// carry RFC 9068's typ (session.GetJWTHeader).
	if typ, _ := header.ExtraHeaders[jose.HeaderType].(string); typ != "at+jwt" {
		return liveJWT{}, false, nil
	}
	if err := json.Unmarshal(payload, &t.claims); err != nil {
		return liveJWT{}, false, nil
	}
	// fosite's checks (jwt.MapClaims.Valid): whole seconds, no leeway, exp
	// inclusive; iat and nbf only when present. exp is required here: every
	// access token we sign carries one.
	c, now := t.claims, p.now().Unix()
	if c.Iss != p.issuer || c.Exp == 0 || now > int64(c.Exp) ||
		(c.Iat != 0 && now < int64(c.Iat)) || (c.Nbf != 0 && now < int64(c.Nbf)) {
		return liveJWT{}, false, nil
	}
	// The row key is fosite's for JWT access tokens: the hash of the
	// signature part (DefaultJWTStrategy.AccessTokenSignature, fositeStore).
	t.key = hashSignature(token[strings.LastIndexByte(token, '.')+1:])
	if withLogin {
		t.rec, t.login, err = p.store.db.GetTokenSessionWithLogin(ctx, storage.KindAccessToken, t.key)
	} else {
		t.rec, t.account, err = p.store.db.GetTokenSessionWithAccount(ctx, storage.KindAccessToken, t.key)
	}
	switch {
	case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrInactive):
		return liveJWT{}, false, nil // revoked, rotated away by a refresh, cleaned up
	case err != nil:
		return liveJWT{}, false, err
	}
	// The client must still exist and be enabled (fosite's path loads it
	// through the same cache and fails the token without it).
	client, err := p.store.GetClient(ctx, t.rec.ClientID)
	switch {
	case errors.Is(err, fosite.ErrNotFound):
		return liveJWT{}, false, nil
	case err != nil:
		return liveJWT{}, false, err
	}
	if t.client, ok = client.(*fositeClient); !ok {
		return liveJWT{}, false, fmt.Errorf("introspect: unexpected client type %T", client)
	}
	return t, true, nil
}

// introspectJWT introspects a JWT access token through liveAccessJWT, plus
// the account of a person's token (read with the token's row). Its answer
// is fosite's path's for every token we issue (introspect_test.go compares
// them).
func (p *Provider) introspectJWT(ctx context.Context, token string) (map[string]interface{}, error) {
	t, ok, err := p.liveAccessJWT(ctx, token, false)
	if !ok || err != nil {
		return inactiveOr(err)
	}
	person, err := p.personsToken(t.rec, t.key)
	if err != nil {
		return nil, err
	}
	if person && (!t.account.Exists || t.account.Disabled) {
		return inactive(), nil
	}
	out := map[string]interface{}{
		"active":     true,
		"client_id":  t.client.GetID(),
		"iss":        p.issuer,
		"iat":        t.rec.RequestedAt.Unix(),
		"sub":        t.rec.Subject,
		"exp":        int64(t.claims.Exp), // the session's access-token expiry, which the signer wrote
		"token_type": "Bearer",
	}
	// fosite merges the row's scopes and audiences into an empty request,
	// dropping repeats (Request.GrantScope, GrantAudience).
	if scopes := unique(t.rec.GrantedScopes); len(scopes) > 0 {
		out["scope"] = scopeString(scopes)
	}
	if aud := unique(t.rec.GrantedAudience); len(aud) > 0 {
		out["aud"] = aud
	}
	return out, nil
}

// personsToken tells a person's token (whose account must be live) from a
// client's own (client_credentials), from the row alone where it can.
// fosite's path asks the decrypted session: a person's session has amr
// (session.authenticatedUser). The row's Subject is the session's subject.
//
//   - Subject ≠ ClientID: a person's. A client's own token always has its
//     client ID as subject (Provider.beforeIssue), so this rule never calls
//     a client's token a person's; and every grant that puts an account in
//     the subject records amr with it. Were a token ever to lack amr here,
//     the rule would only add an account check, which can make a token
//     inactive, never active.
//   - Subject = ClientID and the row's grant_type is client_credentials: a
//     client's own. That grant never records amr (its session is fosite's
//     empty one, with the client as subject), and its grant_type is the one
//     fosite dispatched the request on (the form's first value).
//   - Otherwise the row is ambiguous (an account ID chosen or imported equal
//     to a client ID): the session is decrypted and asked, as fosite's path
//     does.
func (p *Provider) personsToken(rec storage.TokenSession, key string) (bool, error) {
	if rec.Subject != rec.ClientID {
		return true, nil
	}
	if form, err := url.ParseQuery(rec.Form); err == nil && form.Get("grant_type") == GrantTypeClientCredentials {
		return false, nil
	}
	raw, err := p.store.sealer.Open(rec.SessionData, []byte(string(storage.KindAccessToken)+":"+key))
	if err != nil {
		return false, fmt.Errorf("introspect: decrypt session: %w", err)
	}
	sess := newSession()
	if err := json.Unmarshal(raw, sess); err != nil {
		return false, fmt.Errorf("introspect: decode session: %w", err)
	}
	return sess.authenticatedUser(), nil
}

// accountActive reports whether the account exists and is not disabled.
func (p *Provider) accountActive(ctx context.Context, id string) (bool, error) {
	acc, err := p.store.db.GetAccount(ctx, id)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return false, nil
	case err != nil:
		return false, err
	}
	return !acc.Disabled, nil
}

// inactiveOr answers inactive, or fails with err when there is one.
func inactiveOr(err error) (map[string]interface{}, error) {
	if err != nil {
		return nil, err
	}
	return inactive(), nil
}

// unique returns a without repeats, in order; a itself when it has none.
func unique(a []string) []string {
	for i := 1; i < len(a); i++ {
		for j := range i {
			if a[i] == a[j] {
				out := make([]string, 0, len(a))
				for _, s := range a {
					if !slices.Contains(out, s) {
						out = append(out, s)
					}
				}
				return out
			}
		}
	}
	return a
}
