package web

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/provider"
)

// fakeProvider implements Provider from functions; nil functions fail the
// test that reaches them. The end-to-end tests in cmd/wxoidc/app run the
// real one.
type fakeProvider struct {
	t          *testing.T
	token      func(r *http.Request) (map[string]interface{}, error)
	introspect func(r *http.Request) (map[string]interface{}, error)
	revoke     func(r *http.Request) error
	userInfo   func(token string) (map[string]interface{}, error)
}

var _ Provider = (*fakeProvider)(nil)

func (f *fakeProvider) Token(_ context.Context, r *http.Request) (map[string]interface{}, error) {
	if f.token == nil {
		f.t.Fatal("unexpected Token call")
	}
	return f.token(r)
}

func (f *fakeProvider) Introspect(_ context.Context, r *http.Request) (map[string]interface{}, error) {
	if f.introspect == nil {
		f.t.Fatal("unexpected Introspect call")
	}
	return f.introspect(r)
}

func (f *fakeProvider) Revoke(_ context.Context, r *http.Request) error {
	if f.revoke == nil {
		f.t.Fatal("unexpected Revoke call")
	}
	return f.revoke(r)
}

func (f *fakeProvider) UserInfo(_ context.Context, token string) (map[string]interface{}, error) {
	if f.userInfo == nil {
		f.t.Fatal("unexpected UserInfo call")
	}
	return f.userInfo(token)
}

func (f *fakeProvider) Metadata() provider.Metadata { return testMetadata() }

func testMetadata() provider.Metadata {
	return provider.Metadata{
		Issuer:                       "https://id.example.com",
		GrantTypes:                   []string{provider.GrantTypeWeChat, provider.GrantTypeRefreshToken},
		Scopes:                       []string{provider.ScopeOpenID, provider.ScopePhone},
		Claims:                       []string{"sub", "phone_number"},
		SubjectTypes:                 []string{"public"},
		TokenEndpointAuthMethods:     []string{provider.AuthMethodNone, provider.AuthMethodClientSecretBasic},
		IntrospectionAuthMethods:     []string{provider.AuthMethodClientSecretBasic},
		TokenEndpointAuthSigningAlgs: []string{"RS256", "ES256"},
		RevocationAuthSigningAlgs:    []string{"RS256"},
	}
}

type noKeys struct{}

func (noKeys) JWKS() ([]byte, string) { return []byte(`{"keys":[]}`), `"0"` }
func (noKeys) MaxAge() time.Duration  { return time.Minute }

func fakeHandler(t *testing.T, p *fakeProvider) http.Handler {
	t.Helper()
	p.t = t
	h, err := NewPublicHandler(Config{Provider: p, Keys: noKeys{}})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func postForm(h http.Handler, path string, form url.Values, header http.Header) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		r.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

func decodeBody(t *testing.T, rec *httptest.ResponseRecorder) map[string]interface{} {
	t.Helper()
	var out map[string]interface{}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("body %q: %v", rec.Body, err)
	}
	return out
}

func TestDiscoveryDocumentIsTheProvidersMetadata(t *testing.T) {
	h := fakeHandler(t, &fakeProvider{})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, PathDiscovery, nil))
	doc := decodeBody(t, rec)
	md := testMetadata()
	list := func(k string) []string {
		var out []string
		for _, v := range doc[k].([]interface{}) {
			out = append(out, v.(string))
		}
		return out
	}
	for k, want := range map[string][]string{
		"grant_types_supported":                         md.GrantTypes,
		"scopes_supported":                              md.Scopes,
		"claims_supported":                              md.Claims,
		"token_endpoint_auth_methods_supported":         md.TokenEndpointAuthMethods,
		"introspection_endpoint_auth_methods_supported": md.IntrospectionAuthMethods,
		"revocation_endpoint_auth_methods_supported":    md.TokenEndpointAuthMethods,
		"id_token_signing_alg_values_supported":         {"RS256"},
	} {
		if got := list(k); !slices.Equal(got, want) {
			t.Errorf("%s = %v, want %v", k, got, want)
		}
	}
	if doc["issuer"] != md.Issuer || doc["token_endpoint"] != md.Issuer+PathToken {
		t.Errorf("issuer %v, token endpoint %v", doc["issuer"], doc["token_endpoint"])
	}
}

