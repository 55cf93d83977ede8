// Package web serves wxoidc over HTTP: the public OAuth 2.0 / OIDC endpoints
// on one router, and (admin.go) the admin API on another. Handlers are thin:
// they check the request's shape at the edge, call provider, and render
// spec-shaped answers.
package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime/debug"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/wxoidc/wxoidc/provider"
)

// Endpoint paths (relative to the issuer).
const (
	PathDiscovery  = "/.well-known/openid-configuration"
	PathJWKS       = "/.well-known/jwks.json"
	PathToken      = "/oauth2/token"
	PathIntrospect = "/oauth2/introspect"
	PathRevoke     = "/oauth2/revoke"
	PathUserInfo   = "/userinfo"
	PathHealth     = "/healthz"
	PathReady      = "/readyz"
)

// JWKSource serves the published key set (keys.Manager implements it).
type JWKSource interface {
	JWKS() (body []byte, etag string)
	MaxAge() time.Duration
}

// Provider is what the public endpoints need from the OAuth 2.0 / OpenID
// Connect engine; *provider.Provider implements it. The request methods take
// a request whose form web has already parsed and checked; their errors are
// *provider.Error values (anything else is answered as server_error).
type Provider interface {
	// Token answers the token endpoint with the response's JSON body.
	Token(ctx context.Context, r *http.Request) (map[string]interface{}, error)
	// Introspect authenticates the caller and answers RFC 7662.
	Introspect(ctx context.Context, r *http.Request) (map[string]interface{}, error)
	// Revoke runs RFC 7009 revocation.
	Revoke(ctx context.Context, r *http.Request) error
	// UserInfo returns the claims for an access token (OIDC Core §5.3).
	UserInfo(ctx context.Context, accessToken string) (map[string]interface{}, error)
	// Metadata is what the provider supports, for discovery.
	Metadata() provider.Metadata
}

// Config wires the public handler.
type Config struct {
	Provider Provider
	Keys     JWKSource
	// IDTokenAlgorithms are the configured ID-token algorithms, advertised
	// in discovery in the order of provider.IDTokenSigningAlgs.
	IDTokenAlgorithms []string
	// Ready reports whether the instance can serve (storage reachable, keys loaded).
	Ready func(ctx context.Context) error
	// MaxBodyBytes caps request bodies on OAuth endpoints (default 64 KiB).
	MaxBodyBytes int64
	Logger       *slog.Logger
	// Mount adds extra routes (dev mode mounts the WeChat emulator).
	Mount func(chi.Router)
	// Metrics observes every request; may be nil.
	Metrics RequestObserver
	// TrustedProxies are the networks whose X-Forwarded-For is believed
	// when finding a client's IP (ParseTrustedProxies).
	TrustedProxies []netip.Prefix
	// TokenRateLimits limit the token endpoint; zero rates are unlimited.
	TokenRateLimits TokenRateLimits
	// SignIn, when set, serves browser sign-in: the authorization
	// endpoint, the WeChat callback, consent and logout (docs/contract.md §1.5).
	SignIn SignIn
}

// RequestObserver records one finished request.
type RequestObserver interface {
	ObserveRequest(route string, status int, d time.Duration)
}

type server struct {
	cfg       Config
	log       *slog.Logger
	discovery []byte
	limits    *tokenLimiter
}

// NewPublicHandler returns the public listener's handler.
func NewPublicHandler(cfg Config) (http.Handler, error) {
	if cfg.Provider == nil || cfg.Keys == nil {
		return nil, errors.New("web: provider and keys are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 64 << 10
	}
	if cfg.Ready == nil {
		cfg.Ready = func(context.Context) error { return nil }
	}
	s := &server{cfg: cfg, log: cfg.Logger}
	limits, err := newTokenLimiter(cfg.TokenRateLimits)
	if err != nil {
		return nil, err
	}
	s.limits = limits
	disc := discoveryDocument(cfg.Provider.Metadata(), cfg.IDTokenAlgorithms)
	if cfg.SignIn != nil {
		addBrowserDiscovery(disc, cfg.Provider.Metadata().Issuer)
	}
	doc, err := json.Marshal(disc)
	if err != nil {
		return nil, fmt.Errorf("web: discovery document: %w", err)
	}
	s.discovery = doc

	r := chi.NewRouter()
	r.Use(s.recoverer, s.observe, securityHeaders)
	r.MethodNotAllowed(s.methodNotAllowed)
	r.NotFound(func(w http.ResponseWriter, _ *http.Request) {
		writeOAuthError(w, http.StatusNotFound, "not_found", "No such endpoint.")
	})
	r.Get(PathDiscovery, s.handleDiscovery)
	r.Get(PathJWKS, s.handleJWKS)
	r.Post(PathToken, s.handleToken)
	r.Post(PathIntrospect, s.handleIntrospect)
	r.Post(PathRevoke, s.handleRevoke)
	r.Get(PathUserInfo, s.handleUserInfo)
	r.Post(PathUserInfo, s.handleUserInfo)
	r.Get(PathHealth, handleHealth)
	r.Get(PathReady, s.handleReady)
	if cfg.SignIn != nil {
		if err := s.mountSignIn(r); err != nil {
			return nil, fmt.Errorf("web: sign-in pages: %w", err)
		}
	}
	if cfg.Mount != nil {
		cfg.Mount(r)
	}
	return r, nil
}

func (s *server) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	writeOAuthError(w, http.StatusMethodNotAllowed, "invalid_request", "HTTP method "+r.Method+" is not allowed here.")
}

// recoverer turns a panic into a clean server_error; the stack goes to the
// log only.
func (s *server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.ErrorContext(r.Context(), "panic", "path", r.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				writeOAuthError(w, http.StatusInternalServerError, "server_error", "Internal error.")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// statusRecorder captures the status for logs and metrics.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the server's writer (the scan
// status endpoint takes its connection over).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// observe logs and measures each request by route pattern, never by raw URL:
// query strings can carry tokens.
func (s *server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		route := chi.RouteContext(r.Context()).RoutePattern()
		if route == "" {
			route = "unmatched"
		}
		d := time.Since(start)
		if s.cfg.Metrics != nil {
			s.cfg.Metrics.ObserveRequest(route, rec.status, d)
		}
		s.log.DebugContext(r.Context(), "request", "method", r.Method, "route", route, "status", rec.status, "duration", d)
	})
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		// No endpoint serves HTML; should one ever (an error page, the
		// dev-mode emulator), it may load nothing and be framed nowhere.
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		next.ServeHTTP(w, r)
	})
}

func handleHealth(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(`{"status":"ok"}`))
}

func (s *server) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if err := s.cfg.Ready(ctx); err != nil {
		s.log.WarnContext(r.Context(), "not ready", "error", err.Error())
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"status":"unavailable"}`))
		return
	}
	_, _ = w.Write([]byte(`{"status":"ready"}`))
}
