package provider

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/ory/fosite"

	"github.com/wxoidc/wxoidc/keys"
	"github.com/wxoidc/wxoidc/storage"
)

// storedRequestID returns the request ID stored with a JWT access token.
func storedRequestID(t *testing.T, e *benchEnv, accessToken string) string {
	t.Helper()
	sig := accessToken[strings.LastIndexByte(accessToken, '.')+1:]
	req, err := e.p.store.GetAccessTokenSession(context.Background(), sig, newSession())
	if err != nil {
		t.Fatal(err)
	}
	return req.GetID()
}

func isV7(id string) bool {
	u, err := uuid.Parse(id)
	return err == nil && u.Version() == 7
}

// Every grant that starts a token chain names it with a time-ordered (v7)
// request ID, which keeps the request index's inserts at the end of its
// B-tree; refresh and code exchange keep the ID of what they continue.
func TestBeforeIssueRequestIDs(t *testing.T) {
	e := newBenchEnv(t, "NORMAL", keys.ES256)
	for _, tc := range []struct {
		grant   string
		newerID bool
	}{
		{GrantTypeWeChat, true},
		{GrantTypeWeChatApp, true},
		{GrantTypeClientCredentials, true},
		{GrantTypeAuthorizationCode, false},
	} {
		req := fosite.NewAccessRequest(newSession())
		req.GrantTypes = fosite.Arguments{tc.grant}
		req.Client = &fositeClient{Client: storage.Client{ID: "client-" + tc.grant}}
		req.SetID("the-authorization's-id")
		if err := e.p.beforeIssue(context.Background(), req); err != nil {
			t.Fatalf("%s: %v", tc.grant, err)
		}
		if got := isV7(req.GetID()); got != tc.newerID {
			t.Errorf("%s: request ID %q; want a new v7 ID: %v", tc.grant, req.GetID(), tc.newerID)
		}
	}
}

// End to end: the WeChat grant's and client_credentials' tokens carry v7
// IDs, and a refresh continues the chain under the same ID.
func TestGrantRequestIDs(t *testing.T) {
	e := newBenchEnv(t, "NORMAL", keys.ES256)
	grant := e.token(t, tokenRequest(e.grantForm(false), "", ""))
	chain := storedRequestID(t, e, grant["access_token"].(string))
	if !isV7(chain) {
		t.Errorf("WeChat grant: request ID %q is not a v7 UUID", chain)
	}
	refreshed := e.token(t, tokenRequest(url.Values{"grant_type": {GrantTypeRefreshToken}, "client_id": {benchMini},
		"refresh_token": {grant["refresh_token"].(string)}}, "", ""))
	if got := storedRequestID(t, e, refreshed["access_token"].(string)); got != chain {
		t.Errorf("refresh: request ID %q, want the chain's %q", got, chain)
	}

	cc := e.token(t, tokenRequest(url.Values{"grant_type": {GrantTypeClientCredentials}}, benchBackend, e.ccSecret))
	if id := storedRequestID(t, e, cc["access_token"].(string)); !isV7(id) {
		t.Errorf("client_credentials: request ID %q is not a v7 UUID", id)
	}
	if other := storedRequestID(t, e, e.token(t, tokenRequest(e.grantForm(false), "", ""))["access_token"].(string)); other == chain {
		t.Error("two grants share a request ID")
	}
}

// A browser sign-in's authorization starts its chain with a v7 ID too, and
// the code's tokens carry it.
func TestAuthorizationRequestID(t *testing.T) {
	e := newAuthzEnv(t)
	tok, _, ar := codeFlowToken(t, e, "hana")
	if id := storedRequestID(t, e, tok); !isV7(id) || id != ar.ar.GetID() {
		t.Errorf("code exchange: request ID %q, want the authorization's v7 ID %q", id, ar.ar.GetID())
	}
}
