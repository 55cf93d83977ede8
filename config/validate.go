package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wxoidc/wxoidc/keys"
)

// Problem is one validation failure, named by its YAML key (or environment
// variable when the variable itself is at fault).
type Problem struct {
	Key     string
	Message string
}

func (p Problem) String() string { return p.Key + ": " + p.Message }

// ValidationError lists every problem found, so an operator fixes them in one
// pass rather than one restart per mistake.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	if len(e.Problems) == 1 {
		b.WriteString("invalid configuration: 1 problem")
	} else {
		fmt.Fprintf(&b, "invalid configuration: %d problems", len(e.Problems))
	}
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Limits enforced by Validate.
const (
	maxRefreshTokenGrace = 5 * time.Minute
	// maxAuthorizationCodeLifetime is RFC 6749 §4.1.2's recommended maximum.
	maxAuthorizationCodeLifetime = 10 * time.Minute
	minAdminTokenLen             = 32
	minSecretHashCost            = 10_000
	maxSecretHashCost            = 10_000_000
)

// Validate checks c and returns a *ValidationError listing every problem, or
// nil. It reads every secret (files and environment variables) to prove it is
// available now rather than at the first login. Call Normalize first when c
// was built in code; Load does both.
func (c *Config) Validate() error {
	if p := c.problems(); len(p) > 0 {
		return &ValidationError{Problems: p}
	}
	return nil
}

type checker struct {
	problems []Problem
}

func (ck *checker) add(key, format string, args ...any) {
	ck.problems = append(ck.problems, Problem{Key: key, Message: fmt.Sprintf(format, args...)})
}

// when records a problem if bad holds: each rule reads as one line.
func (ck *checker) when(bad bool, key, format string, args ...any) {
	if bad {
		ck.add(key, format, args...)
	}
}

func (ck *checker) positive(key string, d Duration) {
	ck.when(d.Duration <= 0, key, "must be positive, got %s", d)
}

func (ck *checker) oneOf(key, got string, allowed ...string) {
	ck.when(!slices.Contains(allowed, got), key, "must be one of %s, got %q", strings.Join(allowed, ", "), got)
}

func (c *Config) problems() []Problem {
	ck := &checker{}
	ck.serviceURL("issuer", c.Issuer, true)
	c.checkHTTP(ck)
	revealed := c.checkSecrets(ck)
	c.checkAdmin(ck, revealed)
	c.checkStorage(ck)
	c.checkKEK(ck, revealed)
	c.checkWeChat(ck)
	c.checkLimits(ck)
	c.checkTokens(ck)
	c.checkKeys(ck)
	ck.when(c.Clients.SecretHashCost < minSecretHashCost || c.Clients.SecretHashCost > maxSecretHashCost,
		"clients.secret_hash_cost", "must be between %d and %d, got %d", minSecretHashCost, maxSecretHashCost, c.Clients.SecretHashCost)
	ck.when(c.Issuer != "" && c.Accounts.DefaultAudience == "", "accounts.default_audience", "must not be empty")
	ck.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	ck.oneOf("log.format", c.Log.Format, "json", "text")
	return ck.problems
}

// serviceURL checks an issuer or WeChat base URL: absolute, https unless the
// host is loopback, no user info, query or fragment, no trailing slash. The
// URL itself is not echoed: user info could hold a password.
func (ck *checker) serviceURL(key, raw string, required bool) {
	if raw == "" {
		ck.when(required, key, "required, e.g. https://id.example.com")
		return
	}
	u, err := url.Parse(raw)
	if err != nil {
		ck.add(key, "not a valid URL")
		return
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		ck.add(key, "must be an https URL, got scheme %q", u.Scheme)
	case u.Host == "":
		ck.add(key, "must include a host")
	case u.Scheme == "http" && !IsLoopbackHost(u.Hostname()):
		ck.add(key, "must use https (http is allowed only for a loopback host)")
	}
	ck.when(u.User != nil, key, "must not contain user info")
	ck.when(u.RawQuery != "" || u.ForceQuery, key, "must not contain a query")
	ck.when(u.Fragment != "" || strings.Contains(raw, "#"), key, "must not contain a fragment")
	ck.when(strings.HasSuffix(raw, "/"), key, "must not end with /")
}

