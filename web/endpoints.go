package web

import (
	"errors"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wxoidc/wxoidc/provider"
)

// discoveryDocument is OpenID Connect Discovery 1.0 metadata plus RFC 8414
// fields for introspection and revocation: what the provider supports, at
// this server's endpoints. Without browser sign-in configured there is no
// authorization endpoint, and no response types are listed.
func discoveryDocument(md provider.Metadata, algs []string) map[string]interface{} {
	algs = provider.IDTokenSigningAlgs(algs)
	issuer := md.Issuer
	return map[string]interface{}{
		"issuer":                                                issuer,
		"token_endpoint":                                        issuer + PathToken,
		"jwks_uri":                                              issuer + PathJWKS,
		"userinfo_endpoint":                                     issuer + PathUserInfo,
		"introspection_endpoint":                                issuer + PathIntrospect,
		"revocation_endpoint":                                   issuer + PathRevoke,
		"grant_types_supported":                                 md.GrantTypes,
		"response_types_supported":                              []string{},
		"scopes_supported":                                      md.Scopes,
		"claims_supported":                                      md.Claims,
		"subject_types_supported":                               md.SubjectTypes,
		"id_token_signing_alg_values_supported":                 algs,
		"token_endpoint_auth_methods_supported":                 md.TokenEndpointAuthMethods,
		"token_endpoint_auth_signing_alg_values_supported":      md.TokenEndpointAuthSigningAlgs,
		"introspection_endpoint_auth_methods_supported":         md.IntrospectionAuthMethods,
		"revocation_endpoint_auth_methods_supported":            md.TokenEndpointAuthMethods,
		"revocation_endpoint_auth_signing_alg_values_supported": md.RevocationAuthSigningAlgs,
		"claims_parameter_supported":                            false,
		"request_parameter_supported":                           false,
		"request_uri_parameter_supported":                       false,
	}
}

// addBrowserDiscovery adds what browser sign-in serves (docs/contract.md
// §1.5): the authorization and end-session endpoints, the code flow with
// PKCE S256 only, and RFC 9207's iss in authorization responses.
func addBrowserDiscovery(doc map[string]interface{}, issuer string) {
	doc["authorization_endpoint"] = issuer + PathAuthorize
	doc["end_session_endpoint"] = issuer + PathLogout
	doc["response_types_supported"] = []string{"code"}
	doc["response_modes_supported"] = []string{"query"}
	doc["code_challenge_methods_supported"] = []string{"S256"}
	doc["authorization_response_iss_parameter_supported"] = true
	doc["ui_locales_supported"] = []string{"zh-CN", "en"}
	doc["prompt_values_supported"] = []string{"none", "login", "consent"}
	// OIDC Back-Channel Logout 1.0 §2.1: ending a login session sends
	// Logout Tokens, which always carry sid (provider/backchannel.go).
	doc["backchannel_logout_supported"] = true
	doc["backchannel_logout_session_supported"] = true
}

func (s *server) handleDiscovery(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age=3600")
	h.Set("Access-Control-Allow-Origin", "*")
	_, _ = w.Write(s.discovery)
}

func (s *server) handleJWKS(w http.ResponseWriter, r *http.Request) {
	body, etag := s.cfg.Keys.JWKS()
	h := w.Header()
	h.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(s.cfg.Keys.MaxAge()/time.Second))+", must-revalidate")
	h.Set("ETag", etag)
	h.Set("Access-Control-Allow-Origin", "*")
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatches(inm, etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "application/jwk-set+json")
	_, _ = w.Write(body)
}

func etagMatches(header, etag string) bool {
	for _, v := range strings.Split(header, ",") {
		v = strings.TrimSpace(v)
		if v == etag || v == "*" {
			return true
		}
	}
	return false
}

// Parameters that RFC 6749 and its extensions allow more than once.
var repeatable = map[string]bool{"audience": true, "resource": true}

// maxParams bounds how many distinct parameters a request may carry.
const maxParams = 32

// parseOAuthForm enforces the edge rules every OAuth endpoint shares: POST,
// form-encoded, bounded body, no repeated parameters (RFC 6749 §3.1), valid
// UTF-8. It returns a description for invalid_request, or "".
func (s *server) parseOAuthForm(w http.ResponseWriter, r *http.Request) (status int, description string) {
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "application/x-www-form-urlencoded" {
		return http.StatusBadRequest, "The request body must be application/x-www-form-urlencoded."
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	if err := r.ParseForm(); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return http.StatusRequestEntityTooLarge, "The request body is too large."
		}
		return http.StatusBadRequest, "The request body is not a valid form."
	}
	if len(r.PostForm) > maxParams {
		return http.StatusBadRequest, "Too many parameters."
	}
	for k, vs := range r.PostForm {
		if !utf8.ValidString(k) {
			return http.StatusBadRequest, "Parameter names must be valid UTF-8."
		}
		if len(vs) > 1 && !repeatable[k] {
			return http.StatusBadRequest, "Parameter '" + k + "' must not be repeated."
		}
		if len(vs) > maxParams {
			return http.StatusBadRequest, "Parameter '" + k + "' is repeated too often."
		}
		for _, v := range vs {
			if !utf8.ValidString(v) {
				return http.StatusBadRequest, "Parameter '" + k + "' is not valid UTF-8."
			}
		}
	}
	// Credentials belong in the body or the Authorization header, never the URL.
	q := r.URL.Query()
	for _, k := range []string{"client_secret", "code", "refresh_token", "token", "phone_code", "encrypted_data"} {
		if q.Has(k) {
			return http.StatusBadRequest, "Parameter '" + k + "' must be sent in the request body, not the URL."
		}
	}
	return 0, ""
}

