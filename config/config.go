// Package config loads wxoidc's configuration: defaults, then a YAML file,
// then WXOIDC_* environment overrides, then normalisation and validation that
// reports every problem at once.
//
// Every YAML key has an environment variable: WXOIDC_ followed by its path in
// upper case joined with "_" (http.addr → WXOIDC_HTTP_ADDR,
// tokens.refresh_token_grace → WXOIDC_TOKENS_REFRESH_TOKEN_GRACE). The mapping
// is derived from the yaml struct tags, so a new key is overridable without
// further work. See config.example.yaml at the repository root.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/wxoidc/wxoidc/keys"
)

// Config is the whole configuration of `wxoidc serve`.
type Config struct {
	// Issuer is the OpenID issuer URL, e.g. https://id.example.com. Required;
	// https unless the host is loopback; no query or fragment. Normalize strips
	// a trailing slash.
	Issuer   string   `yaml:"issuer"`
	HTTP     HTTP     `yaml:"http"`
	Admin    Admin    `yaml:"admin"`
	Storage  Storage  `yaml:"storage"`
	Secrets  Secrets  `yaml:"secrets"`
	WeChat   WeChat   `yaml:"wechat"`
	Limits   Limits   `yaml:"limits"`
	Tokens   Tokens   `yaml:"tokens"`
	Keys     Keys     `yaml:"keys"`
	Clients  Clients  `yaml:"clients"`
	Accounts Accounts `yaml:"accounts"`
	Log      Log      `yaml:"log"`

	// AllowInlineSecrets lets Secrets hold their value inline. Only code sets
	// it (dev mode builds its config with well-known demo credentials); it has
	// no YAML key or environment variable, so a deployment cannot opt in.
	AllowInlineSecrets bool `yaml:"-"`
}

// HTTP configures the public listener.
type HTTP struct {
	Addr              string   `yaml:"addr"`
	ReadHeaderTimeout Duration `yaml:"read_header_timeout"`
	ReadTimeout       Duration `yaml:"read_timeout"`
	WriteTimeout      Duration `yaml:"write_timeout"`
	IdleTimeout       Duration `yaml:"idle_timeout"`
	ShutdownTimeout   Duration `yaml:"shutdown_timeout"`
	MaxBodyBytes      int64    `yaml:"max_body_bytes"`
	MaxHeaderBytes    int      `yaml:"max_header_bytes"`
	// TrustedProxies are CIDRs whose X-Forwarded-For is believed.
	TrustedProxies []string `yaml:"trusted_proxies"`
	TLSCertFile    string   `yaml:"tls_cert_file"`
	TLSKeyFile     string   `yaml:"tls_key_file"`
}

// Admin configures the admin listener (/admin/*, /metrics, health).
type Admin struct {
	// Addr is the admin listen address; "" disables the listener. It must
	// be a loopback address unless AllowRemote is set.
	Addr string `yaml:"addr"`
	// AllowRemote lets Addr be a non-loopback address. The admin listener
	// speaks plain HTTP and every request carries an admin bearer token, so
	// set it only when TLS (a terminating proxy, a service mesh) or a
	// private network protects the path; the server then still warns at
	// start.
	AllowRemote bool         `yaml:"allow_remote"`
	Tokens      []AdminToken `yaml:"tokens"`
}

// AdminToken is a bearer token accepted by the admin API.
type AdminToken struct {
	Name  string `yaml:"name"`
	Token Secret `yaml:"token"`
}

// Storage configures the database.
type Storage struct {
	// DSN is sqlite://PATH, postgres://… or postgresql://….
	DSN               string   `yaml:"dsn"`
	MigrateOnStart    bool     `yaml:"migrate_on_start"`
	SQLiteSynchronous string   `yaml:"sqlite_synchronous"`
	SQLiteBusyTimeout Duration `yaml:"sqlite_busy_timeout"`
	PostgresMaxConns  int      `yaml:"postgres_max_conns"`
	CleanupInterval   Duration `yaml:"cleanup_interval"`
	CleanupBatch      int      `yaml:"cleanup_batch"`
}

