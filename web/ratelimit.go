package web

import (
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/wxoidc/wxoidc/internal/ratelimit"
)

// TokenRateLimits limits the token endpoint per client IP (before the body
// is read) and per client_id (after). Refusals answer 429 with Retry-After
// and {"error":"slow_down"}: RFC 8628 §3.5 registers slow_down for the token
// endpoint, and it keeps our limits apart from WeChat outages, which answer
// 503 temporarily_unavailable.
type TokenRateLimits struct {
	PerIP     ratelimit.Rate
	PerClient ratelimit.Rate
	// MaxKeys bounds each limiter's memory (ratelimit.Limiter).
	MaxKeys int
	// Now is the limiters' clock (default time.Now).
	Now func() time.Time
}

type tokenLimiter struct {
	perIP, perClient *ratelimit.Limiter
}

func newTokenLimiter(c TokenRateLimits) (*tokenLimiter, error) {
	perIP, err := ratelimit.New(c.PerIP, c.MaxKeys, c.Now)
	if err != nil {
		return nil, fmt.Errorf("web: per-IP token limit: %w", err)
	}
	perClient, err := ratelimit.New(c.PerClient, c.MaxKeys, c.Now)
	if err != nil {
		return nil, fmt.Errorf("web: per-client token limit: %w", err)
	}
	return &tokenLimiter{perIP: perIP, perClient: perClient}, nil
}

// allowTokenIP applies the per-IP limit, answering 429 when it refuses.
func (s *server) allowTokenIP(w http.ResponseWriter, r *http.Request) bool {
	ok, wait := s.limits.perIP.Allow(rateKey(clientIP(r, s.cfg.TrustedProxies)))
	if !ok {
		s.log.DebugContext(r.Context(), "token request rate limited", "limit", "per_ip", "retry_after", wait)
		writeSlowDown(w, wait, "Too many token requests from this network address.")
	}
	return ok
}

// allowTokenClient applies the per-client limit once the form is parsed. The
// client is not authenticated yet: the limit counts what the request claims,
// which is what a public mini-program client is anyway.
func (s *server) allowTokenClient(w http.ResponseWriter, r *http.Request) bool {
	id := requestClientID(r)
	if id == "" {
		return true // the provider answers invalid_client
	}
	ok, wait := s.limits.perClient.Allow(id)
	if !ok {
		s.log.DebugContext(r.Context(), "token request rate limited", "limit", "per_client", "retry_after", wait)
		writeSlowDown(w, wait, "Too many token requests for this client.")
	}
	return ok
}

// requestClientID is the client_id a request names: the Basic user name
// (form-encoded, RFC 6749 §2.3.1) or the client_id parameter.
func requestClientID(r *http.Request) string {
	if user, _, ok := r.BasicAuth(); ok {
		if id, err := url.QueryUnescape(user); err == nil {
			return id
		}
		return user
	}
	return r.PostForm.Get("client_id")
}

// writeSlowDown answers 429 with a Retry-After of wait.
func writeSlowDown(w http.ResponseWriter, wait time.Duration, description string) {
	setRetryAfter(w.Header(), wait)
	writeOAuthError(w, http.StatusTooManyRequests, "slow_down", description)
}