func TestTokenWritesTheProvidersAnswer(t *testing.T) {
	var answer error
	p := &fakeProvider{token: func(r *http.Request) (map[string]interface{}, error) {
		if r.PostForm.Get("grant_type") != "refresh_token" {
			t.Errorf("the form reached the provider unparsed: %v", r.PostForm)
		}
		if answer != nil {
			return nil, answer
		}
		return map[string]interface{}{"access_token": "at", "token_type": "bearer", "expires_in": 3600}, nil
	}}
	h := fakeHandler(t, p)
	form := url.Values{"grant_type": {"refresh_token"}, "client_id": {"c"}}
	rec := postForm(h, PathToken, form, nil)
	if rec.Code != http.StatusOK || rec.Header().Get("Cache-Control") != "no-store" || rec.Header().Get("Pragma") != "no-cache" ||
		rec.Header().Get("Content-Type") != "application/json;charset=UTF-8" {
		t.Fatalf("success: %d %v", rec.Code, rec.Header())
	}
	if out := decodeBody(t, rec); out["access_token"] != "at" || out["expires_in"] != float64(3600) {
		t.Fatalf("body = %v", out)
	}

	for _, tc := range []struct {
		name       string
		err        error
		header     http.Header
		status     int
		code, desc string
		retry      string
		challenge  bool
	}{
		{"client error", &provider.Error{Status: 400, Code: "invalid_grant", Description: "The code was used.", Cause: "secret detail"}, nil, 400, "invalid_grant", "The code was used.", "", false},
		{"rate limited", &provider.Error{Status: 429, Code: "slow_down", Description: "Slow down.", RetryAfter: 2500 * time.Millisecond}, nil, 429, "slow_down", "Slow down.", "3", false},
		{"unavailable", &provider.Error{Status: 503, Code: "temporarily_unavailable", Description: "Later.", RetryAfter: 5 * time.Second}, nil, 503, "temporarily_unavailable", "Later.", "5", false},
		{"bad client over Basic", &provider.Error{Status: 401, Code: "invalid_client", Description: "No."}, http.Header{"Authorization": {"Basic YzpzZWNyZXQ="}}, 401, "invalid_client", "No.", "", true},
		{"bad client in the body", &provider.Error{Status: 401, Code: "invalid_client", Description: "No."}, nil, 401, "invalid_client", "No.", "", false},
		{"not a provider error", errors.New("boom"), nil, 500, "server_error", "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			answer = tc.err
			rec := postForm(h, PathToken, form, tc.header)
			out := decodeBody(t, rec)
			if rec.Code != tc.status || out["error"] != tc.code || (tc.desc != "" && out["error_description"] != tc.desc) {
				t.Fatalf("%d %v, want %d %s %q", rec.Code, out, tc.status, tc.code, tc.desc)
			}
			if strings.Contains(rec.Body.String(), "secret detail") || strings.Contains(rec.Body.String(), "boom") {
				t.Fatalf("internal detail reached the client: %s", rec.Body)
			}
			if got := rec.Header().Get("Retry-After"); got != tc.retry {
				t.Errorf("Retry-After = %q, want %q", got, tc.retry)
			}
			if got := rec.Header().Get("WWW-Authenticate") != ""; got != tc.challenge {
				t.Errorf("WWW-Authenticate = %q", rec.Header().Get("WWW-Authenticate"))
			}
		})
	}
}