// Secrets holds process-wide secrets.
type Secrets struct {
	// KEK is the key-encryption key for private keys and session keys at
	// rest: 32 bytes as base64 (standard or URL alphabet) or 64 hex digits,
	// read by keys.ParseKEK (white space around it is ignored).
	KEK Secret `yaml:"kek"`
}

// WeChat configures the WeChat server API client.
type WeChat struct {
	BaseURL          string   `yaml:"base_url"`
	FallbackBaseURLs []string `yaml:"fallback_base_urls"`
	// BrowserBaseURL is where WeChat's browser authorize pages live
	// (/connect/qrconnect, /connect/oauth2/authorize); dev mode points it at
	// the emulator.
	BrowserBaseURL string      `yaml:"browser_base_url"`
	CallTimeout    Duration    `yaml:"call_timeout"`
	Apps           []WeChatApp `yaml:"apps"`
}

// WeChat app kinds (WeChatApp.Kind).
const (
	WeChatKindMiniProgram     = "miniprogram"      // wx.login codes (the default)
	WeChatKindWebsite         = "website"          // open platform website app: desktop QR login
	WeChatKindOfficialAccount = "official_account" // web OAuth inside WeChat's browser
	WeChatKindMobileApp       = "mobile_app"       // open platform mobile app: Open SDK codes
)

// WeChatKinds lists the valid WeChatApp.Kind values.
var WeChatKinds = []string{WeChatKindMiniProgram, WeChatKindWebsite, WeChatKindOfficialAccount, WeChatKindMobileApp}

// WeChatApp is one WeChat app (mini-program, website app, official account
// or mobile app) and its app secret.
type WeChatApp struct {
	AppID  string `yaml:"appid"`
	Secret Secret `yaml:"secret"`
	// Kind is one of WeChatKinds; Normalize turns "" into miniprogram.
	Kind string `yaml:"kind"`
	// OpenPlatform optionally names the WeChat open platform account the app
	// is bound to. Apps bound to one open platform see the same unionid for a
	// person; the label is informational (shown to operators), WeChat decides
	// the binding.
	OpenPlatform string `yaml:"open_platform"`
	// ScanPage is the mini-program page that PC sign-in codes open (the
	// page that asks the person to confirm; docs/contract.md §1.6), e.g.
	// "pages/scan/index"; empty is the mini-program's home page. Only for
	// kind miniprogram.
	ScanPage string `yaml:"scan_page"`
	// ScanEnvVersion is the mini-program version those codes open:
	// release (default), trial or develop. Trial and develop codes skip
	// WeChat's check that the page is released.
	ScanEnvVersion string `yaml:"scan_env_version"`
}

// Mini-program versions a scan code may open (WeChatApp.ScanEnvVersion).
var ScanEnvVersions = []string{"release", "trial", "develop"}

// Limits configures rate limits and the isolation of WeChat calls. Our own
// limits answer 429 slow_down with Retry-After; an unavailable WeChat (open
// breaker, no free call slot) answers 503 temporarily_unavailable.
type Limits struct {
	// TokenPerIP limits token-endpoint requests per client IP (an IPv6
	// client counts per /64). The IP is the peer address, or the
	// X-Forwarded-For entry added by the nearest http.trusted_proxies hop.
	TokenPerIP Rate `yaml:"token_per_ip"`
	// TokenPerClient limits token-endpoint requests per client, counted only
	// once the client has authenticated, so that nobody can spend another
	// client's bucket by naming it: a confidential client has one bucket; a
	// public client (auth method none), which anyone can name, has one per
	// caller network (IPv4 address, IPv6 /64). Failed authentications count
	// against TokenPerIP only.
	TokenPerClient Rate `yaml:"token_per_client"`
	// WeChatPerUser limits WeChat calls per (appid, openid). It must stay
	// below WeChat's 100 calls per user per minute, so that we answer 429
	// before WeChat answers 45011.
	WeChatPerUser Rate `yaml:"wechat_per_user"`
	// WeChatPerApp limits WeChat calls per appid.
	WeChatPerApp Rate `yaml:"wechat_per_app"`
	// PhoneLookupsPerAccount caps getuserphonenumber calls (paid) per account.
	PhoneLookupsPerAccount Rate `yaml:"phone_lookups_per_account"`
	// MaxTrackedKeys bounds the memory of each keyed limiter: beyond it the
	// least recently used key is forgotten.
	MaxTrackedKeys int `yaml:"max_tracked_keys"`
	// WeChatMaxConcurrency bounds WeChat calls in flight per instance.
	WeChatMaxConcurrency int `yaml:"wechat_max_concurrency"`
	// WeChatQueueTimeout is how long a call waits for a free slot before the
	// request fails with 503.
	WeChatQueueTimeout Duration `yaml:"wechat_queue_timeout"`
	Breaker            Breaker  `yaml:"breaker"`
}

