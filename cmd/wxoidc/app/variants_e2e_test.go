package app_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/wxoidc/wxoidc/config"
	"github.com/wxoidc/wxoidc/examples/resource-server/rs"
	"github.com/wxoidc/wxoidc/internal/testharness"
	"github.com/wxoidc/wxoidc/provider"
	"github.com/wxoidc/wxoidc/storage"
)

const assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// jwtClient is a private_key_jwt client's key pair.
type jwtClient struct {
	id  string
	alg jose.SignatureAlgorithm
	key crypto.Signer
	kid string
}

func newJWTClient(t *testing.T, id string, alg jose.SignatureAlgorithm) jwtClient {
	t.Helper()
	var key crypto.Signer
	var err error
	switch alg {
	case jose.ES256:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.RS256:
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		t.Fatalf("unsupported alg %s", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	return jwtClient{id: id, alg: alg, key: key, kid: id + "-key-1"}
}

// publicJWKS is what the client registers.
func (c jwtClient) publicJWKS(t *testing.T) []byte {
	t.Helper()
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: c.key.Public(), KeyID: c.kid, Algorithm: string(c.alg), Use: "sig"}}}
	raw, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// assertion builds an RFC 7523 client assertion.
func (c jwtClient) assertion(t *testing.T, aud, jti string, exp time.Time) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: c.alg, Key: jose.JSONWebKey{Key: c.key, KeyID: c.kid}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	raw, err := josejwt.Signed(signer).Claims(josejwt.Claims{
		Issuer: c.id, Subject: c.id, Audience: josejwt.Audience{aud}, ID: jti,
		Expiry: josejwt.NewNumericDate(exp), IssuedAt: josejwt.NewNumericDate(now),
	}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func (s *stack) createClient(c storage.Client) {
	s.t.Helper()
	if err := provider.ValidateClient(c); err != nil {
		s.t.Fatal(err)
	}
	if err := s.App.Store.CreateClient(context.Background(), c); err != nil {
		s.t.Fatal(err)
	}
}

func TestPrivateKeyJWTClientCredentials(t *testing.T) {
	s, parent := newStack(t), t
	tokenURL := s.URL + "/oauth2/token"
	for _, alg := range []jose.SignatureAlgorithm{jose.ES256, jose.RS256} {
		t.Run(string(alg), func(t *testing.T) {
			s.t = t // the stack's helpers fail this sub-test
			defer func() { s.t = parent }()
			c := newJWTClient(t, "pkjwt-"+strings.ToLower(string(alg)), alg)
			s.createClient(storage.Client{
				ID: c.id, TokenEndpointAuthMethod: provider.AuthMethodPrivateKeyJWT, JWKS: c.publicJWKS(t),
				GrantTypes: []string{provider.GrantTypeClientCredentials}, Audiences: []string{resource}, DefaultAudience: s.URL,
			})
			form := func(assertion string) url.Values {
				return url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {assertionType}, "client_assertion": {assertion}, "audience": {resource}}
			}
			good := c.assertion(t, tokenURL, "jti-"+c.id+"-1", time.Now().Add(time.Minute))
			tr := mustToken(t, s.token(form(good)))
			got := s.introspect(tr.AccessToken)
			if got["active"] != true || got["client_id"] != c.id || got["sub"] != c.id || !testharness.JSONStringsEqual(got["aud"], resource) {
				t.Errorf("introspection = %v", got)
			}
			// The access token verifies at a resource server like any other.
			verifyAccessToken(t, s, resource, tr.AccessToken)

			// Replaying the same assertion (same jti) is refused.
			if r := s.token(form(good)); r.Status != http.StatusUnauthorized || r.Error != "invalid_client" {
				t.Errorf("replayed jti: %d %s %s", r.Status, r.Error, r.Description)
			}
			// Other broken assertions.
			other := newJWTClient(t, c.id, alg)
			bad := map[string]string{
				"wrong key":      other.assertion(t, tokenURL, "jti-"+c.id+"-2", time.Now().Add(time.Minute)),
				"wrong audience": c.assertion(t, s.URL+"/elsewhere", "jti-"+c.id+"-3", time.Now().Add(time.Minute)),
				"expired":        c.assertion(t, tokenURL, "jti-"+c.id+"-4", time.Now().Add(-time.Minute)),
				"not a JWT":      "a.b.c",
				"client secret jwt": func() string {
					h := jose.SigningKey{Algorithm: jose.HS256, Key: []byte(strings.Repeat("k", 32))}
					signer, _ := jose.NewSigner(h, nil)
					raw, _ := josejwt.Signed(signer).Claims(josejwt.Claims{Issuer: c.id, Subject: c.id, Audience: josejwt.Audience{tokenURL}, ID: "jti-hs", Expiry: josejwt.NewNumericDate(time.Now().Add(time.Minute))}).Serialize()
					return raw
				}(),
			}
			for name, a := range bad {
				if r := s.token(form(a)); r.Status != http.StatusUnauthorized || r.Error != "invalid_client" {
					t.Errorf("%s: %d %s %s", name, r.Status, r.Error, r.Description)
				}
			}
			// A client_secret is no substitute for the registered method.
			r := s.token(url.Values{"grant_type": {"client_credentials"}, "client_id": {c.id}, "client_secret": {"whatever"}})
			if r.Status != http.StatusUnauthorized || r.Error != "invalid_client" {
				t.Errorf("secret for a private_key_jwt client: %d %s", r.Status, r.Error)
			}
		})
	}
}

