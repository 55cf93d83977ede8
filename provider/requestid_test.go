package provider

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/wxoidc/wxoidc/keys"
)

// A grant starts its token chain with a time-ordered (v7) request ID, which
// keeps the request index's inserts at the end of its B-tree; a refresh
// continues the chain under the same ID.
func TestGrantRequestIDs(t *testing.T) {
	e := newBenchEnv(t, "NORMAL", keys.ES256)
	requestID := func(accessToken string) string {
		t.Helper()
		sig := accessToken[strings.LastIndexByte(accessToken, '.')+1:]
		req, err := e.p.store.GetAccessTokenSession(context.Background(), sig, newSession())
		if err != nil {
			t.Fatal(err)
		}
		return req.GetID()
	}
	v7 := func(name, id string) {
		t.Helper()
		u, err := uuid.Parse(id)
		if err != nil || u.Version() != 7 {
			t.Errorf("%s: request ID %q is not a v7 UUID (%v)", name, id, err)
		}
	}

	grant := e.token(t, tokenRequest(e.grantForm(false), "", ""))
	chain := requestID(grant["access_token"].(string))
	v7("WeChat grant", chain)
	refreshed := e.token(t, tokenRequest(url.Values{"grant_type": {GrantTypeRefreshToken}, "client_id": {benchMini},
		"refresh_token": {grant["refresh_token"].(string)}}, "", ""))
	if got := requestID(refreshed["access_token"].(string)); got != chain {
		t.Errorf("refresh: request ID %q, want the chain's %q", got, chain)
	}

	cc := e.token(t, tokenRequest(url.Values{"grant_type": {GrantTypeClientCredentials}}, benchBackend, e.ccSecret))
	v7("client_credentials", requestID(cc["access_token"].(string)))
	if other := requestID(e.token(t, tokenRequest(e.grantForm(false), "", ""))["access_token"].(string)); other == chain {
		t.Error("two grants share a request ID")
	}
}

// A browser sign-in's authorization starts its chain with a v7 ID too, and
// the code's tokens carry it.
func TestAuthorizationRequestID(t *testing.T) {
	e := newAuthzEnv(t)
	tok, _, ar := codeFlowToken(t, e, "hana")
	req, err := e.p.store.GetAccessTokenSession(context.Background(), tok[strings.LastIndexByte(tok, '.')+1:], newSession())
	if err != nil {
		t.Fatal(err)
	}
	if id, err := uuid.Parse(req.GetID()); err != nil || id.Version() != 7 || req.GetID() != ar.ar.GetID() {
		t.Errorf("code exchange: request ID %q (%v), want the authorization's v7 ID %q", req.GetID(), err, ar.ar.GetID())
	}
}