// Rate is a token bucket: Limit requests per Per on average, bursts of up to
// Burst. Limit 0 disables the limit.
type Rate struct {
	Limit int      `yaml:"limit"`
	Per   Duration `yaml:"per"`
	Burst int      `yaml:"burst"`
}

// Enabled reports whether the rate limits anything.
func (r Rate) Enabled() bool { return r.Limit > 0 }

// eachRate calls fn with every rate limit of l and its configuration key.
// Validation and DisableRates go through it, so a new Rate field belongs
// here (a test checks that none is missing).
func (l *Limits) eachRate(fn func(key string, r *Rate)) {
	fn("limits.token_per_ip", &l.TokenPerIP)
	fn("limits.token_per_client", &l.TokenPerClient)
	fn("limits.wechat_per_user", &l.WeChatPerUser)
	fn("limits.wechat_per_app", &l.WeChatPerApp)
	fn("limits.phone_lookups_per_account", &l.PhoneLookupsPerAccount)
}

// DisableRates switches every rate limit off (Limit 0). Load tests use it:
// one load generator, one IP and a few clients would exhaust the per-IP and
// per-client limits at once.
func (l *Limits) DisableRates() {
	l.eachRate(func(_ string, r *Rate) { r.Limit = 0 })
}

// Breaker configures the circuit breaker in front of WeChat: it opens when,
// within one Window, at least MinRequests calls were made and at least
// FailurePercent of them failed (WeChat busy, timeout, transport error); it
// then fails fast for OpenFor, lets Probes trial calls through, and closes
// when they all succeed.
type Breaker struct {
	Window         Duration `yaml:"window"`
	MinRequests    int      `yaml:"min_requests"`
	FailurePercent int      `yaml:"failure_percent"`
	OpenFor        Duration `yaml:"open_for"`
	Probes         int      `yaml:"probes"`
}

// Tokens configures token formats and lifetimes.
type Tokens struct {
	AccessTokenFormat    string   `yaml:"access_token_format"`
	AccessTokenLifetime  Duration `yaml:"access_token_lifetime"`
	IDTokenLifetime      Duration `yaml:"id_token_lifetime"`
	RefreshTokenLifetime Duration `yaml:"refresh_token_lifetime"`
	// RefreshTokenGrace is how long a rotated refresh token may still be used
	// (0, the default, turns the grace window off).
	RefreshTokenGrace Duration `yaml:"refresh_token_grace"`
	// AuthorizationCodeLifetime bounds a browser sign-in's code (RFC 6749
	// §4.1.2 recommends at most 10 minutes; the default is 60 s).
	AuthorizationCodeLifetime Duration `yaml:"authorization_code_lifetime"`
}

// Keys configures signing keys and the JWKS.
type Keys struct {
	Algorithms           []string `yaml:"algorithms"`
	DefaultAlgorithm     string   `yaml:"default_algorithm"`
	AccessTokenAlgorithm string   `yaml:"access_token_algorithm"`
	RSABits              int      `yaml:"rsa_bits"`
	ReloadInterval       Duration `yaml:"reload_interval"`
	// JWKSMaxAge is the JWKS Cache-Control max-age; 0 means ReloadInterval.
	JWKSMaxAge Duration `yaml:"jwks_max_age"`
	// RotationPeriod is the automatic rotation period; 0 disables it.
	RotationPeriod Duration `yaml:"rotation_period"`
	ClockSkew      Duration `yaml:"clock_skew"`
}

