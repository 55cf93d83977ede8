package web

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/internal/ratelimit"
	"github.com/wxoidc/wxoidc/internal/testharness"
)

func mustPrefixes(t *testing.T, cidrs ...string) []netip.Prefix {
	t.Helper()
	p, err := ParseTrustedProxies(cidrs)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestClientIP(t *testing.T) {
	trusted := mustPrefixes(t, "10.0.0.0/8", "fd00::/8", "192.0.2.7")
	tests := []struct {
		name    string
		remote  string
		xff     []string
		trusted []netip.Prefix
		want    string
	}{
		{"no proxy", "203.0.113.5:4431", nil, trusted, "203.0.113.5"},
		{"untrusted peer's XFF is ignored", "203.0.113.5:4431", []string{"198.51.100.1"}, trusted, "203.0.113.5"},
		{"no trusted proxies configured", "10.1.2.3:80", []string{"198.51.100.1"}, nil, "10.1.2.3"},
		{"trusted peer: client from XFF", "10.1.2.3:80", []string{"198.51.100.1"}, trusted, "198.51.100.1"},
		{"spoofed entries left of the client are ignored", "10.1.2.3:80", []string{"1.1.1.1, 8.8.8.8, 198.51.100.1"}, trusted, "198.51.100.1"},
		{"chain of trusted proxies", "10.1.2.3:80", []string{"198.51.100.1, 10.9.9.9, 192.0.2.7"}, trusted, "198.51.100.1"},
		{"several headers are one list", "10.1.2.3:80", []string{"6.6.6.6", "198.51.100.1, 10.0.0.2"}, trusted, "198.51.100.1"},
		{"all hops trusted: leftmost", "10.1.2.3:80", []string{"10.0.0.9, 10.0.0.8"}, trusted, "10.0.0.9"},
		{"garbage stops at the last trusted hop", "10.1.2.3:80", []string{"198.51.100.1, not-an-ip"}, trusted, "10.1.2.3"},
		{"garbage after a trusted hop", "10.1.2.3:80", []string{"junk, 10.0.0.5"}, trusted, "10.0.0.5"},
		{"empty XFF", "10.1.2.3:80", []string{""}, trusted, "10.1.2.3"},
		{"IPv6 peer and client", "[fd00::1]:443", []string{"2001:db8::1"}, trusted, "2001:db8::1"},
		{"IPv4-mapped peer", "[::ffff:10.1.2.3]:80", []string{"198.51.100.1"}, trusted, "198.51.100.1"},
		{"IPv4-mapped client", "10.1.2.3:80", []string{"::ffff:198.51.100.1"}, trusted, "198.51.100.1"},
		{"XFF port is not an address", "10.1.2.3:80", []string{"198.51.100.1:1234"}, trusted, "10.1.2.3"},
		{"bare remote address", "203.0.113.5", nil, trusted, "203.0.113.5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/oauth2/token", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := clientIP(r, tt.trusted); got.String() != tt.want {
				t.Fatalf("clientIP = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestClientIPBoundsTheWalk(t *testing.T) {
	trusted := mustPrefixes(t, "10.0.0.0/8")
	hops := make([]string, 1000)
	for i := range hops {
		hops[i] = "10.0.0.1"
	}
	hops[0] = "198.51.100.1"
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	r.RemoteAddr = "10.0.0.2:1"
	r.Header.Set("X-Forwarded-For", strings.Join(hops, ","))
	// The client is 999 trusted hops away: beyond the bound, the walk stops
	// at a trusted address instead of reaching it.
	if got := clientIP(r, trusted); got.String() != "10.0.0.1" {
		t.Fatalf("clientIP = %s", got)
	}
}

func TestRateKey(t *testing.T) {
	for in, want := range map[string]string{
		"198.51.100.1":             "198.51.100.1",
		"2001:db8:1:2:aaaa::1":     "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff:1:2:3":  "2001:db8:1:2::/64",
		"2001:db8:1:3::1":          "2001:db8:1:3::/64",
		"fe80::1%eth0":             "fe80::/64",
		"::ffff:198.51.100.1":      "198.51.100.1",
		"2001:db8::dead:beef:cafe": "2001:db8::/64",
	} {
		if got := rateKey(netip.MustParseAddr(in)); got != want {
			t.Errorf("rateKey(%s) = %s, want %s", in, got, want)
		}
	}
	if rateKey(netip.Addr{}) != "unknown" {
		t.Error("invalid address")
	}
}

func TestParseTrustedProxies(t *testing.T) {
	p, err := ParseTrustedProxies([]string{"10.1.2.3/8", " 192.0.2.1 ", "2001:db8::/32"})
	if err != nil {
		t.Fatal(err)
	}
	if p[0].String() != "10.0.0.0/8" || p[1].String() != "192.0.2.1/32" || p[2].String() != "2001:db8::/32" {
		t.Fatalf("prefixes = %v", p)
	}
	if _, err := ParseTrustedProxies([]string{"10.0.0.0/33"}); err == nil {
		t.Fatal("invalid prefix accepted")
	}
}

func limitedServer(t *testing.T, lim TokenRateLimits, trusted ...string) *server {
	t.Helper()
	l, err := newTokenLimiter(lim)
	if err != nil {
		t.Fatal(err)
	}
	return &server{cfg: Config{TrustedProxies: mustPrefixes(t, trusted...)}, log: slog.New(slog.DiscardHandler), limits: l}
}

func checkSlowDown(t *testing.T, rec *httptest.ResponseRecorder, retryAfter string) {
	t.Helper()
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("status = %d, want 429", rec.Code)
	}
	if got := rec.Header().Get("Retry-After"); got != retryAfter {
		t.Errorf("Retry-After = %q, want %q", got, retryAfter)
	}
	if rec.Header().Get("Cache-Control") != "no-store" || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		t.Errorf("headers = %v", rec.Header())
	}
	var body oauthError
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error != "slow_down" || body.Description == "" {
		t.Errorf("body = %s (%v), want an RFC 6749 slow_down error", rec.Body, err)
	}
}

func TestTokenLimitPerIP(t *testing.T) {
	clk := testharness.NewClock(time.Unix(1_700_000_000, 0))
	s := limitedServer(t, TokenRateLimits{PerIP: ratelimit.Rate{Limit: 1, Per: 10 * time.Second, Burst: 2}, Now: clk.Now}, "10.0.0.0/8")
	request := func(remote, xff string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, PathToken, nil)
		r.RemoteAddr = remote
		if xff != "" {
			r.Header.Set("X-Forwarded-For", xff)
		}
		rec := httptest.NewRecorder()
		if s.allowTokenIP(rec, r) != (rec.Code == http.StatusOK && rec.Body.Len() == 0) {
			t.Fatalf("allowTokenIP's answer and its response disagree: %d", rec.Code)
		}
		return rec
	}
	for range 2 {
		if rec := request("198.51.100.1:1", ""); rec.Body.Len() != 0 {
			t.Fatalf("refused within the burst: %d", rec.Code)
		}
	}
	checkSlowDown(t, request("198.51.100.1:2", ""), "10")
	// Behind a trusted proxy, each forwarded client has its own bucket, and
	// the proxy's own address does not matter.
	if rec := request("10.0.0.1:1", "203.0.113.9"); rec.Body.Len() != 0 {
		t.Fatalf("a forwarded client was limited by another's bucket: %d", rec.Code)
	}
	// A client cannot escape its bucket by forging X-Forwarded-For: from an
	// untrusted peer the header is ignored.
	checkSlowDown(t, request("198.51.100.1:3", "203.0.113.77"), "10")
	// ...and behind a trusted proxy, forged entries left of it are ignored.
	checkSlowDown(t, request("10.0.0.1:1", "203.0.113.77, 198.51.100.1"), "10")
	clk.Advance(4 * time.Second)
	checkSlowDown(t, request("198.51.100.1:2", ""), "6")
	clk.Advance(6 * time.Second)
	if rec := request("198.51.100.1:2", ""); rec.Body.Len() != 0 {
		t.Fatalf("refused after the refill: %d", rec.Code)
	}
}

// TestTokenLimitPerClient checks the per-client keying: a confidential
// client (which the provider charges only once it has authenticated) has one
// bucket wherever it calls from; a public client, which anyone can name, has
// one per network (an IPv4 address, an IPv6 /64).
func TestTokenLimitPerClient(t *testing.T) {
	clk := testharness.NewClock(time.Unix(1_700_000_000, 0))
	s := limitedServer(t, TokenRateLimits{PerClient: ratelimit.Rate{Limit: 1, Per: time.Second, Burst: 1}, Now: clk.Now})
	r := httptest.NewRequest(http.MethodPost, PathToken, nil)
	charge := func(ip, clientID string, public bool) bool {
		t.Helper()
		ok, wait := s.clientLimit(r, netip.MustParseAddr(ip))(clientID, public)
		if ok != (wait == 0) || !ok && wait != time.Second {
			t.Fatalf("charge(%s, %s, %v) = %v, %v", ip, clientID, public, ok, wait)
		}
		return ok
	}
	for _, tc := range []struct {
		ip, client string
		public     bool
		want       bool
		why        string
	}{
		{"198.51.100.1", "backend", false, true, "first confidential request"},
		{"203.0.113.9", "backend", false, false, "a confidential client's bucket is shared by all its addresses"},
		{"198.51.100.1", "backend-2", false, true, "another confidential client"},
		{"198.51.100.1", "mini", true, true, "first public request"},
		{"198.51.100.1", "mini", true, false, "a second public request from the same address"},
		{"198.51.100.2", "mini", true, true, "a public client from another IPv4 address"},
		{"::ffff:198.51.100.3", "mini", true, true, "an IPv4-mapped address is its IPv4 address"},
		{"198.51.100.3", "mini", true, false, "...the same one"},
		{"2001:db8:1:2::1", "mini", true, true, "a public client from an IPv6 /64"},
		{"2001:db8:1:2:ffff::9", "mini", true, false, "another address in the same /64"},
		{"2001:db8:1:3::1", "mini", true, true, "the next /64"},
		{"198.51.100.9", "mini", false, true, "a confidential key never meets a public one"},
	} {
		if got := charge(tc.ip, tc.client, tc.public); got != tc.want {
			t.Errorf("%s: allowed = %v, want %v", tc.why, got, tc.want)
		}
	}
	// A client_id with spaces cannot forge another client's key.
	ip := netip.MustParseAddr("198.51.100.1")
	if clientRateKey("198.51.100.1 mini", false, ip) == clientRateKey("mini", true, ip) ||
		clientRateKey("p 198.51.100.1 mini", false, ip) == clientRateKey("mini", true, ip) {
		t.Error("a confidential client_id reproduces a public client's key")
	}
	clk.Advance(time.Second)
	if !charge("203.0.113.9", "backend", false) {
		t.Error("refused after the refill")
	}
}

func TestTokenLimitsDisabledByDefault(t *testing.T) {
	s := limitedServer(t, TokenRateLimits{})
	for range 1000 {
		r := httptest.NewRequest(http.MethodPost, PathToken, nil)
		r.PostForm = url.Values{"client_id": {"c"}}
		ok, _ := s.clientLimit(r, netip.MustParseAddr("198.51.100.1"))("c", true)
		if !s.allowTokenIP(httptest.NewRecorder(), r) || !ok {
			t.Fatal("zero rates limited a request")
		}
	}
}

func TestRetryAfterRoundsUpToWholeSeconds(t *testing.T) {
	for _, tc := range []struct {
		wait time.Duration
		want string
	}{
		{-time.Second, "1"},
		{0, "1"},
		{time.Nanosecond, "1"},
		{time.Millisecond, "1"},
		{499 * time.Millisecond, "1"},
		{time.Second, "1"},
		{time.Second + time.Nanosecond, "2"},
		{1001 * time.Millisecond, "2"},
		{1500 * time.Millisecond, "2"},
		{1999 * time.Millisecond, "2"},
		{2 * time.Second, "2"},
		{time.Minute, "60"},
		{12 * time.Hour, "43200"},
	} {
		h := http.Header{}
		setRetryAfter(h, tc.wait)
		if got := h.Get("Retry-After"); got != tc.want {
			t.Errorf("wait %v: Retry-After = %s, want %s", tc.wait, got, tc.want)
		}
	}
}
