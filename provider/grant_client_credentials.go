package provider

import (
	"context"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
)

// clientCredentialsGrant is fosite's client_credentials handler plus what it
// leaves out: fosite v0.49 validates the requested scopes and audiences but
// grants neither, so its tokens would carry no scope (and the default
// audience would be missing). A request without `scope` gets none: a
// service client has no default scopes (docs/contract.md §1.3).
type clientCredentialsGrant struct {
	*oauth2.ClientCredentialsGrantHandler
}

var _ fosite.TokenEndpointHandler = (*clientCredentialsGrant)(nil)

func (g *clientCredentialsGrant) HandleTokenEndpointRequest(ctx context.Context, r fosite.AccessRequester) error {
	if err := g.ClientCredentialsGrantHandler.HandleTokenEndpointRequest(ctx, r); err != nil {
		return err
	}
	client, ok := r.GetClient().(*fositeClient)
	if !ok {
		return fosite.ErrServerError.WithDebug("unexpected client type")
	}
	// fosite checked every requested scope and audience against the client
	// with the exact strategies; the checks repeat here so that a grant can
	// never widen what was validated.
	return grantScopesAndAudience(r, client, nil)
}
