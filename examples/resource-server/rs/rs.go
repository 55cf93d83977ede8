// Package rs is an example resource server: an API that trusts wxoidc access
// tokens without ever calling wxoidc per request. It verifies RFC 9068 JWT
// access tokens with a stock library (github.com/coreos/go-oidc/v3) through
// discovery and the JWKS, then checks what go-oidc leaves to the caller: the
// `typ: at+jwt` header (so an ID token cannot pose as an access token) and
// the `scope` claim.
//
// Deployments using opaque access tokens (tokens.access_token_format: opaque)
// cannot verify locally; they call the introspection endpoint instead.
package rs

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/coreos/go-oidc/v3/oidc"
)

// Config says which tokens the resource server accepts.
type Config struct {
	// Issuer is wxoidc's issuer URL (discovery is fetched from it).
	Issuer string
	// Audience is this API's identifier: a token's `aud` must contain it.
	// wxoidc puts the requested audience there, or the client's default.
	Audience string
	// HTTPClient fetches discovery and the JWKS; nil means http.DefaultClient.
	HTTPClient *http.Client
}

// Claims are the RFC 9068 claims the API uses.
type Claims struct {
	Issuer   string   `json:"iss"`
	Subject  string   `json:"sub"`
	Audience Audience `json:"aud"`
	ClientID string   `json:"client_id"`
	Scope    string   `json:"scope"`
	JTI      string   `json:"jti"`
	Expiry   int64    `json:"exp"`
	IssuedAt int64    `json:"iat"`
}

// HasScope reports whether the token was granted scope.
func (c Claims) HasScope(scope string) bool {
	for _, s := range strings.Fields(c.Scope) {
		if s == scope {
			return true
		}
	}
	return false
}

// Audience is the aud claim in either encoding RFC 7519 allows.
type Audience []string

func (a *Audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = Audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*a = many
	return nil
}

// Verifier checks access tokens.
type Verifier struct {
	v *oidc.IDTokenVerifier
}

// Errors of Verify, for the HTTP answer.
var (
	ErrInvalidToken = errors.New("invalid access token")
	ErrNotAccess    = errors.New("not an access token (typ is not at+jwt)")
)

// signingAlgs are the algorithms wxoidc signs JWTs with. Access tokens use
// the provider's access_token_algorithm (ES256 by default), which discovery's
// id_token_signing_alg_values_supported does not necessarily name, so list
// them explicitly.
var signingAlgs = []string{oidc.RS256, oidc.ES256, oidc.EdDSA}

// NewVerifier fetches the issuer's discovery document. The JWKS is fetched
// lazily and refetched when a token names an unknown key (rotation).
func NewVerifier(ctx context.Context, cfg Config) (*Verifier, error) {
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("rs: issuer and audience are required")
	}
	if cfg.HTTPClient != nil {
		ctx = oidc.ClientContext(ctx, cfg.HTTPClient)
	}
	p, err := oidc.NewProvider(ctx, cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("rs: discovery: %w", err)
	}
	return &Verifier{v: p.Verifier(&oidc.Config{ClientID: cfg.Audience, SupportedSigningAlgs: signingAlgs})}, nil
}

// Verify checks signature, issuer, Audience and expiry (go-oidc), then the
// RFC 9068 header type, and returns the claims.
func (v *Verifier) Verify(ctx context.Context, token string) (Claims, error) {
	if err := checkType(token); err != nil {
		return Claims{}, err
	}
	tok, err := v.v.Verify(ctx, token)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	var c Claims
	if err := tok.Claims(&c); err != nil {
		return Claims{}, fmt.Errorf("%w: claims: %w", ErrInvalidToken, err)
	}
	if c.Subject == "" || c.ClientID == "" || c.JTI == "" {
		return Claims{}, fmt.Errorf("%w: missing RFC 9068 claims", ErrInvalidToken)
	}
	return c, nil
}

// checkType reads the JOSE header: RFC 9068 §4 requires "at+jwt" (or its
// long form), compared case-insensitively.
func checkType(token string) error {
	head, _, ok := strings.Cut(token, ".")
	if !ok {
		return fmt.Errorf("%w: not a JWT", ErrInvalidToken)
	}
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return fmt.Errorf("%w: header: %w", ErrInvalidToken, err)
	}
	var h struct {
		Typ string `json:"typ"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return fmt.Errorf("%w: header: %w", ErrInvalidToken, err)
	}
	switch strings.ToLower(h.Typ) {
	case "at+jwt", "application/at+jwt":
		return nil
	}
	return ErrNotAccess
}

type ctxKey struct{}

// ClaimsFrom returns the claims Middleware stored in ctx.
func ClaimsFrom(ctx context.Context) (Claims, bool) {
	c, ok := ctx.Value(ctxKey{}).(Claims)
	return c, ok
}

// Middleware admits requests carrying a valid bearer access token with
// scope (if not ""), answering RFC 6750 §3 errors otherwise.
func (v *Verifier) Middleware(scope string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") || strings.TrimSpace(h[7:]) == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="api"`)
			writeError(w, http.StatusUnauthorized, "invalid_token", "A bearer access token is required.")
			return
		}
		c, err := v.Verify(r.Context(), strings.TrimSpace(h[7:]))
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="api", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "invalid_token", "The access token is invalid or expired.")
			return
		}
		if scope != "" && !c.HasScope(scope) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="api", error="insufficient_scope", scope="`+scope+`"`)
			writeError(w, http.StatusForbidden, "insufficient_scope", "The access token lacks scope "+scope+".")
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, c)))
	})
}

func writeError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

// NewAPI is the example API: GET /api/me answers who the caller is, for
// tokens granted scope (e.g. "openid"; "" accepts any valid token).
func NewAPI(v *Verifier, scope string) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /api/me", v.Middleware(scope, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := ClaimsFrom(r.Context())
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"sub": c.Subject, "client_id": c.ClientID, "scope": c.Scope,
		})
	})))
	return mux
}
