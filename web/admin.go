package web

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/wxoidc/wxoidc/admin"
	"github.com/wxoidc/wxoidc/internal/metrics"
	"github.com/wxoidc/wxoidc/web/internal/console"
)

// AdminToken is one bearer token accepted by the admin API.
type AdminToken struct {
	Name  string
	Token string
}

// AdminConfig wires the admin listener's handler.
type AdminConfig struct {
	Tokens []AdminToken
	Ready  func(ctx context.Context) error
	Logger *slog.Logger
	// Service runs the operations of the admin API (/admin/v1/); required.
	Service *admin.Service
	// Metrics serves /metrics (unauthenticated, admin listener only); may be nil.
	Metrics http.Handler
	// Observer, if set, observes every request of the admin listener.
	Observer RequestObserver
	// Now is the console's clock; default time.Now.
	Now func() time.Time
	// Health, if set, feeds the console's health page (metrics.History).
	Health HealthSource
}

// HealthSource gives the console's health page its figures.
type HealthSource interface {
	Health() metrics.Health
}

// AdminAPIPrefix is the path of the admin API's current version. Every
// route under it needs an admin bearer token, the OpenAPI document
// (AdminAPIPrefix + "/openapi.json") included.
const AdminAPIPrefix = "/admin/v1"

// NewAdminHandler returns the admin listener's handler. It is never mounted
// on the public listener.
func NewAdminHandler(cfg AdminConfig) (http.Handler, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Ready == nil {
		cfg.Ready = func(context.Context) error { return nil }
	}
	if cfg.Service == nil {
		return nil, errors.New("web: the admin service is required")
	}
	s := &server{cfg: Config{Ready: cfg.Ready, Metrics: cfg.Observer}, log: cfg.Logger}
	// Compare fixed-length digests so the comparison time reveals neither
	// the tokens' contents nor their lengths.
	type digestToken struct {
		name   string
		digest [32]byte
	}
	var tokens []digestToken
	for _, t := range cfg.Tokens {
		if t.Token == "" {
			return nil, errors.New("web: empty admin token")
		}
		if t.Name == "" {
			return nil, errors.New("web: admin token without a name")
		}
		tokens = append(tokens, digestToken{name: t.Name, digest: sha256.Sum256([]byte(t.Token))})
	}
	// tokenName returns the name of admin token tok, "" for none. Every
	// token is compared, matched or not, so the time taken does not tell
	// which token (or whether any) matched.
	tokenName := func(tok string) string {
		if tok == "" {
			return ""
		}
		d := sha256.Sum256([]byte(tok))
		name := ""
		for _, t := range tokens {
			if subtle.ConstantTimeCompare(d[:], t.digest[:]) == 1 {
				name = t.name
			}
		}
		return name
	}
	auth := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tok, present := bearerToken(r)
			if !present {
				// RFC 6750 §3.1: no error code when no credentials were sent.
				w.Header().Set("WWW-Authenticate", adminRealm)
				writeOAuthError(w, http.StatusUnauthorized, "invalid_request", "This endpoint requires an admin bearer token (Authorization: Bearer <token>).")
				return
			}
			name := tokenName(tok)
			if name == "" {
				w.Header().Set("WWW-Authenticate", adminRealm+`, error="invalid_token", error_description="The admin token is not valid."`)
				writeOAuthError(w, http.StatusUnauthorized, "invalid_token", "The admin token is not valid.")
				return
			}
			next.ServeHTTP(w, r.WithContext(admin.WithActor(r.Context(), admin.APIActor(name))))
		})
	}
	r := chi.NewRouter()
	r.Use(s.recoverer, s.observe, securityHeaders)
	r.MethodNotAllowed(s.methodNotAllowed)
	r.NotFound(func(w http.ResponseWriter, _ *http.Request) {
		writeOAuthError(w, http.StatusNotFound, "not_found", "No such endpoint.")
	})
	r.Get(PathHealth, handleHealth)
	r.Get(PathReady, s.handleReady)
	if cfg.Metrics != nil {
		r.Method(http.MethodGet, "/metrics", cfg.Metrics)
	}
	ui, err := console.New(console.Config{Service: cfg.Service, Authenticate: tokenName, Health: cfg.Health, Now: cfg.Now, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	r.Handle(console.Prefix, http.RedirectHandler(console.Prefix+"/", http.StatusSeeOther))
	r.Mount(console.Prefix, ui)
	api := &adminAPI{svc: cfg.Service, log: cfg.Logger}
	r.Route(AdminAPIPrefix, func(r chi.Router) {
		r.Use(auth)
		api.routes(r)
	})
	return r, nil
}

const adminRealm = `Bearer realm="wxoidc-admin"`

// writeJSON writes v as a JSON response with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// decodeJSON reads a bounded JSON body into v, rejecting unknown fields.
// On failure it has answered the request.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		writeOAuthError(w, http.StatusUnsupportedMediaType, "invalid_request", "The request body must be application/json.")
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "The request body is not valid JSON for this operation.")
		return false
	}
	return true
}