// IsLoopbackHost reports whether host (of a URL or a listen address) is
// this machine only: localhost or a loopback IP.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// AdminIsRemote reports whether the admin listener (admin.addr) is set and
// not on loopback, which admin.allow_remote permits: the server warns at start.
func (c *Config) AdminIsRemote() bool {
	if c.Admin.Addr == "" {
		return false
	}
	host, _, err := net.SplitHostPort(c.Admin.Addr)
	return err != nil || !IsLoopbackHost(host)
}

// CheckLoopbackAddr returns an error unless the listen address addr
// (host:port) has a loopback host (IsLoopbackHost). Dev mode and the bench
// harness run with well-known credentials and listen nowhere else.
func CheckLoopbackAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	if !IsLoopbackHost(host) {
		return fmt.Errorf("%q is not a loopback address", addr)
	}
	return nil
}

// addr checks a listen address of the form host:port with a numeric port.
func (ck *checker) addr(key, addr string) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		ck.add(key, "must be host:port (e.g. :8080 or 127.0.0.1:8081), got %q", addr)
		return
	}
	n, err := strconv.Atoi(port)
	ck.when(err != nil || n < 0 || n > 65535, key, "port must be a number from 0 to 65535, got %q", port)
}

func (c *Config) checkHTTP(ck *checker) {
	h := c.HTTP
	if h.Addr == "" {
		ck.add("http.addr", "required, e.g. :8080")
	} else {
		ck.addr("http.addr", h.Addr)
	}
	ck.positive("http.read_header_timeout", h.ReadHeaderTimeout)
	ck.positive("http.read_timeout", h.ReadTimeout)
	ck.positive("http.write_timeout", h.WriteTimeout)
	ck.positive("http.idle_timeout", h.IdleTimeout)
	ck.positive("http.shutdown_timeout", h.ShutdownTimeout)
	ck.when(h.MaxBodyBytes <= 0, "http.max_body_bytes", "must be positive, got %d", h.MaxBodyBytes)
	ck.when(h.MaxHeaderBytes <= 0, "http.max_header_bytes", "must be positive, got %d", h.MaxHeaderBytes)
	for i, p := range h.TrustedProxies {
		_, err := netip.ParsePrefix(p)
		ck.when(err != nil, fmt.Sprintf("http.trusted_proxies[%d]", i), "must be a CIDR such as 10.0.0.0/8, got %q", p)
	}
	ck.when((h.TLSCertFile == "") != (h.TLSKeyFile == ""), "http.tls_cert_file", "tls_cert_file and tls_key_file must be set together")
	ck.readable("http.tls_cert_file", h.TLSCertFile)
	ck.readable("http.tls_key_file", h.TLSKeyFile)
}

func (ck *checker) readable(key, path string) {
	if path == "" {
		return
	}
	f, err := os.Open(path)
	if err != nil {
		ck.add(key, "cannot read: %v", err)
		return
	}
	_ = f.Close()
}

// checkSecrets checks every Secret in c and returns the values it could read,
// by key, for the rules that look at the value (KEK format, admin token length).
func (c *Config) checkSecrets(ck *checker) map[string]string {
	revealed := map[string]string{}
	eachSecret(c, func(key string, s *Secret) {
		if s.IsZero() {
			ck.add(key, "required: set {file: PATH} or {env: VARIABLE}")
			return
		}
		if err := s.checkOneSource(); err != nil {
			ck.add(key, "%v", err)
			return
		}
		if s.Inline() && !c.AllowInlineSecrets {
			ck.add(key, "inline secret values are not allowed: use {file: PATH} or {env: VARIABLE}")
			return
		}
		v, err := s.Reveal()
		if err != nil {
			ck.add(key, "%v", err)
			return
		}
		revealed[key] = v
	})
	return revealed
}