// Clients configures client authentication.
type Clients struct {
	// SecretHashCost is the PBKDF2-SHA256 iteration count for client secrets
	// that are not server-generated (provider.SecretHasher); server-generated
	// secrets use a keyed hash and ignore it.
	SecretHashCost int `yaml:"secret_hash_cost"`
}

// Accounts configures account resolution.
type Accounts struct {
	// DefaultAudience is the access-token aud when a client has none
	// configured; "" means the issuer.
	DefaultAudience string `yaml:"default_audience"`
}

// Log configures the process logger.
type Log struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// Default returns the built-in defaults. It is not valid on its own: issuer,
// secrets.kek and (with the admin listener on) admin.tokens have no default.
func Default() *Config {
	return &Config{
		HTTP: HTTP{
			Addr:              ":8080",
			ReadHeaderTimeout: D(5 * time.Second),
			ReadTimeout:       D(10 * time.Second),
			WriteTimeout:      D(30 * time.Second),
			IdleTimeout:       D(2 * time.Minute),
			ShutdownTimeout:   D(20 * time.Second),
			MaxBodyBytes:      64 << 10,
			MaxHeaderBytes:    16 << 10,
			TrustedProxies:    []string{},
		},
		Admin: Admin{
			Addr:   "127.0.0.1:8081",
			Tokens: []AdminToken{},
		},
		Storage: Storage{
			DSN:               "sqlite:///var/lib/wxoidc/wxoidc.db",
			MigrateOnStart:    true,
			SQLiteSynchronous: "FULL",
			SQLiteBusyTimeout: D(5 * time.Second),
			PostgresMaxConns:  10,
			CleanupInterval:   D(10 * time.Minute),
			CleanupBatch:      1000,
		},
		WeChat: WeChat{
			BaseURL:          "https://api.weixin.qq.com",
			FallbackBaseURLs: []string{"https://api2.weixin.qq.com"},
			BrowserBaseURL:   "https://open.weixin.qq.com",
			CallTimeout:      D(5 * time.Second),
			Apps:             []WeChatApp{},
		},
		Limits: Limits{
			TokenPerIP:             Rate{Limit: 1200, Per: D(time.Minute), Burst: 200},
			TokenPerClient:         Rate{Limit: 100, Per: D(time.Second), Burst: 200},
			WeChatPerUser:          Rate{Limit: 60, Per: D(time.Minute), Burst: 20},
			WeChatPerApp:           Rate{Limit: 200, Per: D(time.Second), Burst: 400},
			PhoneLookupsPerAccount: Rate{Limit: 10, Per: D(24 * time.Hour), Burst: 10},
			MaxTrackedKeys:         100000,
			WeChatMaxConcurrency:   64,
			WeChatQueueTimeout:     D(time.Second),
			Breaker: Breaker{
				Window:         D(10 * time.Second),
				MinRequests:    20,
				FailurePercent: 50,
				OpenFor:        D(5 * time.Second),
				Probes:         3,
			},
		},
		Tokens: Tokens{
			AccessTokenFormat:         "jwt",
			AccessTokenLifetime:       D(time.Hour),
			IDTokenLifetime:           D(time.Hour),
			AuthorizationCodeLifetime: D(time.Minute),
			RefreshTokenLifetime:      D(720 * time.Hour),
		},
		Keys: Keys{
			// The keys package owns these defaults; only the rotation
			// period differs (keys leaves rotation off, a deployment wants it).
			Algorithms:           slices.Clone(keys.SupportedAlgorithms),
			DefaultAlgorithm:     keys.DefaultIDTokenAlgorithm,
			AccessTokenAlgorithm: keys.DefaultAccessTokenAlgorithm,
			RSABits:              keys.DefaultRSABits,
			ReloadInterval:       D(keys.DefaultReloadInterval),
			RotationPeriod:       D(720 * time.Hour),
			ClockSkew:            D(keys.DefaultClockSkew),
		},
		Clients: Clients{SecretHashCost: 25000},
		Log:     Log{Level: "info", Format: "json"},
	}
}

