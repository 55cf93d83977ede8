package provider

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/ory/fosite"
)

// clientAuthStrategy wraps fosite's client authentication so every failure
// is an RFC 6749 error. fosite v0.49.0 returns two answers no client library
// understands for private_key_jwt: a bare validation error from its JWT
// package for an expired or not-yet-valid assertion (rendered as a 500
// "error"), and the non-standard "jti_known" for a replayed assertion.
// Both are invalid_client (RFC 7523 §3, RFC 6749 §5.2).
//
// A client that authenticated is then charged to the ClientLimit in ctx
// (WithClientLimit), before any grant handler runs.
func clientAuthStrategy(f *fosite.Fosite) fosite.ClientAuthenticationStrategy {
	return func(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error) {
		c, err := f.DefaultClientAuthenticationStrategy(ctx, r, form)
		if err != nil {
			return nil, clientAuthError(err)
		}
		if err := chargeClient(ctx, c.GetID(), c.IsPublic()); err != nil {
			return nil, err
		}
		return c, nil
	}
}

func clientAuthError(err error) error {
	if err == nil {
		return nil
	}
	var rfc *fosite.RFC6749Error
	if !errors.As(err, &rfc) {
		return fosite.ErrInvalidClient.WithWrap(err).WithHint("The client assertion is expired or not yet valid.")
	}
	if rfc.ErrorField == fosite.ErrJTIKnown.ErrorField {
		return fosite.ErrInvalidClient.WithWrap(err).WithHint("The client assertion was already used: every assertion needs a new 'jti'.")
	}
	return err
}
