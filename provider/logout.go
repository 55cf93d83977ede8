package provider

import (
	"context"
	"errors"
	"net/url"
	"slices"

	"github.com/ory/fosite"
	"github.com/ory/fosite/token/jwt"
)

// LogoutRequest is a validated RP-initiated logout request (OpenID Connect
// RP-Initiated Logout 1.0 §2).
type LogoutRequest struct {
	ClientID   string // "" when the request names no client
	ClientName string
	// RedirectURL is the registered post_logout_redirect_uri with state,
	// or "" to show our own signed-out page.
	RedirectURL string
	// HintSubject is the sub of a valid id_token_hint ("" without one): a
	// logout that names the signed-in person needs no confirmation.
	HintSubject string
	UILocales   string
}

// ParseLogout validates a logout request. Its errors are *AuthorizeError
// values without a RedirectURL: the person gets an error page, never a
// redirect to a URI the client did not register.
func (p *Provider) ParseLogout(ctx context.Context, form url.Values) (*LogoutRequest, error) {
	for k, v := range form {
		if len(v) > 1 {
			return nil, &AuthorizeError{Code: "invalid_request", Description: "The '" + k + "' parameter is repeated."}
		}
		if len(v[0]) > 4*maxAuthorizeParamLen {
			return nil, &AuthorizeError{Code: "invalid_request", Description: "The '" + k + "' parameter is too long."}
		}
	}
	out := &LogoutRequest{ClientID: form.Get("client_id"), UILocales: form.Get("ui_locales")}
	if hint := form.Get("id_token_hint"); hint != "" {
		sub, aud, err := p.verifyIDTokenHint(ctx, hint)
		if err != nil {
			return nil, &AuthorizeError{Code: "invalid_request", Description: "The 'id_token_hint' is not an ID token this provider issued."}
		}
		switch {
		case out.ClientID == "" && len(aud) > 0:
			out.ClientID = aud[0]
		case out.ClientID != "" && !slices.Contains(aud, out.ClientID):
			return nil, &AuthorizeError{Code: "invalid_request", Description: "The 'client_id' does not match the 'id_token_hint'."}
		}
		out.HintSubject = sub
	}
	var client *fositeClient
	if out.ClientID != "" {
		fc, err := p.store.GetClient(ctx, out.ClientID)
		if errors.Is(err, fosite.ErrNotFound) {
			return nil, &AuthorizeError{Code: ErrCodeUnknownClient, Description: "The client is not registered or is disabled."}
		}
		if err != nil {
			return nil, answer(storageError(err))
		}
		client = fc.(*fositeClient)
		out.ClientName = client.displayName()
	}
	if raw := form.Get("post_logout_redirect_uri"); raw != "" {
		if client == nil {
			return nil, &AuthorizeError{Code: "invalid_request", Description: "A 'post_logout_redirect_uri' needs a 'client_id' or an 'id_token_hint'."}
		}
		if !slices.Contains(client.PostLogoutRedirectURIs, raw) {
			return nil, &AuthorizeError{Code: ErrCodeBadRedirectURI, Description: "The 'post_logout_redirect_uri' is not registered for this client.", ClientName: out.ClientName}
		}
		params := url.Values{}
		if st := form.Get("state"); st != "" {
			params.Set("state", st)
		}
		out.RedirectURL = addQuery(raw, params)
	}
	return out, nil
}

// verifyIDTokenHint checks that hint is an ID token we signed (with any
// published key) for our issuer; an expired one is fine (RP-Initiated
// Logout §2: the hint is a hint, not a credential).
func (p *Provider) verifyIDTokenHint(ctx context.Context, hint string) (sub string, aud []string, err error) {
	tok, err := p.idSigner.Decode(ctx, hint)
	var ve *jwt.ValidationError
	if err != nil && !(errors.As(err, &ve) && ve.Errors == jwt.ValidationErrorExpired) {
		return "", nil, err
	}
	if tok == nil {
		return "", nil, errors.New("provider: undecodable id_token_hint")
	}
	claims := tok.Claims
	if iss, _ := claims["iss"].(string); iss != p.issuer {
		return "", nil, errors.New("provider: id_token_hint from another issuer")
	}
	sub, _ = claims["sub"].(string)
	switch a := claims["aud"].(type) {
	case string:
		aud = []string{a}
	case []interface{}:
		for _, v := range a {
			if s, ok := v.(string); ok {
				aud = append(aud, s)
			}
		}
	}
	if sub == "" || len(aud) == 0 {
		return "", nil, errors.New("provider: id_token_hint without sub or aud")
	}
	return sub, aud, nil
}
