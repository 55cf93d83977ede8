package keys

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/wxoidc/wxoidc/storage"
)

// Defaults applied by NewManager (and the package-level Rotate and Revoke)
// to zero Config fields.
const (
	DefaultReloadInterval       = 30 * time.Second
	DefaultClockSkew            = time.Minute
	DefaultRSABits              = 2048
	DefaultIDTokenAlgorithm     = RS256 // Config.DefaultAlgorithm; OIDC's mandatory one
	DefaultAccessTokenAlgorithm = ES256 // Config.AccessTokenAlgorithm; small, fast tokens
)

// Events passed to Config.OnChange, one per key whose state this instance
// changed.
const (
	EventCreated   = "created"   // a new key was stored (as next, or as current at bootstrap)
	EventActivated = "activated" // next → current: the key now signs
	EventRetired   = "retired"   // current → retired: published, no longer signing
	EventRevoked   = "revoked"   // removed from the JWKS at once
	EventRemoved   = "removed"   // deleted from storage (retired past RemoveAfter, or old revoked)
)

// Config configures a Manager. Zero fields take the documented defaults.
type Config struct {
	// Store holds the key set; required.
	Store storage.KeyStore
	// Cipher encrypts private keys at rest; required.
	Cipher *Cipher
	// Algorithms that have a current and a next key. Default RS256, ES256, EdDSA.
	Algorithms []string
	// DefaultAlgorithm signs ID tokens when the client names none. Default RS256.
	DefaultAlgorithm string
	// AccessTokenAlgorithm signs JWT access tokens. Default ES256.
	AccessTokenAlgorithm string
	// RSABits is the modulus size of new RSA keys: 2048 (default) or 3072.
	RSABits int
	// ReloadInterval is how often every instance reloads the set from
	// storage. Default 30s.
	ReloadInterval time.Duration
	// JWKSMaxAge is the JWKS Cache-Control max-age; at most ReloadInterval.
	// Default ReloadInterval.
	JWKSMaxAge time.Duration
	// RotationPeriod is the age of a current key after which Run rotates it;
	// 0 disables automatic rotation. When set it must be at least
	// SafePublishDelay.
	RotationPeriod time.Duration
	// MaxTokenLifetime is the longest lifetime of anything signed (ID and
	// access tokens); required. Retired keys stay published this long.
	MaxTokenLifetime time.Duration
	// ClockSkew is added to every "until tokens expire" period. Default 1m.
	ClockSkew time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives lifecycle logs; default slog.Default().
	Logger *slog.Logger
	// OnChange, if set, is called after each committed state change made by
	// this process (audit log, metrics). It must not block for long.
	OnChange func(event string, k KeyInfo)
}

// SafePublishDelay is how long a next key must have been in storage before
// it may sign: one ReloadInterval for every instance to load and publish it,
// plus one JWKSMaxAge for every cached JWKS to expire.
func (c Config) SafePublishDelay() time.Duration {
	return c.JWKSMaxAge + c.ReloadInterval
}

// RetiredKeepFor is how long a key stays published after it stops signing.
// Other instances may keep signing with it until their next reload, and
// their tokens live MaxTokenLifetime, checked with ClockSkew.
func (c Config) RetiredKeepFor() time.Duration {
	return c.ReloadInterval + c.MaxTokenLifetime + c.ClockSkew
}

// revokedKeepFor is how long a revoked row is kept (never published) for
// audit and for the admin's follow-up before cleanup deletes it.
func (c Config) revokedKeepFor() time.Duration {
	return c.MaxTokenLifetime + c.ClockSkew
}

// WithDefaults returns c with the documented defaults applied to its zero
// fields, validated as NewManager, Rotate and Revoke do: callers that need
// a default (the admin service bounding a key's signing window) read it
// here rather than repeat it.
func (c Config) WithDefaults() (Config, error) { return c.normalize() }

// normalize applies defaults and validates, reporting every problem at once.
func (c Config) normalize() (Config, error) {
	if c.Algorithms == nil {
		c.Algorithms = slices.Clone(SupportedAlgorithms)
	} else {
		c.Algorithms = slices.Clone(c.Algorithms)
	}
	if c.DefaultAlgorithm == "" {
		c.DefaultAlgorithm = DefaultIDTokenAlgorithm
	}
	if c.AccessTokenAlgorithm == "" {
		c.AccessTokenAlgorithm = DefaultAccessTokenAlgorithm
	}
	if c.RSABits == 0 {
		c.RSABits = DefaultRSABits
	}
	if c.ReloadInterval == 0 {
		c.ReloadInterval = DefaultReloadInterval
	}
	if c.JWKSMaxAge == 0 {
		c.JWKSMaxAge = c.ReloadInterval
	}
	if c.ClockSkew == 0 {
		c.ClockSkew = DefaultClockSkew
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}

	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf("keys: config: "+format, args...)) }
	if c.Store == nil {
		add("Store is required")
	}
	if c.Cipher == nil {
		add("Cipher is required")
	}
	if len(c.Algorithms) == 0 {
		add("Algorithms is empty")
	}
	for i, alg := range c.Algorithms {
		if !supportedAlgorithm(alg) {
			add("algorithm %q is not supported (supported: %v)", alg, SupportedAlgorithms)
		} else if slices.Index(c.Algorithms, alg) != i {
			add("algorithm %q is listed twice", alg)
		}
	}
	if !slices.Contains(c.Algorithms, c.DefaultAlgorithm) {
		add("DefaultAlgorithm %q is not one of Algorithms %v", c.DefaultAlgorithm, c.Algorithms)
	}
	if !slices.Contains(c.Algorithms, c.AccessTokenAlgorithm) {
		add("AccessTokenAlgorithm %q is not one of Algorithms %v", c.AccessTokenAlgorithm, c.Algorithms)
	}
	if c.RSABits != 2048 && c.RSABits != 3072 {
		add("RSABits must be 2048 or 3072, got %d", c.RSABits)
	}
	if c.ReloadInterval < 0 {
		add("ReloadInterval must be positive, got %s", c.ReloadInterval)
	}
	if c.JWKSMaxAge < 0 {
		add("JWKSMaxAge must be positive, got %s", c.JWKSMaxAge)
	}
	if c.JWKSMaxAge > c.ReloadInterval {
		// A longer max-age would let clients cache a set that lacks a key
		// promoted after one reload interval.
		add("JWKSMaxAge (%s) must not exceed ReloadInterval (%s)", c.JWKSMaxAge, c.ReloadInterval)
	}
	if c.MaxTokenLifetime <= 0 {
		add("MaxTokenLifetime is required and must be positive, got %s", c.MaxTokenLifetime)
	}
	if c.ClockSkew < 0 {
		add("ClockSkew must not be negative, got %s", c.ClockSkew)
	}
	if c.RotationPeriod < 0 {
		add("RotationPeriod must not be negative, got %s", c.RotationPeriod)
	} else if c.RotationPeriod > 0 && c.RotationPeriod < c.SafePublishDelay() {
		add("RotationPeriod (%s) must be 0 or at least the safe publish delay JWKSMaxAge+ReloadInterval (%s)", c.RotationPeriod, c.SafePublishDelay())
	}
	return c, errors.Join(errs...)
}
