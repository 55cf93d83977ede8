package app_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/config"
)

// The per-client limit is charged only once the client has authenticated:
// a flood that names a confidential client without its secret, from any
// number of addresses, is refused as invalid_client and does not spend the
// client's bucket. Defaults of limits.* (100/s, burst 200 per client).
func TestUnauthenticatedFloodDoesNotLockOutConfidentialClient(t *testing.T) {
	s := newStack(t, func(c *config.Config) { c.HTTP.TrustedProxies = []string{"127.0.0.0/8"} })
	if c := config.Default().Limits; s.App.Config.Limits.TokenPerClient != c.TokenPerClient || s.App.Config.Limits.TokenPerIP != c.TokenPerIP {
		t.Fatal("the test must run with the default limits")
	}
	cc := url.Values{"grant_type": {"client_credentials"}}
	from := func(h http.Header, ip string) http.Header {
		h.Set("X-Forwarded-For", ip)
		return h
	}
	// Six addresses, each within its per-IP burst, 600 requests in all: far
	// more than the client's burst, at loopback speed. Each address sends
	// requests with no secret (Basic user alone, client_id in the body) and
	// with a wrong one.
	var (
		mu       sync.Mutex
		statuses = map[string]int{}
		wg       sync.WaitGroup
	)
	for ip := range 6 {
		for worker := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 50 {
					var h http.Header
					form := url.Values{"grant_type": {"client_credentials"}}
					switch (worker*50 + i) % 3 {
					case 0:
						h = hardBasicAuth(backend, "wrong-"+backendPw)
					case 1:
						h = hardBasicAuth(backend, "")
					default:
						h = http.Header{}
						form.Set("client_id", backend)
					}
					resp, body := s.postForm("/oauth2/token", form, from(h, fmt.Sprintf("198.51.100.%d", ip+1)))
					var code string
					if _, after, ok := strings.Cut(string(body), `"error":"`); ok {
						code, _, _ = strings.Cut(after, `"`)
					}
					mu.Lock()
					statuses[fmt.Sprintf("%d %s", resp.StatusCode, code)]++
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	if len(statuses) != 1 || statuses["401 invalid_client"] != 600 {
		t.Errorf("flood answers = %v, want 600 × 401 invalid_client", statuses)
	}
	for i := range 3 {
		resp, body := s.postForm("/oauth2/token", cc, hardBasicAuthFrom(backend, backendPw, "203.0.113.10"))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("the authenticated client after the flood (request %d): %d %s", i, resp.StatusCode, body)
		}
	}
}

// An authenticated confidential client is still limited, on one bucket
// wherever it calls from; a public client, which anyone can name, is
// limited per network (IPv4 address, IPv6 /64), so a flood from one
// network leaves it working from others.
func TestClientLimitKeying(t *testing.T) {
	s := newStack(t, func(c *config.Config) {
		c.HTTP.TrustedProxies = []string{"127.0.0.0/8"}
		c.Limits.TokenPerClient = config.Rate{Limit: 1, Per: config.D(time.Hour), Burst: 20}
	})
	from := func(ip string) http.Header { return http.Header{"X-Forwarded-For": {ip}} }
	slowDown := func(what string, resp *http.Response, body []byte) {
		t.Helper()
		if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(body), `"error":"slow_down"`) || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("%s: %d %q Retry-After %q, want 429 slow_down with Retry-After", what, resp.StatusCode, body, resp.Header.Get("Retry-After"))
		}
	}

	// Public client: client_credentials is not among its grants, so each
	// request authenticates (method none), is charged and is refused: a cheap
	// flood from addresses of one /64.
	pub := url.Values{"grant_type": {"client_credentials"}, "client_id": {miniA}}
	for i := range 20 {
		resp, body := s.postForm("/oauth2/token", pub, from(fmt.Sprintf("2001:db8:1:2::%x", i+1)))
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("public flood request %d: %d %s", i, resp.StatusCode, body)
		}
	}
	resp, body := s.postForm("/oauth2/token", pub, from("2001:db8:1:2:abcd::1"))
	slowDown("a public client over its limit from one /64", resp, body)
	for _, ip := range []string{"2001:db8:1:3::1", "198.51.100.20"} {
		resp, body := s.postForm("/oauth2/token", wechatForm(miniA, s.login(appA, "limit-user"), "scope", "openid"), from(ip))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("the public client from %s after a flood from another network: %d %s", ip, resp.StatusCode, body)
		}
	}

	// Confidential client: 20 authenticated requests from 20 addresses spend
	// its one bucket; the next is refused wherever it comes from, and other
	// clients are not affected.
	cc := url.Values{"grant_type": {"client_credentials"}}
	for i := range 20 {
		resp, body := s.postForm("/oauth2/token", cc, hardBasicAuthFrom(backend, backendPw, fmt.Sprintf("192.0.2.%d", i+1)))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("confidential request %d: %d %s", i, resp.StatusCode, body)
		}
	}
	resp, body = s.postForm("/oauth2/token", cc, hardBasicAuthFrom(backend, backendPw, "192.0.2.100"))
	slowDown("an authenticated confidential client over its limit", resp, body)
	// A wrong secret is invalid_client, even now: it is not the client.
	if resp, body := s.postForm("/oauth2/token", cc, hardBasicAuthFrom(backend, "wrong", "192.0.2.101")); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong secret for a limited client: %d %s", resp.StatusCode, body)
	}
	if resp, body := s.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {postCli}, "client_secret": {backendPw}}, from("192.0.2.100")); resp.StatusCode != http.StatusOK {
		t.Fatalf("another client: %d %s", resp.StatusCode, body)
	}
}