func (c *Config) checkAdmin(ck *checker, revealed map[string]string) {
	a := c.Admin
	if a.Addr != "" {
		ck.addr("admin.addr", a.Addr)
		ck.when(a.Addr == c.HTTP.Addr, "admin.addr", "must differ from http.addr: the admin API must not share the public listener")
		if host, _, err := net.SplitHostPort(a.Addr); err == nil && !a.AllowRemote {
			ck.when(!IsLoopbackHost(host), "admin.addr", "must be a loopback address (127.0.0.1:PORT, [::1]:PORT, localhost:PORT): the admin listener speaks plain HTTP and carries admin bearer tokens; set admin.allow_remote: true only when TLS or a private network protects it")
		}
		ck.when(len(a.Tokens) == 0, "admin.tokens", `at least one token is required while admin.addr is set (set admin.addr to "" to disable the admin listener)`)
	}
	names := map[string]int{}
	values := map[string]int{}
	for i, t := range a.Tokens {
		key := fmt.Sprintf("admin.tokens[%d]", i)
		if t.Name == "" {
			ck.add(key+".name", "required (it names the caller in logs)")
		} else if j, dup := names[t.Name]; dup {
			ck.add(key+".name", "duplicate of admin.tokens[%d].name %q", j, t.Name)
		} else {
			names[t.Name] = i
		}
		v, ok := revealed[key+".token"]
		if !ok {
			continue
		}
		// Inline tokens exist only in dev mode (AllowInlineSecrets), whose token
		// is printed on screen anyway; the length rule protects real ones.
		ck.when(len(v) < minAdminTokenLen && !t.Token.Inline(), key+".token",
			"must be at least %d characters, got %d", minAdminTokenLen, len(v))
		if j, dup := values[v]; dup {
			ck.add(key+".token", "same value as admin.tokens[%d].token", j)
		} else {
			values[v] = i
		}
	}
}

func (c *Config) checkStorage(ck *checker) {
	s := c.Storage
	switch dsn := s.DSN; {
	case dsn == "":
		ck.add("storage.dsn", "required, e.g. sqlite:///var/lib/wxoidc/wxoidc.db or postgres://user@host/db")
	case strings.HasPrefix(dsn, "sqlite://"):
		path, _, _ := strings.Cut(strings.TrimPrefix(dsn, "sqlite://"), "?")
		ck.when(path == "", "storage.dsn", "sqlite DSN needs a path, e.g. sqlite:///var/lib/wxoidc/wxoidc.db")
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		// The DSN may hold a password: report that it is malformed, not what it says.
		_, err := url.Parse(dsn)
		ck.when(err != nil, "storage.dsn", "not a valid postgres URL")
	default:
		scheme, _, ok := strings.Cut(dsn, "://")
		if !ok {
			scheme = ""
		}
		ck.add("storage.dsn", "must start with sqlite://, postgres:// or postgresql://, got scheme %q", scheme)
	}
	ck.oneOf("storage.sqlite_synchronous", s.SQLiteSynchronous, "FULL", "NORMAL")
	ck.positive("storage.sqlite_busy_timeout", s.SQLiteBusyTimeout)
	ck.when(s.PostgresMaxConns < 1, "storage.postgres_max_conns", "must be at least 1, got %d", s.PostgresMaxConns)
	ck.positive("storage.cleanup_interval", s.CleanupInterval)
	ck.when(s.CleanupBatch < 1, "storage.cleanup_batch", "must be at least 1, got %d", s.CleanupBatch)
}

func (c *Config) checkKEK(ck *checker, revealed map[string]string) {
	v, ok := revealed["secrets.kek"]
	if !ok {
		return
	}
	// The same rule the server applies when it builds its cipher.
	if _, err := keys.ParseKEK(v); err != nil {
		ck.add("secrets.kek", "%v", err)
	}
}

// validScanPage accepts what WeChat takes as a code's page: a path without
// a leading slash or a query (docs/wechat.md §6.3).
func validScanPage(p string) bool {
	if len(p) > 256 || strings.HasPrefix(p, "/") || strings.ContainsAny(p, "?#% ") {
		return false
	}
	for _, r := range p {
		if r < 0x21 || r > 0x7e {
			return false
		}
	}
	return true
}

