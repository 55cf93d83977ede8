package provider

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/ory/fosite"

	"github.com/wxoidc/wxoidc/keys"
)

// grantTypes is what discovery advertises and what Token lets through to
// fosite: it must name exactly the grants the handler chain serves.
func TestGrantTypesAreTheHandlerChain(t *testing.T) {
	e := newBenchEnv(t, "NORMAL", keys.ES256)
	ctx := context.Background()
	handlers := e.p.oauth.Config.GetTokenEndpointHandlers(ctx)
	handled := func(gt string) bool {
		req := fosite.NewAccessRequest(newSession())
		req.GrantTypes = fosite.Arguments{gt}
		for _, h := range handlers {
			if h.CanHandleTokenEndpointRequest(ctx, req) {
				return true
			}
		}
		return false
	}
	for _, gt := range grantTypes {
		if !handled(gt) {
			t.Errorf("grant %q is listed but no handler serves it", gt)
		}
	}
	for _, gt := range []string{"password", "implicit", "urn:ietf:params:oauth:grant-type:jwt-bearer", "urn:ietf:params:oauth:grant-type:device_code", "urn:ietf:params:oauth:grant-type:token-exchange"} {
		if handled(gt) {
			t.Errorf("grant %q is served but not listed", gt)
		}
	}
	if md := e.p.Metadata(); !slices.Equal(md.GrantTypes, grantTypes) || md.Issuer != benchIssuer {
		t.Errorf("metadata = %+v", md)
	}
}

func TestTokenAnswersMissingAndUnknownGrantTypes(t *testing.T) {
	e := newBenchEnv(t, "NORMAL", keys.ES256)
	for _, tc := range []struct {
		form url.Values
		code string
	}{
		{url.Values{"client_id": {benchMini}}, "invalid_request"},
		{url.Values{"grant_type": {"password"}, "client_id": {benchMini}}, "unsupported_grant_type"},
		{url.Values{"grant_type": {"authorization_code"}, "client_id": {benchMini}}, "unauthorized_client"},
		{url.Values{"grant_type": {"client_credentials refresh_token"}}, "unsupported_grant_type"},
	} {
		_, err := e.p.Token(context.Background(), tokenRequest(tc.form, benchBackend, e.ccSecret))
		if got := ErrorOf(err); got.Status != http.StatusBadRequest || got.Code != tc.code {
			t.Errorf("%v: %+v, want 400 %s", tc.form, got, tc.code)
		}
	}
}

// Only confidential clients may introspect (RFC 7662 §2.1 leaves the policy
// to the server).
func TestIntrospectOnlyForConfidentialClients(t *testing.T) {
	e := newBenchEnv(t, "NORMAL", keys.ES256)
	ctx := context.Background()
	at, _ := e.token(t, tokenRequest(e.grantForm(false), "", ""))["access_token"].(string)
	introspect := func(form url.Values, user, pass string) (map[string]interface{}, *Error) {
		r, _ := http.NewRequest(http.MethodPost, benchIssuer+"/oauth2/introspect", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if user != "" {
			r.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
		}
		out, err := e.p.Introspect(ctx, r)
		if err != nil {
			return nil, ErrorOf(err)
		}
		return out, nil
	}
	if out, err := introspect(url.Values{"token": {at}}, benchBackend, e.ccSecret); err != nil || out["active"] != true || out["client_id"] != benchMini {
		t.Fatalf("confidential client: %v %+v", out, err)
	}
	if _, err := introspect(url.Values{"token": {at}, "client_id": {benchMini}}, "", ""); err == nil || err.Status != http.StatusUnauthorized || err.Code != "invalid_client" {
		t.Fatalf("public client: %+v, want 401 invalid_client", err)
	}
	if _, err := introspect(url.Values{"token": {at}}, benchBackend, "wrong"); err == nil || err.Code != "invalid_client" {
		t.Fatalf("wrong secret: %+v, want invalid_client", err)
	}
	if _, err := introspect(url.Values{}, benchBackend, e.ccSecret); err == nil || err.Status != http.StatusBadRequest || err.Code != "invalid_request" {
		t.Fatalf("no token: %+v, want 400 invalid_request", err)
	}
	if out, err := introspect(url.Values{"token": {"garbage"}}, benchBackend, e.ccSecret); err != nil || out["active"] != false {
		t.Fatalf("unknown token: %v %+v, want inactive", out, err)
	}
}

func TestErrorOf(t *testing.T) {
	own := &Error{Status: 401, Code: "invalid_client", Description: "d"}
	if ErrorOf(own) != own {
		t.Error("an *Error was not returned as is")
	}
	got := ErrorOf(fosite.ErrInvalidGrant.WithHint("The code was used.").WithDebug("row 7"))
	if got.Status != 400 || got.Code != "invalid_grant" || !strings.HasSuffix(got.Description, " The code was used.") || got.Cause != "row 7" || got.RetryAfter != 0 {
		t.Errorf("fosite error: %+v", got)
	}
	got = ErrorOf(retryLater(errSlowDown.WithHint("Slow down."), 3e9))
	if got.Status != http.StatusTooManyRequests || got.Code != "slow_down" || got.RetryAfter != 3e9 {
		t.Errorf("retry advice: %+v", got)
	}
	if got := ErrorOf(context.Canceled); got.Status != http.StatusInternalServerError || got.Code != "server_error" {
		t.Errorf("a plain error: %+v, want 500 server_error", got)
	}
}