// Load builds the configuration: defaults, then the YAML file at path (""
// means defaults only; unknown keys are errors), then the WXOIDC_* variables
// in environ (os.Environ() in main; a slice in tests), then Normalize and
// Validate. Secrets with an env source resolve against environ.
//
// Every problem with the environment and every validation failure is returned
// together in one *ValidationError; a malformed file stops loading at once.
func Load(path string, environ []string) (*Config, error) {
	var data []byte
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read config: %w", err)
		}
		data = b
	}
	return load(data, path, environ)
}

func load(data []byte, name string, environ []string) (*Config, error) {
	c := Default()
	if err := decodeYAML(data, c); err != nil {
		return nil, fmt.Errorf("config file %s: %w", name, err)
	}
	if err := c.ApplyEnv(environ); err != nil {
		return nil, err
	}
	return c, nil
}

// ApplyEnv overrides c with the WXOIDC_* variables in environ, then
// normalizes and validates it: what Load does after reading the file. Dev
// mode calls it on its built-in configuration.
func (c *Config) ApplyEnv(environ []string) error {
	env := newEnvironment(environ)
	problems := applyEnv(c, env)
	bindSecrets(c, env)
	problems = append(problems, unknownEnv(c, env)...)
	c.Normalize()
	// A key the environment already reported (a secret set twice) would only
	// be reported again, less clearly, by validation.
	reported := map[string]bool{}
	for _, p := range problems {
		reported[p.Key] = true
	}
	for _, p := range c.problems() {
		if !reported[p.Key] {
			problems = append(problems, p)
		}
	}
	if len(problems) > 0 {
		return &ValidationError{Problems: problems}
	}
	return nil
}

// decodeYAML decodes one YAML document over c. An empty file leaves c as is.
func decodeYAML(data []byte, c *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return fmt.Errorf("parse YAML: %w", err)
	}
	// A second document would be silently ignored; say so instead.
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return errors.New("parse YAML: more than one document (remove the extra ---)")
	}
	return nil
}

// Normalize fills derived defaults and canonicalises spellings. Load calls it;
// code that builds a Config by hand (dev mode) calls it before Validate.
func (c *Config) Normalize() {
	c.Issuer = trimURL(c.Issuer)
	c.WeChat.BaseURL = trimURL(c.WeChat.BaseURL)
	for i, u := range c.WeChat.FallbackBaseURLs {
		c.WeChat.FallbackBaseURLs[i] = trimURL(u)
	}
	c.WeChat.BrowserBaseURL = trimURL(c.WeChat.BrowserBaseURL)
	for i := range c.WeChat.Apps {
		a := &c.WeChat.Apps[i]
		if a.Kind = strings.ToLower(strings.TrimSpace(a.Kind)); a.Kind == "" {
			a.Kind = WeChatKindMiniProgram
		}
	}
	c.Storage.SQLiteSynchronous = strings.ToUpper(strings.TrimSpace(c.Storage.SQLiteSynchronous))
	c.Tokens.AccessTokenFormat = strings.ToLower(strings.TrimSpace(c.Tokens.AccessTokenFormat))
	c.Log.Level = strings.ToLower(strings.TrimSpace(c.Log.Level))
	c.Log.Format = strings.ToLower(strings.TrimSpace(c.Log.Format))
	if c.Keys.JWKSMaxAge.Duration == 0 {
		c.Keys.JWKSMaxAge = c.Keys.ReloadInterval
	}
	if c.Accounts.DefaultAudience == "" {
		c.Accounts.DefaultAudience = c.Issuer
	}
}

// trimURL drops surrounding space and trailing slashes, so
// https://id.example.com/ and https://id.example.com name one issuer.
func trimURL(s string) string {
	return strings.TrimRight(strings.TrimSpace(s), "/")
}