func (c *Config) checkWeChat(ck *checker) {
	w := c.WeChat
	ck.serviceURL("wechat.base_url", w.BaseURL, true)
	for i, u := range w.FallbackBaseURLs {
		key := fmt.Sprintf("wechat.fallback_base_urls[%d]", i)
		ck.when(u == "", key, "must not be empty")
		ck.serviceURL(key, u, false)
	}
	ck.serviceURL("wechat.browser_base_url", w.BrowserBaseURL, true)
	ck.positive("wechat.call_timeout", w.CallTimeout)
	seen := map[string]int{}
	for i, app := range w.Apps {
		ck.when(app.Kind != "" && !slices.Contains(WeChatKinds, app.Kind), fmt.Sprintf("wechat.apps[%d].kind", i),
			"app %q: must be one of %s, got %q", app.AppID, strings.Join(WeChatKinds, ", "), app.Kind)
		ck.when(app.OpenPlatform != strings.TrimSpace(app.OpenPlatform), fmt.Sprintf("wechat.apps[%d].open_platform", i),
			"app %q: must not have surrounding spaces", app.AppID)
		ck.when((app.ScanPage != "" || app.ScanEnvVersion != "") && app.Kind != "" && app.Kind != WeChatKindMiniProgram, fmt.Sprintf("wechat.apps[%d].scan_page", i),
			"app %q: only a miniprogram has scan codes", app.AppID)
		ck.when(!validScanPage(app.ScanPage), fmt.Sprintf("wechat.apps[%d].scan_page", i),
			"app %q: must be a page path like pages/scan/index (no leading /, no query, at most 256 characters)", app.AppID)
		ck.when(app.ScanEnvVersion != "" && !slices.Contains(ScanEnvVersions, app.ScanEnvVersion), fmt.Sprintf("wechat.apps[%d].scan_env_version", i),
			"app %q: must be one of %s, got %q", app.AppID, strings.Join(ScanEnvVersions, ", "), app.ScanEnvVersion)
		key := fmt.Sprintf("wechat.apps[%d].appid", i)
		switch j, dup := seen[app.AppID]; {
		case strings.TrimSpace(app.AppID) == "":
			ck.add(key, "required")
		case app.AppID != strings.TrimSpace(app.AppID):
			ck.add(key, "must not have surrounding spaces")
		case dup:
			ck.add(key, "duplicate of wechat.apps[%d].appid %q", j, app.AppID)
		default:
			seen[app.AppID] = i
		}
	}
}

// wechatUserMinuteQuota is WeChat's documented jscode2session limit per user
// per minute (docs/wechat.md §2); above it WeChat answers 45011.
const wechatUserMinuteQuota = 100

// rate checks one token bucket: Limit 0 disables it, anything else needs a
// positive period and burst.
func (ck *checker) rate(key string, r Rate) {
	ck.when(r.Limit < 0, key+".limit", "must not be negative (0 disables the limit), got %d", r.Limit)
	if r.Limit <= 0 {
		return
	}
	ck.positive(key+".per", r.Per)
	ck.when(r.Burst < 1, key+".burst", "must be at least 1 while the limit is on, got %d", r.Burst)
}

func (c *Config) checkLimits(ck *checker) {
	l := c.Limits
	l.eachRate(func(key string, r *Rate) { ck.rate(key, *r) })
	if u := l.WeChatPerUser; u.Limit > 0 && u.Per.Duration > 0 && u.Burst > 0 {
		// A full bucket admits Burst calls at once, then Limit per Per: the
		// most any one minute can see.
		perMinute := float64(u.Burst) + float64(u.Limit)*float64(time.Minute)/float64(u.Per.Duration)
		ck.when(perMinute >= wechatUserMinuteQuota, "limits.wechat_per_user",
			"admits up to %.0f calls per user per minute (burst + limit per minute); keep it below WeChat's %d, above which WeChat answers 45011",
			perMinute, wechatUserMinuteQuota)
	}
	ck.when(l.MaxTrackedKeys < 1, "limits.max_tracked_keys", "must be at least 1, got %d", l.MaxTrackedKeys)
	ck.when(l.WeChatMaxConcurrency < 1, "limits.wechat_max_concurrency", "must be at least 1, got %d", l.WeChatMaxConcurrency)
	ck.positive("limits.wechat_queue_timeout", l.WeChatQueueTimeout)
	b := l.Breaker
	ck.positive("limits.breaker.window", b.Window)
	ck.when(b.MinRequests < 1, "limits.breaker.min_requests", "must be at least 1, got %d", b.MinRequests)
	ck.when(b.FailurePercent < 1 || b.FailurePercent > 100, "limits.breaker.failure_percent", "must be between 1 and 100, got %d", b.FailurePercent)
	ck.positive("limits.breaker.open_for", b.OpenFor)
	ck.when(b.Probes < 1, "limits.breaker.probes", "must be at least 1, got %d", b.Probes)
}

