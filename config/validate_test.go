package config

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/keys"
)

func TestValidateRules(t *testing.T) {
	certFile := writeFile(t, "cert.pem", "cert")
	tests := []struct {
		name   string
		mutate func(c *Config)
		key    string // the key the problem must name
		msg    string // a substring of its message
	}{
		// issuer
		{"issuer required", func(c *Config) { c.Issuer = "" }, "issuer", "required"},
		{"issuer http on public host", func(c *Config) { c.Issuer = "http://id.example.com" }, "issuer", "must use https"},
		{"issuer other scheme", func(c *Config) { c.Issuer = "ftp://id.example.com" }, "issuer", `scheme "ftp"`},
		{"issuer relative", func(c *Config) { c.Issuer = "id.example.com" }, "issuer", "must be an https URL"},
		{"issuer without host", func(c *Config) { c.Issuer = "https:///path" }, "issuer", "must include a host"},
		{"issuer query", func(c *Config) { c.Issuer = "https://id.example.com?x=1" }, "issuer", "query"},
		{"issuer empty query", func(c *Config) { c.Issuer = "https://id.example.com?" }, "issuer", "query"},
		{"issuer fragment", func(c *Config) { c.Issuer = "https://id.example.com#x" }, "issuer", "fragment"},
		{"issuer user info", func(c *Config) { c.Issuer = "https://u:p@id.example.com" }, "issuer", "user info"},
		{"issuer trailing slash (not normalised)", func(c *Config) { c.Issuer = "https://id.example.com/" }, "issuer", "must not end with /"},
		{"issuer unparsable", func(c *Config) { c.Issuer = "https://id.example.com/%zz" }, "issuer", "not a valid URL"},
		// http
		{"http addr required", func(c *Config) { c.HTTP.Addr = "" }, "http.addr", "required"},
		{"http addr without port", func(c *Config) { c.HTTP.Addr = "localhost" }, "http.addr", "host:port"},
		{"http addr named port", func(c *Config) { c.HTTP.Addr = ":http" }, "http.addr", "port must be a number"},
		{"http addr port range", func(c *Config) { c.HTTP.Addr = ":70000" }, "http.addr", "port must be a number"},
		{"read header timeout", func(c *Config) { c.HTTP.ReadHeaderTimeout = D(0) }, "http.read_header_timeout", "must be positive"},
		{"read timeout", func(c *Config) { c.HTTP.ReadTimeout = D(-time.Second) }, "http.read_timeout", "must be positive, got -1s"},
		{"write timeout", func(c *Config) { c.HTTP.WriteTimeout = D(0) }, "http.write_timeout", "must be positive"},
		{"idle timeout", func(c *Config) { c.HTTP.IdleTimeout = D(0) }, "http.idle_timeout", "must be positive"},
		{"shutdown timeout", func(c *Config) { c.HTTP.ShutdownTimeout = D(0) }, "http.shutdown_timeout", "must be positive"},
		{"max body bytes", func(c *Config) { c.HTTP.MaxBodyBytes = 0 }, "http.max_body_bytes", "must be positive"},
		{"max header bytes", func(c *Config) { c.HTTP.MaxHeaderBytes = -1 }, "http.max_header_bytes", "must be positive"},
		{"trusted proxy not a CIDR", func(c *Config) { c.HTTP.TrustedProxies = []string{"10.0.0.0/8", "10.0.0.1"} }, "http.trusted_proxies[1]", "CIDR"},
		{"tls cert without key", func(c *Config) { c.HTTP.TLSCertFile = certFile }, "http.tls_cert_file", "set together"},
		{"tls key unreadable", func(c *Config) { c.HTTP.TLSCertFile, c.HTTP.TLSKeyFile = certFile, certFile+".missing" }, "http.tls_key_file", "cannot read"},
		// admin
		{"admin addr malformed", func(c *Config) { c.Admin.Addr = "127.0.0.1" }, "admin.addr", "host:port"},
		{"admin addr equals http addr", func(c *Config) { c.Admin.Addr = c.HTTP.Addr }, "admin.addr", "must differ"},
		{"admin tokens required", func(c *Config) { c.Admin.Tokens = nil }, "admin.tokens", "at least one token"},
		{"admin on all interfaces", func(c *Config) { c.Admin.Addr = ":8081" }, "admin.addr", "must be a loopback address"},
		{"admin on 0.0.0.0", func(c *Config) { c.Admin.Addr = "0.0.0.0:8081" }, "admin.addr", "admin.allow_remote"},
		{"admin on a LAN address", func(c *Config) { c.Admin.Addr = "10.1.2.3:8081" }, "admin.addr", "must be a loopback address"},
		{"admin on a host name", func(c *Config) { c.Admin.Addr = "admin.internal:8081" }, "admin.addr", "must be a loopback address"},
		{"admin token name required", func(c *Config) { c.Admin.Tokens[0].Name = "" }, "admin.tokens[0].name", "required"},
		{"admin token name duplicate", func(c *Config) {
			c.Admin.Tokens = append(c.Admin.Tokens, AdminToken{Name: "ops", Token: c.Admin.Tokens[0].Token})
		}, "admin.tokens[1].name", "duplicate"},
		{"admin token value duplicate", func(c *Config) {
			c.Admin.Tokens = append(c.Admin.Tokens, AdminToken{Name: "ci", Token: c.Admin.Tokens[0].Token})
		}, "admin.tokens[1].token", "same value as admin.tokens[0].token"},
		{"admin token too short", func(c *Config) {
			c.Admin.Tokens[0].Token = FileSecret(writeFile(t, "short", "short-token\n"))
		}, "admin.tokens[0].token", "at least 32 characters, got 11"},
		{"admin token missing", func(c *Config) { c.Admin.Tokens[0].Token = Secret{} }, "admin.tokens[0].token", "required"},
		// storage
		{"dsn required", func(c *Config) { c.Storage.DSN = "" }, "storage.dsn", "required"},
		{"dsn scheme", func(c *Config) { c.Storage.DSN = "mysql://u:pw@h/db" }, "storage.dsn", `got scheme "mysql"`},
		{"dsn no scheme", func(c *Config) { c.Storage.DSN = "/var/lib/x.db" }, "storage.dsn", `got scheme ""`},
		{"sqlite dsn without path", func(c *Config) { c.Storage.DSN = "sqlite://?mode=rwc" }, "storage.dsn", "needs a path"},
		{"postgres dsn malformed", func(c *Config) { c.Storage.DSN = "postgres://u:pw@h/%zz" }, "storage.dsn", "not a valid postgres URL"},
		{"sqlite synchronous", func(c *Config) { c.Storage.SQLiteSynchronous = "OFF" }, "storage.sqlite_synchronous", "FULL, NORMAL"},
		{"sqlite busy timeout", func(c *Config) { c.Storage.SQLiteBusyTimeout = D(0) }, "storage.sqlite_busy_timeout", "must be positive"},
		{"postgres max conns", func(c *Config) { c.Storage.PostgresMaxConns = 0 }, "storage.postgres_max_conns", "at least 1"},
		{"cleanup interval", func(c *Config) { c.Storage.CleanupInterval = D(0) }, "storage.cleanup_interval", "must be positive"},
		{"cleanup batch", func(c *Config) { c.Storage.CleanupBatch = 0 }, "storage.cleanup_batch", "at least 1"},
		// secrets
		{"kek required", func(c *Config) { c.Secrets.KEK = Secret{} }, "secrets.kek", "required"},
		{"kek inline", func(c *Config) { c.Secrets.KEK = InlineSecret(testKEK) }, "secrets.kek", "inline secret values are not allowed"},
		{"kek two sources", func(c *Config) { c.Secrets.KEK = Secret{file: "/x", env: "KEK"} }, "secrets.kek", "more than one source"},
		{"kek file missing", func(c *Config) { c.Secrets.KEK = FileSecret("/nonexistent/wxoidc-kek") }, "secrets.kek", "no such file"},
		{"kek file empty", func(c *Config) { c.Secrets.KEK = FileSecret(writeFile(t, "kek", "\n")) }, "secrets.kek", "is empty"},
		{"kek env unset", func(c *Config) {
			c.Secrets.KEK = EnvSecret("NO_SUCH_VARIABLE")
			bindSecrets(c, newEnvironment(baseEnviron()))
		}, "secrets.kek", "NO_SUCH_VARIABLE is not set"},
		{"kek env empty", func(c *Config) {
			c.Secrets.KEK = EnvSecret("EMPTY")
			bindSecrets(c, newEnvironment(append(baseEnviron(), "EMPTY=")))
		}, "secrets.kek", "EMPTY is empty"},
		{"kek wrong length", func(c *Config) {
			c.Secrets.KEK = FileSecret(writeFile(t, "kek", "c2hvcnQ=\n"))
		}, "secrets.kek", "must be 32 bytes"},
		{"kek 63 hex digits", func(c *Config) {
			c.Secrets.KEK = FileSecret(writeFile(t, "kek", strings.Repeat("a", 63)))
		}, "secrets.kek", "must be 32 bytes"},
		{"kek with white space inside", func(c *Config) {
			c.Secrets.KEK = FileSecret(writeFile(t, "kek", testKEK[:20]+"\n"+testKEK[20:]+"\n"))
		}, "secrets.kek", "white space inside"},
		// wechat
		{"wechat base url required", func(c *Config) { c.WeChat.BaseURL = "" }, "wechat.base_url", "required"},
		{"wechat base url http", func(c *Config) { c.WeChat.BaseURL = "http://api.weixin.qq.com" }, "wechat.base_url", "must use https"},
		{"wechat fallback http", func(c *Config) { c.WeChat.FallbackBaseURLs = []string{"http://api2.weixin.qq.com"} }, "wechat.fallback_base_urls[0]", "must use https"},
		{"wechat fallback empty", func(c *Config) { c.WeChat.FallbackBaseURLs = []string{""} }, "wechat.fallback_base_urls[0]", "must not be empty"},
		{"wechat call timeout", func(c *Config) { c.WeChat.CallTimeout = D(0) }, "wechat.call_timeout", "must be positive"},
		{"appid required", func(c *Config) { c.WeChat.Apps[0].AppID = "" }, "wechat.apps[0].appid", "required"},
		{"scan page leading slash", func(c *Config) { c.WeChat.Apps[0].ScanPage = "/pages/scan/index" }, "wechat.apps[0].scan_page", "page path"},
		{"scan page query", func(c *Config) { c.WeChat.Apps[0].ScanPage = "pages/scan/index?x=1" }, "wechat.apps[0].scan_page", "page path"},
		{"scan page non-ASCII", func(c *Config) { c.WeChat.Apps[0].ScanPage = "pages/扫码/index" }, "wechat.apps[0].scan_page", "page path"},
		{"scan env version", func(c *Config) { c.WeChat.Apps[0].ScanEnvVersion = "beta" }, "wechat.apps[0].scan_env_version", "release, trial, develop"},
		{"scan page on a website app", func(c *Config) {
			c.WeChat.Apps[0].Kind = WeChatKindWebsite
			c.WeChat.Apps[0].ScanPage = "pages/scan/index"
		}, "wechat.apps[0].scan_page", "only a miniprogram"},
		{"appid spaces", func(c *Config) { c.WeChat.Apps[0].AppID = " wx1 " }, "wechat.apps[0].appid", "surrounding spaces"},
		{"appid duplicate", func(c *Config) {
			c.WeChat.Apps = append(c.WeChat.Apps, WeChatApp{AppID: c.WeChat.Apps[0].AppID, Secret: c.WeChat.Apps[0].Secret})
		}, "wechat.apps[1].appid", "duplicate"},
		{"app secret required", func(c *Config) { c.WeChat.Apps[0].Secret = Secret{} }, "wechat.apps[0].secret", "required"},
		{"app secret inline", func(c *Config) { c.WeChat.Apps[0].Secret = InlineSecret("s") }, "wechat.apps[0].secret", "inline"},
		{"app kind unknown", func(c *Config) { c.WeChat.Apps[0].Kind = "mini_program" }, "wechat.apps[0].kind", `app "wx1234567890abcdef": must be one of miniprogram, website, official_account, mobile_app, got "mini_program"`},
		{"app kind of the emulator's spelling", func(c *Config) {
			c.WeChat.Apps = append(c.WeChat.Apps, WeChatApp{AppID: "wx2", Secret: c.WeChat.Apps[0].Secret, Kind: "officialaccount"})
		}, "wechat.apps[1].kind", `app "wx2"`},
		{"open platform spaces", func(c *Config) { c.WeChat.Apps[0].OpenPlatform = " op " }, "wechat.apps[0].open_platform", "surrounding spaces"},
		{"browser base url required", func(c *Config) { c.WeChat.BrowserBaseURL = "" }, "wechat.browser_base_url", "required"},
		{"browser base url http", func(c *Config) { c.WeChat.BrowserBaseURL = "http://open.weixin.qq.com" }, "wechat.browser_base_url", "must use https"},
		{"browser base url relative", func(c *Config) { c.WeChat.BrowserBaseURL = "open.weixin.qq.com" }, "wechat.browser_base_url", "must be an https URL"},
		{"browser base url query", func(c *Config) { c.WeChat.BrowserBaseURL = "https://open.weixin.qq.com?x=1" }, "wechat.browser_base_url", "query"},
		{"browser base url fragment", func(c *Config) { c.WeChat.BrowserBaseURL = "https://open.weixin.qq.com#wechat_redirect" }, "wechat.browser_base_url", "fragment"},
		// tokens
		{"access token format", func(c *Config) { c.Tokens.AccessTokenFormat = "paseto" }, "tokens.access_token_format", "jwt, opaque"},
		{"access token lifetime", func(c *Config) { c.Tokens.AccessTokenLifetime = D(0) }, "tokens.access_token_lifetime", "must be positive"},
		{"id token lifetime", func(c *Config) { c.Tokens.IDTokenLifetime = D(0) }, "tokens.id_token_lifetime", "must be positive"},
		{"refresh token lifetime", func(c *Config) { c.Tokens.RefreshTokenLifetime = D(0) }, "tokens.refresh_token_lifetime", "must be positive"},
		{"code lifetime zero", func(c *Config) { c.Tokens.AuthorizationCodeLifetime = D(0) }, "tokens.authorization_code_lifetime", "must be more than 0"},
		{"code lifetime too long", func(c *Config) { c.Tokens.AuthorizationCodeLifetime = D(11 * time.Minute) }, "tokens.authorization_code_lifetime", "at most 10m"},
		{"refresh grace too long", func(c *Config) { c.Tokens.RefreshTokenGrace = D(10 * time.Minute) }, "tokens.refresh_token_grace", "must be between 0 and 5m, got 10m"},
		{"refresh grace negative", func(c *Config) { c.Tokens.RefreshTokenGrace = D(-time.Second) }, "tokens.refresh_token_grace", "must be between 0 and 5m"},
		// keys
		{"algorithms empty", func(c *Config) { c.Keys.Algorithms = nil }, "keys.algorithms", "must not be empty"},
		{"algorithm unsupported", func(c *Config) { c.Keys.Algorithms = []string{keys.RS256, "HS256"} }, "keys.algorithms[1]", `unsupported algorithm "HS256"`},
		{"algorithm duplicate", func(c *Config) { c.Keys.Algorithms = []string{keys.RS256, keys.ES256, keys.RS256} }, "keys.algorithms[2]", "duplicate"},
		{"algorithms without RS256", func(c *Config) {
			c.Keys.Algorithms, c.Keys.DefaultAlgorithm = []string{keys.ES256}, keys.ES256
		}, "keys.algorithms", "must include RS256"},
		{"default algorithm not listed", func(c *Config) { c.Keys.DefaultAlgorithm = "PS256" }, "keys.default_algorithm", "must be one of keys.algorithms"},
		{"access token algorithm not listed", func(c *Config) { c.Keys.Algorithms = []string{keys.RS256} }, "keys.access_token_algorithm", `got "ES256"`},
		{"rsa bits", func(c *Config) { c.Keys.RSABits = 1024 }, "keys.rsa_bits", "2048 or 3072"},
		{"reload interval", func(c *Config) { c.Keys.ReloadInterval = D(0) }, "keys.reload_interval", "must be positive"},
		{"jwks max age zero", func(c *Config) { c.Keys.JWKSMaxAge = D(0) }, "keys.jwks_max_age", "must be positive"},
		{"jwks max age above reload", func(c *Config) { c.Keys.JWKSMaxAge = D(time.Minute) }, "keys.jwks_max_age", "must not exceed keys.reload_interval (30s), got 1m"},
		{"rotation negative", func(c *Config) { c.Keys.RotationPeriod = D(-time.Hour) }, "keys.rotation_period", "must not be negative"},
		{"rotation faster than caches", func(c *Config) { c.Keys.RotationPeriod = D(time.Minute) }, "keys.rotation_period", "must exceed"},
		{"clock skew negative", func(c *Config) { c.Keys.ClockSkew = D(-time.Second) }, "keys.clock_skew", "must not be negative"},
		// clients, accounts, log
		{"hash cost low", func(c *Config) { c.Clients.SecretHashCost = 1000 }, "clients.secret_hash_cost", "between 10000 and 10000000, got 1000"},
		{"hash cost high", func(c *Config) { c.Clients.SecretHashCost = maxSecretHashCost + 1 }, "clients.secret_hash_cost", "between"},
		{"default audience empty", func(c *Config) { c.Accounts.DefaultAudience = "" }, "accounts.default_audience", "must not be empty"},
		{"log level", func(c *Config) { c.Log.Level = "trace" }, "log.level", `got "trace"`},
		{"log format", func(c *Config) { c.Log.Format = "xml" }, "log.format", "json, text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig(t)
			tt.mutate(c)
			err := c.Validate()
			if err == nil {
				t.Fatalf("Validate() = nil, want a problem for %s", tt.key)
			}
			problems := problemsOf(t, err)
			if !hasProblem(problems, tt.key, tt.msg) {
				t.Fatalf("no problem %s: …%s…; got:\n%v", tt.key, tt.msg, err)
			}
		})
	}
}

