package provider

import (
	"encoding/json"
	"maps"
	"slices"
	"time"

	"github.com/mohae/deepcopy"
	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"
)

// session is what fosite carries through a token request and what is stored
// (encrypted) with every token session. It satisfies fosite.Session,
// openid.Session and oauth2.JWTSessionContainer.
//
// It deliberately stores no `kid`, `iat` or `jti` for the access token: those
// are computed when a token is signed, so a refresh after a key rotation gets
// the new key's kid and fresh claims (hydra#3573).
type session struct {
	*openid.DefaultSession `json:"idToken"`
	ClientID               string `json:"clientId"`
	// IDTokenAlg is the client's id_token_signed_response_alg, refreshed on
	// every refresh so a client's algorithm change takes effect.
	IDTokenAlg string `json:"idTokenAlg,omitempty"`
	// SID names the browser login session a code-flow sign-in came from
	// (OIDC Front/Back-Channel Logout's sid); AppID is the WeChat app the
	// person signed in with there. Both empty for grant-based sign-ins.
	SID   string `json:"sid,omitempty"`
	AppID string `json:"appId,omitempty"`
	// PKCEChallenge and PKCEMethod are a code's RFC 7636 challenge, kept
	// with the code (fositeStore.GetPKCERequestSession).
	PKCEChallenge string `json:"pkceChallenge,omitempty"`
	PKCEMethod    string `json:"pkceMethod,omitempty"`

	// grant is what a WeChat grant writes with its tokens (grant_wechat.go),
	// carried from HandleTokenEndpointRequest to PopulateTokenEndpointResponse.
	// Unexported: neither stored nor copied by Clone.
	grant *grantWrite
}

// newSession returns an empty session ready for fosite to fill.
func newSession() *session {
	return &session{DefaultSession: &openid.DefaultSession{
		Claims:  &jwt.IDTokenClaims{},
		Headers: &jwt.Headers{},
	}}
}

// IDTokenHeaders sets the signing algorithm for this client (the signer
// honours "alg") and leaves kid/typ to the signer. at_hash also reads "alg".
func (s *session) IDTokenHeaders() *jwt.Headers {
	h := &jwt.Headers{Extra: map[string]interface{}{}}
	if s.IDTokenAlg != "" {
		h.Extra["alg"] = s.IDTokenAlg
	}
	return h
}

// GetJWTClaims builds the RFC 9068 access-token claims afresh on each call:
// fosite fills exp, scope, aud, iat and iss; jti is left empty so fosite
// generates a new one per token.
func (s *session) GetJWTClaims() jwt.JWTClaimsContainer {
	return &jwt.JWTClaims{
		Subject: s.GetSubject(),
		Extra:   map[string]interface{}{"client_id": s.ClientID},
	}
}

// GetJWTHeader marks access tokens as RFC 9068 `at+jwt`.
func (s *session) GetJWTHeader() *jwt.Headers {
	return &jwt.Headers{Extra: map[string]interface{}{"typ": "at+jwt"}}
}

// Clone deep-copies the session (the refresh handler clones the stored one).
// It is written out rather than reflective (deepcopy): on the grant it was
// ~70 allocations of reflection per request. The unexported grant is not
// copied: it belongs to the request that made it.
func (s *session) Clone() fosite.Session {
	if s == nil {
		return nil
	}
	c := *s
	c.grant = nil
	if s.DefaultSession != nil {
		d := *s.DefaultSession
		if d.Claims != nil {
			cl := *d.Claims
			cl.Audience = slices.Clone(cl.Audience)
			cl.AuthenticationMethodsReferences = slices.Clone(cl.AuthenticationMethodsReferences)
			cl.Extra = cloneMap(cl.Extra)
			d.Claims = &cl
		}
		if d.Headers != nil {
			h := *d.Headers
			h.Extra = cloneMap(h.Extra)
			d.Headers = &h
		}
		d.ExpiresAt = maps.Clone(d.ExpiresAt)
		c.DefaultSession = &d
	}
	return &c
}

// cloneMap deep-copies a claims map (nil stays nil, empty stays empty).
func cloneMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = cloneValue(v)
	}
	return out
}

// cloneValue deep-copies one claim value: the JSON shapes directly, any
// other type (none of ours) reflectively.
func cloneValue(v any) any {
	switch v := v.(type) {
	case nil, string, bool, float64, float32, int, int64, int32, uint, uint64, uint32, json.Number, time.Time:
		return v
	case map[string]any:
		return cloneMap(v)
	case []any:
		if v == nil {
			return v
		}
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = cloneValue(e)
		}
		return out
	case []string:
		return slices.Clone(v)
	default:
		return deepcopy.Copy(v)
	}
}

// SetExpiresAt and friends are promoted from DefaultSession; this keeps the
// zero-value session usable when fosite decodes into a fresh session.
func (s *session) ensure() {
	if s.DefaultSession == nil {
		s.DefaultSession = &openid.DefaultSession{}
	}
	if s.DefaultSession.Claims == nil {
		s.DefaultSession.Claims = &jwt.IDTokenClaims{}
	}
	if s.DefaultSession.Headers == nil {
		s.DefaultSession.Headers = &jwt.Headers{}
	}
}

// setSubject keeps the two subjects fosite reads in sync.
func (s *session) setSubject(sub string) {
	s.ensure()
	s.Subject = sub
	s.Claims.Subject = sub
}

// authenticatedUser reports whether a user signed in for this session (the
// WeChat grant records how in amr); a client's own token has no amr.
func (s *session) authenticatedUser() bool {
	return s.DefaultSession != nil && s.Claims != nil && len(s.Claims.AuthenticationMethodsReferences) > 0
}
