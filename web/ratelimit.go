package web

import (
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/wxoidc/wxoidc/internal/ratelimit"
	"github.com/wxoidc/wxoidc/provider"
)

// TokenRateLimits limits the token endpoint per client IP (before the body
// is read) and per client (once the client has authenticated: see
// server.clientLimit). Refusals answer 429 with Retry-After
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

// clientLimit is the per-client limit of one token request from ip, which
// the provider charges once the client has authenticated
// (provider.WithClientLimit). Nobody can spend a confidential client's
// bucket without its credential, so it is keyed by client_id alone. A
// public client has no credential: anyone can name it, so its bucket is
// also keyed by the caller's network (rateKey: the IPv4 address or IPv6
// /64), and a flood from one network leaves the others alone. What bounds a
// public client globally is the WeChat per-appid limit.
func (s *server) clientLimit(r *http.Request, ip netip.Addr) provider.ClientLimit {
	return func(clientID string, public bool) (bool, time.Duration) {
		ok, wait := s.limits.perClient.Allow(clientRateKey(clientID, public, ip))
		if !ok {
			s.log.DebugContext(r.Context(), "token request rate limited", "limit", "per_client", "retry_after", wait)
		}
		return ok, wait
	}
}

// clientRateKey is the per-client limiter key: "c " and the client_id for a
// confidential client, "p ", the network and the client_id for a public
// one (rateKey has no space, so the two parts cannot run together).
func clientRateKey(clientID string, public bool, ip netip.Addr) string {
	if public {
		return "p " + rateKey(ip) + " " + clientID
	}
	return "c " + clientID
}

// writeSlowDown answers 429 with a Retry-After of wait.
func writeSlowDown(w http.ResponseWriter, wait time.Duration, description string) {
	setRetryAfter(w.Header(), wait)
	writeOAuthError(w, http.StatusTooManyRequests, "slow_down", description)
}
