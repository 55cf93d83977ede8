package provider

import (
	"context"

	"github.com/ory/fosite"
)

// onlyItsGrant passes a stock fosite token handler only the responses of
// requests it handles. fosite v0.49's NewAccessResponse calls every
// handler's PopulateTokenEndpointResponse, and the stock refresh, code and
// client-credentials handlers answer a request of another grant with
// errorsx.WithStack(ErrUnknownRequest): a stack trace taken with
// runtime.Callers and thrown away, two or three per token request, about
// 3 % of a client_credentials request's CPU (docs/performance.md). The
// handlers' own first check is CanHandleTokenEndpointRequest, so asking it
// here first changes no answer.
type onlyItsGrant struct {
	fosite.TokenEndpointHandler
}

func (h onlyItsGrant) PopulateTokenEndpointResponse(ctx context.Context, r fosite.AccessRequester, resp fosite.AccessResponder) error {
	if !h.CanHandleTokenEndpointRequest(ctx, r) {
		return fosite.ErrUnknownRequest
	}
	return h.TokenEndpointHandler.PopulateTokenEndpointResponse(ctx, r, resp)
}