func TestValidateAccepts(t *testing.T) {
	hexKEK := strings.Repeat("0f", 32)
	tests := []struct {
		name   string
		mutate func(c *Config)
	}{
		{"loopback http issuer", func(c *Config) { c.Issuer = "http://127.0.0.1:8080" }},
		{"localhost http issuer", func(c *Config) { c.Issuer = "http://localhost:8080" }},
		{"ipv6 loopback issuer", func(c *Config) { c.Issuer = "http://[::1]:8080" }},
		{"issuer with path", func(c *Config) { c.Issuer = "https://example.com/oidc" }},
		{"loopback wechat emulator", func(c *Config) { c.WeChat.BaseURL = "http://127.0.0.1:8080/wechat-emulator" }},
		{"no fallbacks", func(c *Config) { c.WeChat.FallbackBaseURLs = nil }},
		{"no wechat apps", func(c *Config) { c.WeChat.Apps = nil }},
		{"every app kind", func(c *Config) {
			sec := c.WeChat.Apps[0].Secret
			c.WeChat.Apps = []WeChatApp{
				{AppID: "wx1", Secret: sec, Kind: "miniprogram", OpenPlatform: "op"},
				{AppID: "wx2", Secret: sec, Kind: "website", OpenPlatform: "op"},
				{AppID: "wx3", Secret: sec, Kind: "official_account"},
				{AppID: "wx4", Secret: sec, Kind: "mobile_app", OpenPlatform: "other op"},
				{AppID: "wx5", Secret: sec}, // kind "" before Normalize: a mini-program
			}
		}},
		{"loopback browser base url", func(c *Config) { c.WeChat.BrowserBaseURL = "http://127.0.0.1:8080/wechat-emulator" }},
		{"admin disabled without tokens", func(c *Config) { c.Admin.Addr, c.Admin.Tokens = "", nil }},
		{"admin on ipv6 loopback", func(c *Config) { c.Admin.Addr = "[::1]:8081" }},
		{"admin on localhost", func(c *Config) { c.Admin.Addr = "localhost:8081" }},
		{"admin remote when allowed", func(c *Config) { c.Admin.Addr, c.Admin.AllowRemote = "0.0.0.0:8081", true }},
		{"postgres dsn", func(c *Config) { c.Storage.DSN = "postgres://wxoidc:pw@db:5432/wxoidc?sslmode=require" }},
		{"postgresql dsn", func(c *Config) { c.Storage.DSN = "postgresql:///wxoidc?host=/run/postgresql" }},
		{"relative sqlite path", func(c *Config) { c.Storage.DSN = "sqlite://wxoidc.db" }},
		{"sqlite normal", func(c *Config) { c.Storage.SQLiteSynchronous = "NORMAL" }},
		{"opaque access tokens", func(c *Config) { c.Tokens.AccessTokenFormat = "opaque" }},
		{"grace at limit", func(c *Config) { c.Tokens.RefreshTokenGrace = D(maxRefreshTokenGrace) }},
		{"rs256 only", func(c *Config) {
			c.Keys.Algorithms, c.Keys.AccessTokenAlgorithm = []string{keys.RS256}, keys.RS256
		}},
		{"rsa 3072", func(c *Config) { c.Keys.RSABits = 3072 }},
		{"rotation off", func(c *Config) { c.Keys.RotationPeriod = D(0) }},
		{"trusted proxies", func(c *Config) { c.HTTP.TrustedProxies = []string{"10.0.0.0/8", "fd00::/8"} }},
		{"tls", func(c *Config) {
			c.HTTP.TLSCertFile, c.HTTP.TLSKeyFile = writeFile(t, "c", "x"), writeFile(t, "k", "x")
		}},
		{"hex kek from file", func(c *Config) { c.Secrets.KEK = FileSecret(writeFile(t, "kek", hexKEK+"\n")) }},
		{"raw url base64 kek", func(c *Config) {
			c.Secrets.KEK = FileSecret(writeFile(t, "kek", "_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-8"))
		}},
		{"inline secrets when allowed, short inline admin token", func(c *Config) {
			c.AllowInlineSecrets = true
			c.Secrets.KEK = InlineSecret(testKEK)
			c.Admin.Tokens = []AdminToken{{Name: "dev", Token: InlineSecret("dev-admin-token")}}
			c.WeChat.Apps[0].Secret = InlineSecret("dev-secret")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig(t)
			tt.mutate(c)
			if err := c.Validate(); err != nil {
				t.Fatalf("Validate() = %v, want nil", err)
			}
		})
	}
}