// verifyAccessToken checks an RFC 9068 token with a stock library the way
// a resource server does.
func verifyAccessToken(t *testing.T, s *stack, aud, token string) map[string]interface{} {
	t.Helper()
	ctx, p := s.discover()
	tok, err := p.Verifier(&oidc.Config{ClientID: aud, SupportedSigningAlgs: []string{oidc.RS256, oidc.ES256, oidc.EdDSA}}).Verify(ctx, token)
	if err != nil {
		t.Fatalf("access token rejected: %v", err)
	}
	var c map[string]interface{}
	if err := tok.Claims(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestOpaqueAccessTokens(t *testing.T) {
	s := newStack(t, func(c *config.Config) { c.Tokens.AccessTokenFormat = "opaque" })
	ph := s.phone(appA, "opal", "+8613811112222")
	tr := mustToken(t, s.token(wechatForm(miniA, s.login(appA, "opal"), "phone_code", ph.Code, "scope", "openid phone offline_access", "audience", resource)))
	if strings.Count(tr.AccessToken, ".") == 2 {
		if _, err := josejwt.ParseSigned(tr.AccessToken, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA}); err == nil {
			t.Fatalf("opaque format issued a JWT: %s", tr.AccessToken)
		}
	}
	// The ID token is still a JWT, and at_hash covers the opaque token.
	c := s.verifyID(miniA, tr)
	got := s.introspect(tr.AccessToken)
	if got["active"] != true || got["sub"] != c.Subject || got["client_id"] != miniA || got["scope"] != "openid phone offline_access" || !testharness.JSONStringsEqual(got["aud"], resource) {
		t.Errorf("introspection = %v", got)
	}
	// UserInfo works with the opaque token.
	ui, uc := s.userInfo(tr.AccessToken)
	if ui.Subject != c.Subject || uc.PhoneNumber != "+8613811112222" {
		t.Errorf("userinfo = %+v", uc)
	}
	// Refresh rotates, and the old opaque access token dies with the chain.
	next, err := refresh(s, miniA, tr.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if s.introspect(next.AccessToken)["active"] != true || s.introspect(tr.AccessToken)["active"] != false {
		t.Error("refresh did not rotate the opaque access token")
	}
	// A tampered opaque token is inactive, not an error.
	if s.introspect(next.AccessToken + "x")["active"] != false {
		t.Error("tampered opaque token is active")
	}
	// Revocation of the access token (RFC 7009 with a token_type_hint).
	resp, body := s.postForm("/oauth2/revoke", url.Values{"token": {next.AccessToken}, "client_id": {miniA}, "token_type_hint": {"access_token"}}, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d %s", resp.StatusCode, body)
	}
	if s.introspect(next.AccessToken)["active"] != false {
		t.Error("revoked opaque access token is still active")
	}
}

// signingAlg returns a JWS's header alg and kid.
func jwsHeader(t *testing.T, token string) (alg, kid, typ string) {
	t.Helper()
	var h map[string]interface{}
	decodeSegment(t, strings.SplitN(token, ".", 2)[0], &h)
	alg, _ = h["alg"].(string)
	kid, _ = h["kid"].(string)
	typ, _ = h["typ"].(string)
	return alg, kid, typ
}

func TestIDTokenAlgorithmsPerClient(t *testing.T) {
	s, parent := newStack(t), t
	for _, alg := range []string{"ES256", "EdDSA", "RS256"} {
		t.Run(alg, func(t *testing.T) {
			s.t = t // the stack's helpers fail this sub-test
			defer func() { s.t = parent }()
			id := "mini-" + strings.ToLower(alg)
			s.createClient(storage.Client{
				ID: id, TokenEndpointAuthMethod: provider.AuthMethodNone, WeChatAppID: appA,
				GrantTypes: []string{grantType, provider.GrantTypeRefreshToken}, Scopes: []string{"openid", "phone", "offline_access"},
				DefaultAudience: s.URL, IDTokenSignedResponseAlg: alg,
			})
			ph := s.phone(appA, "algo-"+alg, "+8613822223333")
			tr := mustToken(t, s.token(wechatForm(id, s.login(appA, "algo-"+alg), "phone_code", ph.Code, "scope", "openid phone offline_access", "nonce", "nonce-"+alg)))
			first := verifyIDWithAlg(t, s, id, alg, tr.IDToken, tr.AccessToken)
			if first.PhoneNumber != "+8613822223333" || first.Nonce != "nonce-"+alg {
				t.Errorf("claims = %+v", first)
			}
			// After a refresh: a new ID token, same alg, at_hash of the new access token.
			next, err := refresh(s, id, tr.RefreshToken)
			if err != nil {
				t.Fatal(err)
			}
			idt, _ := next.Extra("id_token").(string)
			second := verifyIDWithAlg(t, s, id, alg, idt, next.AccessToken)
			if second.Subject != first.Subject || second.PhoneNumber != first.PhoneNumber {
				t.Errorf("refreshed claims = %+v, first %+v", second, first)
			}
			// A verifier that only accepts another algorithm refuses it: the
			// algorithm really is the client's.
			other := "RS256"
			if alg == "RS256" {
				other = "ES256"
			}
			ctx, p := s.discover()
			if _, err := p.Verifier(&oidc.Config{ClientID: id, SupportedSigningAlgs: []string{other}}).Verify(ctx, tr.IDToken); err == nil {
				t.Errorf("an %s-only verifier accepted an %s ID token", other, alg)
			}
		})
	}
}

func verifyIDWithAlg(t *testing.T, s *stack, clientID, alg, idToken, accessToken string) idClaims {
	t.Helper()
	if got, kid, _ := jwsHeader(t, idToken); got != alg || kid == "" {
		t.Fatalf("ID token header alg=%q kid=%q, want alg %s", got, kid, alg)
	}
	ctx, p := s.discover()
	tok, err := p.Verifier(&oidc.Config{ClientID: clientID, SupportedSigningAlgs: []string{alg}}).Verify(ctx, idToken)
	if err != nil {
		t.Fatalf("go-oidc rejected the %s ID token: %v", alg, err)
	}
	if err := tok.VerifyAccessToken(accessToken); err != nil {
		t.Fatalf("%s at_hash: %v", alg, err)
	}
	var c idClaims
	if err := tok.Claims(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

func getJWKS(t *testing.T, s *stack, inm string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/.well-known/jwks.json", nil)
	if inm != "" {
		req.Header.Set("If-None-Match", inm)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

func TestJWKSCachingAndContents(t *testing.T) {
	s := newStack(t, func(c *config.Config) {
		c.Keys.ReloadInterval = config.D(30 * time.Second)
		c.Keys.JWKSMaxAge = config.D(20 * time.Second)
	})
	resp, body := getJWKS(t, s, "")
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != http.StatusOK || etag == "" || !strings.HasPrefix(etag, `"`) {
		t.Fatalf("JWKS: %d ETag %q", resp.StatusCode, etag)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/jwk-set+json") && !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q", ct)
	}
	if maxAge := maxAgeOf(resp.Header.Get("Cache-Control")); maxAge <= 0 || maxAge > 30 {
		t.Errorf("Cache-Control = %q: want a max-age within the reload interval (30 s)", resp.Header.Get("Cache-Control"))
	}
	var set struct {
		Keys []map[string]interface{} `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatal(err)
	}
	algs := map[string]bool{}
	kids := map[string]bool{}
	for _, k := range set.Keys {
		alg, _ := k["alg"].(string)
		kid, _ := k["kid"].(string)
		algs[alg] = true
		kids[kid] = true
		if kid == "" || k["use"] != "sig" || k["kty"] == nil {
			t.Errorf("key %v lacks kid/use/kty", k)
		}
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
			if _, ok := k[private]; ok {
				t.Fatalf("JWKS publishes private member %q", private)
			}
		}
	}
	for _, a := range []string{"RS256", "ES256", "EdDSA"} {
		if !algs[a] {
			t.Errorf("JWKS has no %s key: %v", a, algs)
		}
	}
	// Every JWT we issue names a published key.
	tr := mustToken(t, s.token(wechatForm(miniA, s.login(appA, "jwks-user"), "scope", "openid")))
	for _, tok := range []string{tr.AccessToken, tr.IDToken} {
		if _, kid, _ := jwsHeader(t, tok); !kids[kid] {
			t.Errorf("token kid %q is not in the JWKS", kid)
		}
	}

	// Conditional requests.
	for _, inm := range []string{etag, `"other", ` + etag, "*"} {
		r, b := getJWKS(t, s, inm)
		if r.StatusCode != http.StatusNotModified || len(b) != 0 || r.Header.Get("ETag") != etag {
			t.Errorf("If-None-Match %s: %d, %d bytes, ETag %q", inm, r.StatusCode, len(b), r.Header.Get("ETag"))
		}
		if maxAgeOf(r.Header.Get("Cache-Control")) <= 0 {
			t.Errorf("304 without max-age: %q", r.Header.Get("Cache-Control"))
		}
	}
	if r, _ := getJWKS(t, s, `"stale"`); r.StatusCode != http.StatusOK {
		t.Errorf("stale ETag: %d", r.StatusCode)
	}
	// A rotation publishes a new set under a new ETag; the old one no
	// longer matches.
	if _, err := s.App.Keys.Rotate(context.Background(), "ES256", true); err != nil {
		t.Fatal(err)
	}
	r, b := getJWKS(t, s, etag)
	if r.StatusCode != http.StatusOK || r.Header.Get("ETag") == etag || string(b) == string(body) {
		t.Errorf("after rotation: %d, ETag %q (was %q)", r.StatusCode, r.Header.Get("ETag"), etag)
	}
}

func maxAgeOf(cc string) int {
	for _, d := range strings.Split(cc, ",") {
		d = strings.TrimSpace(d)
		if v, ok := strings.CutPrefix(d, "max-age="); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}

func TestDiscoveryDocument(t *testing.T) {
	s := newStack(t)
	resp, err := s.client.Get(s.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("discovery: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var d map[string]interface{}
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		t.Fatal(err)
	}
	wantURL := map[string]string{
		"issuer":                 s.URL,
		"token_endpoint":         s.URL + "/oauth2/token",
		"jwks_uri":               s.URL + "/.well-known/jwks.json",
		"userinfo_endpoint":      s.URL + "/userinfo",
		"introspection_endpoint": s.URL + "/oauth2/introspect",
		"revocation_endpoint":    s.URL + "/oauth2/revoke",
	}
	for k, v := range wantURL {
		if d[k] != v {
			t.Errorf("%s = %v, want %s", k, d[k], v)
		}
	}
	wantLists := map[string][]string{
		"grant_types_supported":                         {provider.GrantTypeWeChat, "refresh_token", "client_credentials"},
		"id_token_signing_alg_values_supported":         {"RS256", "ES256", "EdDSA"},
		"scopes_supported":                              {"openid", "phone", "wechat", "offline_access"},
		"claims_supported":                              {"sub", "iss", "aud", "exp", "iat", "auth_time", "amr", "nonce", "azp", "phone_number", "phone_number_verified", "wechat_appid", "wechat_openid", "wechat_unionid"},
		"token_endpoint_auth_methods_supported":         {"none", "client_secret_basic", "client_secret_post", "private_key_jwt"},
		"introspection_endpoint_auth_methods_supported": {"client_secret_basic", "client_secret_post", "private_key_jwt"},
		"subject_types_supported":                       {"public"},
	}
	for k, want := range wantLists {
		got := map[string]bool{}
		list, _ := d[k].([]interface{})
		for _, v := range list {
			got[v.(string)] = true
		}
		for _, w := range want {
			if !got[w] {
				t.Errorf("%s lacks %q: %v", k, w, d[k])
			}
		}
	}
	if list, _ := d["id_token_signing_alg_values_supported"].([]interface{}); len(list) == 0 || list[0] != "RS256" {
		t.Errorf("RS256 should come first (OIDC default): %v", list)
	}
	// Stock libraries accept it.
	_, p := s.discover()
	if p.Endpoint().TokenURL != s.URL+"/oauth2/token" || p.UserInfoEndpoint() != s.URL+"/userinfo" {
		t.Errorf("go-oidc endpoints: %+v %s", p.Endpoint(), p.UserInfoEndpoint())
	}
}

// The example resource server (examples/resource-server) accepts our JWT
// access tokens through discovery and JWKS with a stock library, and
// refuses what it should.
func TestExampleResourceServer(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	v, err := rs.NewVerifier(ctx, rs.Config{Issuer: s.URL, Audience: resource, HTTPClient: s.client})
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(rs.NewAPI(v, "openid"))
	defer api.Close()
	call := func(token string) (int, map[string]interface{}, http.Header) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, api.URL+"/api/me", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := api.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]interface{}
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out, resp.Header
	}

	tr := mustToken(t, s.token(wechatForm(miniA, s.login(appA, "rs-user"), "scope", "openid phone", "audience", resource)))
	sub := s.verifyID(miniA, tr).Subject
	if code, out, _ := call(tr.AccessToken); code != http.StatusOK || out["sub"] != sub || out["client_id"] != miniA || out["scope"] != "openid phone" {
		t.Fatalf("valid token: %d %v", code, out)
	}
	if code, _, h := call(""); code != http.StatusUnauthorized || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("no token: %d", code)
	}
	// Another audience (the client's default, the issuer): refused.
	def := mustToken(t, s.token(wechatForm(miniA, s.login(appA, "rs-user"), "scope", "openid")))
	if code, _, _ := call(def.AccessToken); code != http.StatusUnauthorized {
		t.Errorf("token for another audience: %d", code)
	}
	// Missing scope: 403 insufficient_scope.
	noOpenID := mustToken(t, s.token(wechatForm(miniA, s.login(appA, "rs-user"), "scope", "phone", "audience", resource)))
	if code, out, h := call(noOpenID.AccessToken); code != http.StatusForbidden || out["error"] != "insufficient_scope" || !strings.Contains(h.Get("WWW-Authenticate"), "insufficient_scope") {
		t.Errorf("token without openid: %d %v", code, out)
	}
	// Tampered signature.
	if code, _, _ := call(tr.AccessToken[:len(tr.AccessToken)-4] + "AAAA"); code != http.StatusUnauthorized {
		t.Errorf("tampered token: %d", code)
	}
	// A service token (client credentials) works too.
	resp, body := s.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "audience": {resource}}, basicAuth(backend, backendPw))
	var svc tokenResponse
	if err := json.Unmarshal(body, &svc); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("client credentials: %d %s", resp.StatusCode, body)
	}
	svcAPI := httptest.NewServer(rs.NewAPI(v, ""))
	defer svcAPI.Close()
	req, _ := http.NewRequest(http.MethodGet, svcAPI.URL+"/api/me", nil)
	req.Header.Set("Authorization", "Bearer "+svc.AccessToken)
	if r, err := svcAPI.Client().Do(req); err != nil || r.StatusCode != http.StatusOK {
		t.Errorf("service token: %v %v", r, err)
	} else {
		r.Body.Close()
	}

	// An ID token is not an access token, even where its audience matches:
	// the typ check (RFC 9068 §4) refuses it.
	asClient, err := rs.NewVerifier(ctx, rs.Config{Issuer: s.URL, Audience: miniA, HTTPClient: s.client})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := asClient.Verify(ctx, tr.IDToken); !errors.Is(err, rs.ErrNotAccess) {
		t.Errorf("ID token as access token: %v", err)
	}

	// After a key rotation, new tokens carry a new kid and still verify
	// (go-oidc refetches the JWKS on an unknown kid).
	_, oldKid, _ := jwsHeader(t, tr.AccessToken)
	if _, err := s.App.Keys.Rotate(ctx, "ES256", true); err != nil {
		t.Fatal(err)
	}
	rotated := mustToken(t, s.token(wechatForm(miniA, s.login(appA, "rs-user"), "scope", "openid", "audience", resource)))
	if _, kid, _ := jwsHeader(t, rotated.AccessToken); kid == oldKid {
		t.Fatalf("rotation did not change the access-token kid (%s)", kid)
	}
	if code, _, _ := call(rotated.AccessToken); code != http.StatusOK {
		t.Errorf("token after rotation: %d", code)
	}
	if code, _, _ := call(tr.AccessToken); code != http.StatusOK {
		t.Errorf("token signed by the retired key: %d", code)
	}
}