func (c *Config) checkTokens(ck *checker) {
	t := c.Tokens
	ck.oneOf("tokens.access_token_format", t.AccessTokenFormat, "jwt", "opaque")
	ck.positive("tokens.access_token_lifetime", t.AccessTokenLifetime)
	ck.positive("tokens.id_token_lifetime", t.IDTokenLifetime)
	ck.positive("tokens.refresh_token_lifetime", t.RefreshTokenLifetime)
	ck.when(t.AuthorizationCodeLifetime.Duration <= 0 || t.AuthorizationCodeLifetime.Duration > maxAuthorizationCodeLifetime, "tokens.authorization_code_lifetime",
		"must be more than 0 and at most %s, got %s", D(maxAuthorizationCodeLifetime), t.AuthorizationCodeLifetime)
	ck.when(t.RefreshTokenGrace.Duration < 0 || t.RefreshTokenGrace.Duration > maxRefreshTokenGrace, "tokens.refresh_token_grace",
		"must be between 0 and %s, got %s", D(maxRefreshTokenGrace), t.RefreshTokenGrace)
}

func (c *Config) checkKeys(ck *checker) {
	k := c.Keys
	supported := keys.SupportedAlgorithms
	ck.when(len(k.Algorithms) == 0, "keys.algorithms", "must not be empty")
	seen := map[string]bool{}
	for i, alg := range k.Algorithms {
		key := fmt.Sprintf("keys.algorithms[%d]", i)
		switch {
		case !slices.Contains(supported, alg):
			ck.add(key, "unsupported algorithm %q (supported: %s)", alg, strings.Join(supported, ", "))
		case seen[alg]:
			ck.add(key, "duplicate algorithm %q", alg)
		}
		seen[alg] = true
	}
	ck.when(len(k.Algorithms) > 0 && !seen[keys.RS256], "keys.algorithms", "must include RS256, which OpenID Connect requires")
	ck.when(!seen[k.DefaultAlgorithm], "keys.default_algorithm", "must be one of keys.algorithms, got %q", k.DefaultAlgorithm)
	ck.when(!seen[k.AccessTokenAlgorithm], "keys.access_token_algorithm", "must be one of keys.algorithms, got %q", k.AccessTokenAlgorithm)
	ck.when(k.RSABits != 2048 && k.RSABits != 3072, "keys.rsa_bits", "must be 2048 or 3072, got %d", k.RSABits)
	ck.positive("keys.reload_interval", k.ReloadInterval)
	ck.positive("keys.jwks_max_age", k.JWKSMaxAge)
	ck.when(k.JWKSMaxAge.Duration > k.ReloadInterval.Duration, "keys.jwks_max_age",
		"must not exceed keys.reload_interval (%s), got %s", k.ReloadInterval, k.JWKSMaxAge)
	// A new key is published as "next" one period before it signs. Relying
	// parties and other instances must see it first: the period has to exceed
	// the time for every instance to reload plus every cache to expire.
	ck.when(k.RotationPeriod.Duration < 0, "keys.rotation_period", "must not be negative (0 disables rotation), got %s", k.RotationPeriod)
	ck.when(k.RotationPeriod.Duration > 0 && k.RotationPeriod.Duration <= k.ReloadInterval.Duration+k.JWKSMaxAge.Duration,
		"keys.rotation_period", "must exceed keys.reload_interval + keys.jwks_max_age (%s) so that relying parties see a key before it signs, got %s",
		D(k.ReloadInterval.Duration+k.JWKSMaxAge.Duration), k.RotationPeriod)
	ck.when(k.ClockSkew.Duration < 0, "keys.clock_skew", "must not be negative, got %s", k.ClockSkew)
}
