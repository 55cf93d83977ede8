package provider

import (
	"context"
	"errors"
	"testing"

	"github.com/ory/fosite"
)

// recordingHandler is a token handler that handles one grant type and
// records the responses it is asked to populate.
type recordingHandler struct {
	fosite.TokenEndpointHandler
	grantType string
	populated int
}

func (h *recordingHandler) CanHandleTokenEndpointRequest(_ context.Context, r fosite.AccessRequester) bool {
	return r.GetGrantTypes().ExactOne(h.grantType)
}

func (h *recordingHandler) PopulateTokenEndpointResponse(context.Context, fosite.AccessRequester, fosite.AccessResponder) error {
	h.populated++
	return nil
}

func TestOnlyItsGrant(t *testing.T) {
	inner := &recordingHandler{grantType: "refresh_token"}
	h := onlyItsGrant{inner}
	for _, tc := range []struct {
		grant     string
		wantErr   error
		populated int
	}{
		{"client_credentials", fosite.ErrUnknownRequest, 0},
		{"refresh_token", nil, 1},
		{"authorization_code", fosite.ErrUnknownRequest, 1},
	} {
		r := fosite.NewAccessRequest(newSession())
		r.GrantTypes = fosite.Arguments{tc.grant}
		err := h.PopulateTokenEndpointResponse(t.Context(), r, fosite.NewAccessResponse())
		if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
			t.Errorf("%s: err = %v, want %v", tc.grant, err, tc.wantErr)
		}
		if inner.populated != tc.populated {
			t.Errorf("%s: the handler populated %d responses, want %d", tc.grant, inner.populated, tc.populated)
		}
	}
}
