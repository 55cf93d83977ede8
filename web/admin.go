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

	"github.com/go-chi/chi/v5"
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
	// Routes registers the /admin/* operations on an authenticated router.
	Routes func(r chi.Router)
	// Metrics serves /metrics (unauthenticated, admin listener only); may be nil.
	Metrics http.Handler
	// Observer, if set, observes every request of the admin listener.
	Observer RequestObserver
}

type adminIdentity struct{}

// AdminActor returns the name of the admin token that authenticated ctx.
func AdminActor(ctx context.Context) string {
	if v, ok := ctx.Value(adminIdentity{}).(string); ok {
		return v
	}
	return ""
}

// NewAdminHandler returns the admin listener's handler. It is never mounted
// on the public listener.
func NewAdminHandler(cfg AdminConfig) (http.Handler, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Ready == nil {
		cfg.Ready = func(context.Context) error { return nil }
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
	auth := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tok, present := bearerToken(r)
			if !present {
				// RFC 6750 §3.1: no error code when no credentials were sent.
				w.Header().Set("WWW-Authenticate", adminRealm)
				writeOAuthError(w, http.StatusUnauthorized, "invalid_request", "This endpoint requires an admin bearer token (Authorization: Bearer <token>).")
				return
			}
			d := sha256.Sum256([]byte(tok))
			// Every token is compared, matched or not, so the time taken does
			// not tell which token (or whether any) matched.
			name := ""
			for _, t := range tokens {
				if subtle.ConstantTimeCompare(d[:], t.digest[:]) == 1 {
					name = t.name
				}
			}
			if tok == "" || name == "" {
				w.Header().Set("WWW-Authenticate", adminRealm+`, error="invalid_token", error_description="The admin token is not valid."`)
				writeOAuthError(w, http.StatusUnauthorized, "invalid_token", "The admin token is not valid.")
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), adminIdentity{}, name)))
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
	r.Route("/admin", func(r chi.Router) {
		r.Use(auth)
		if cfg.Routes != nil {
			cfg.Routes(r)
		}
	})
	return r, nil
}

const adminRealm = `Bearer realm="wxoidc-admin"`

// WriteJSON writes v as a JSON response with the given status.
func WriteJSON(w http.ResponseWriter, status int, v interface{}) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// WriteError writes an RFC 6749-style error body on the admin API.
func WriteError(w http.ResponseWriter, status int, code, description string) {
	writeOAuthError(w, status, code, description)
}

// DecodeJSON reads a bounded JSON body into v, rejecting unknown fields.
func DecodeJSON(w http.ResponseWriter, r *http.Request, v interface{}) bool {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		WriteError(w, http.StatusUnsupportedMediaType, "invalid_request", "The request body must be application/json.")
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		WriteError(w, http.StatusBadRequest, "invalid_request", "The request body is not valid JSON for this operation.")
		return false
	}
	return true
}