func TestIntrospectAndRevokeCallTheProvider(t *testing.T) {
	p := &fakeProvider{
		introspect: func(r *http.Request) (map[string]interface{}, error) {
			if r.PostForm.Get("token") == "public" {
				return nil, &provider.Error{Status: 401, Code: "invalid_client", Description: "Only confidential clients may introspect tokens."}
			}
			return map[string]interface{}{"active": true}, nil
		},
		revoke: func(*http.Request) error { return nil },
	}
	h := fakeHandler(t, p)
	if rec := postForm(h, PathIntrospect, url.Values{"token": {"t"}}, nil); rec.Code != 200 || decodeBody(t, rec)["active"] != true || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("introspect: %d %s", rec.Code, rec.Body)
	}
	if rec := postForm(h, PathIntrospect, url.Values{"token": {"public"}}, nil); rec.Code != 401 || decodeBody(t, rec)["error"] != "invalid_client" {
		t.Fatalf("introspect by a public client: %d %s", rec.Code, rec.Body)
	}
	if rec := postForm(h, PathRevoke, url.Values{"token": {"t"}}, nil); rec.Code != 200 || rec.Body.Len() != 0 {
		t.Fatalf("revoke: %d %s", rec.Code, rec.Body)
	}
	// Shape errors are answered before the provider is called.
	if rec := postForm(h, PathRevoke, url.Values{}, nil); rec.Code != 400 {
		t.Fatalf("revoke without a token: %d", rec.Code)
	}
}

func TestUserInfoMapsProviderErrors(t *testing.T) {
	answers := map[string]error{
		"scope":  &provider.Error{Status: 403, Code: "insufficient_scope", Description: "No openid."},
		"broken": &provider.Error{Status: 500, Code: "server_error", Description: "Oops."},
		"bad":    &provider.Error{Status: 401, Code: "request_unauthorized", Description: "Expired."},
	}
	h := fakeHandler(t, &fakeProvider{userInfo: func(token string) (map[string]interface{}, error) {
		if err := answers[token]; err != nil {
			return nil, err
		}
		return map[string]interface{}{"sub": "u-" + token}, nil
	}})
	get := func(auth string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, PathUserInfo, nil)
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec
	}
	for _, tc := range []struct {
		auth, challenge string
		status          int
		code            string
	}{
		{"Bearer ok", "", 200, ""},
		{"Bearer scope", `Bearer realm="wxoidc", error="insufficient_scope"`, 403, "insufficient_scope"},
		{"Bearer broken", "", 500, "server_error"},
		{"Bearer bad", `Bearer realm="wxoidc", error="invalid_token"`, 401, "invalid_token"},
		{"", `Bearer realm="wxoidc"`, 401, "invalid_token"},
		{"Bearer", `Bearer realm="wxoidc", error="invalid_token"`, 401, "invalid_token"},
		{"Bearer a b", `Bearer realm="wxoidc", error="invalid_token"`, 401, "invalid_token"},
	} {
		rec := get(tc.auth)
		out := decodeBody(t, rec)
		if rec.Code != tc.status || (tc.code != "" && out["error"] != tc.code) || !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), tc.challenge) {
			t.Errorf("%q: %d %v %q", tc.auth, rec.Code, out, rec.Header().Get("WWW-Authenticate"))
		}
		if tc.challenge == `Bearer realm="wxoidc"` && rec.Header().Get("WWW-Authenticate") != tc.challenge {
			t.Errorf("%q: the challenge without credentials carries an error: %q", tc.auth, rec.Header().Get("WWW-Authenticate"))
		}
		if tc.status == 200 && out["sub"] != "u-ok" {
			t.Errorf("claims = %v", out)
		}
	}
}

// Both ways a Retry-After is sent round the same way: our limits' 429 and
// an error that carries retry advice (an open breaker, WeChat's quota).
func TestRetryAfterIsTheSameOnEveryPath(t *testing.T) {
	const wait = 1500 * time.Millisecond
	rec := httptest.NewRecorder()
	writeSlowDown(rec, wait, "x")
	s := &server{log: slog.New(slog.DiscardHandler)}
	rec2 := httptest.NewRecorder()
	s.writeProviderError(rec2, httptest.NewRequest(http.MethodPost, PathToken, nil), &provider.Error{Status: 503, Code: "temporarily_unavailable", RetryAfter: wait})
	if a, b := rec.Header().Get("Retry-After"), rec2.Header().Get("Retry-After"); a != "2" || b != "2" {
		t.Fatalf("Retry-After = %q (429) and %q (error), want 2 and 2", a, b)
	}
}