// TestValidateReportsEverything checks that problems are collected, not
// returned one at a time, and come out in a stable, readable form.
func TestValidateReportsEverything(t *testing.T) {
	c := validConfig(t)
	c.Issuer = ""
	c.Tokens.RefreshTokenGrace = D(10 * time.Minute)
	c.Keys.RSABits = 1024
	c.Log.Format = "xml"
	err := c.Validate()
	problems := problemsOf(t, err)
	want := []string{
		"issuer: required, e.g. https://id.example.com",
		"tokens.refresh_token_grace: must be between 0 and 5m, got 10m",
		"keys.rsa_bits: must be 2048 or 3072, got 1024",
		`log.format: must be one of json, text, got "xml"`,
	}
	if len(problems) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(problems), len(want), err)
	}
	for i, p := range problems {
		if p.String() != want[i] {
			t.Errorf("problem %d = %q, want %q", i, p, want[i])
		}
	}
	if got, wantHead := err.Error(), fmt.Sprintf("invalid configuration: %d problems\n  %s", len(want), want[0]); !strings.HasPrefix(got, wantHead) {
		t.Errorf("Error() = %q, want prefix %q", got, wantHead)
	}
}

// TestValidateNeverLeaksSecrets checks that no problem message repeats a
// secret or a DSN password, whatever is wrong with it.
func TestValidateNeverLeaksSecrets(t *testing.T) {
	const leak = "hunter2-not-for-logs"
	c := validConfig(t)
	c.Secrets.KEK = FileSecret(writeFile(t, "kek", leak))
	c.Admin.Tokens[0].Token = FileSecret(writeFile(t, "admin", leak))
	c.Storage.DSN = "postgres://u:" + leak + "@h/%zz"
	c.WeChat.Apps[0].Secret = InlineSecret(leak)
	c.Issuer = "http://u:" + leak + "@id.example.com"
	err := c.Validate()
	if err == nil {
		t.Fatal("want problems")
	}
	if strings.Contains(err.Error(), leak) {
		t.Fatalf("error leaks a secret: %v", err)
	}
	if n := len(problemsOf(t, err)); n < 5 {
		t.Fatalf("want at least 5 problems, got %d: %v", n, err)
	}
}