func (s *server) handleToken(w http.ResponseWriter, r *http.Request) {
	if !s.allowTokenIP(w, r) {
		return
	}
	if !s.readClientForm(w, r) {
		return
	}
	ctx := provider.WithClientLimit(r.Context(), s.clientLimit(r, clientIP(r, s.cfg.TrustedProxies)))
	out, err := s.cfg.Provider.Token(ctx, r)
	s.writeProviderAnswer(w, r, out, err)
}

func (s *server) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	if !s.readClientForm(w, r) {
		return
	}
	out, err := s.cfg.Provider.Introspect(r.Context(), r)
	s.writeProviderAnswer(w, r, out, err)
}

// readClientForm reads the form of a request a client authenticates
// (token, introspection, revocation): the edge rules of parseOAuthForm, and
// an Authorization header that, if it claims Basic, parses. It answers the
// request itself and returns false when either fails.
func (s *server) readClientForm(w http.ResponseWriter, r *http.Request) bool {
	if !s.readOAuthForm(w, r) {
		return false
	}
	if malformedBasicAuth(r) {
		writeMalformedBasicAuth(w)
		return false
	}
	return true
}

// readOAuthForm is parseOAuthForm answering invalid_request itself; it
// returns whether the form is good.
func (s *server) readOAuthForm(w http.ResponseWriter, r *http.Request) bool {
	if status, desc := s.parseOAuthForm(w, r); status != 0 {
		writeOAuthError(w, status, "invalid_request", desc)
		return false
	}
	return true
}

// writeProviderAnswer answers with the provider's result out (uncacheable
// JSON), or with its error.
func (s *server) writeProviderAnswer(w http.ResponseWriter, r *http.Request, out any, err error) {
	if err != nil {
		s.writeProviderError(w, r, err)
		return
	}
	writeNoStoreJSON(w, out)
}

func (s *server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	if !s.readClientForm(w, r) {
		return
	}
	ctx := r.Context()
	if r.PostForm.Get("token") == "" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "The 'token' parameter is required.")
		return
	}
	if err := s.cfg.Provider.Revoke(ctx, r); err != nil {
		// The provider already answers success for unknown or inactive
		// tokens (RFC 7009 §2.2); what remains are client errors.
		s.writeProviderError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

func (s *server) handleUserInfo(w http.ResponseWriter, r *http.Request) {
	token, sent := bearerToken(r)
	// RFC 6750 §2.2 form-encoded body parameter. A POST with a bearer header
	// may carry any body, unless it is a form that repeats the token.
	if r.Method == http.MethodPost && hasBody(r) && (!sent || isForm(r)) {
		if !s.readOAuthForm(w, r) {
			return
		}
		if v, inBody := r.PostForm["access_token"]; inBody {
			if sent {
				// RFC 6750 §2: one method per request.
				writeOAuthError(w, http.StatusBadRequest, "invalid_request", "Send the access token either in the Authorization header or in the body, not both.")
				return
			}
			token, sent = v[0], true
		}
	}
	switch {
	case !sent:
		writeBearerError(w, http.StatusUnauthorized, "", "")
		return
	case token == "":
		writeBearerError(w, http.StatusUnauthorized, "invalid_token", "The access token is empty or malformed.")
		return
	}
	claims, err := s.cfg.Provider.UserInfo(r.Context(), token)
	if err != nil {
		perr := provider.ErrorOf(err)
		switch {
		case perr.Code == "insufficient_scope":
			writeBearerError(w, http.StatusForbidden, "insufficient_scope", "The access token lacks the openid scope.")
		case perr.Status >= 500:
			s.writeProviderError(w, r, err)
		default:
			writeBearerError(w, http.StatusUnauthorized, "invalid_token", "The access token is invalid, expired or revoked.")
		}
		return
	}
	writeNoStoreJSON(w, claims)
}

func hasBody(r *http.Request) bool {
	return r.ContentLength != 0 || r.Header.Get("Content-Type") != ""
}

func isForm(r *http.Request) bool {
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && ct == "application/x-www-form-urlencoded"
}

// malformedBasicAuth reports an Authorization header that claims HTTP Basic
// client authentication but does not parse. The provider's client
// authentication would ignore it and fall back to the body's client_id,
// silently authenticating a public client.
func malformedBasicAuth(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	if len(h) < 6 || !strings.EqualFold(h[:6], "basic ") {
		return false
	}
	_, _, ok := r.BasicAuth()
	return !ok
}

// writeMalformedBasicAuth answers RFC 6749 §5.2 for a broken Basic header.
func writeMalformedBasicAuth(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Basic realm="wxoidc"`)
	writeOAuthError(w, http.StatusUnauthorized, "invalid_client", "The Authorization header is not valid HTTP Basic authentication.")
}
