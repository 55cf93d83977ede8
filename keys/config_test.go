package keys

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestNewManagerValidation(t *testing.T) {
	t.Parallel()
	cipher := testCipher(t)
	valid := func() Config {
		return Config{Store: &memStore{}, Cipher: cipher, MaxTokenLifetime: time.Hour}
	}
	tests := []struct {
		name   string
		mutate func(*Config)
		want   []string // substrings, all of which must appear
	}{
		{"no store", func(c *Config) { c.Store = nil }, []string{"Store is required"}},
		{"no cipher", func(c *Config) { c.Cipher = nil }, []string{"Cipher is required"}},
		{"empty algorithms", func(c *Config) { c.Algorithms = []string{} }, []string{"Algorithms is empty"}},
		{"unsupported algorithm", func(c *Config) { c.Algorithms = []string{RS256, "HS256"} }, []string{`"HS256" is not supported`}},
		{"duplicate algorithm", func(c *Config) { c.Algorithms = []string{RS256, ES256, RS256} }, []string{`"RS256" is listed twice`}},
		{"default alg not configured", func(c *Config) { c.Algorithms = []string{ES256} }, []string{"DefaultAlgorithm \"RS256\""}},
		{"access token alg not configured", func(c *Config) { c.AccessTokenAlgorithm = EdDSA; c.Algorithms = []string{RS256, ES256} }, []string{"AccessTokenAlgorithm \"EdDSA\""}},
		{"RSA 1024", func(c *Config) { c.RSABits = 1024 }, []string{"RSABits must be 2048 or 3072"}},
		{"RSA 4096", func(c *Config) { c.RSABits = 4096 }, []string{"RSABits must be 2048 or 3072"}},
		{"negative reload interval", func(c *Config) { c.ReloadInterval = -time.Second; c.JWKSMaxAge = -2 * time.Second }, []string{"ReloadInterval must be positive"}},
		{"max-age longer than reload", func(c *Config) { c.ReloadInterval = 10 * time.Second; c.JWKSMaxAge = 11 * time.Second }, []string{"JWKSMaxAge (11s) must not exceed ReloadInterval (10s)"}},
		{"negative max-age", func(c *Config) { c.JWKSMaxAge = -time.Second }, []string{"JWKSMaxAge must be positive"}},
		{"no token lifetime", func(c *Config) { c.MaxTokenLifetime = 0 }, []string{"MaxTokenLifetime is required"}},
		{"negative skew", func(c *Config) { c.ClockSkew = -time.Second }, []string{"ClockSkew must not be negative"}},
		{"negative rotation period", func(c *Config) { c.RotationPeriod = -time.Hour }, []string{"RotationPeriod must not be negative"}},
		{"rotation period shorter than publish delay", func(c *Config) { c.RotationPeriod = 59 * time.Second }, []string{"RotationPeriod (59s) must be 0 or at least", "(1m0s)"}},
		{"every problem at once", func(c *Config) {
			c.Store, c.Cipher, c.RSABits, c.MaxTokenLifetime = nil, nil, 1, 0
		}, []string{"Store is required", "Cipher is required", "RSABits", "MaxTokenLifetime"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid()
			tt.mutate(&cfg)
			m, err := NewManager(cfg)
			if err == nil {
				t.Fatal("NewManager accepted the config")
			}
			if m != nil {
				t.Fatal("Manager returned with an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	m, err := NewManager(Config{Store: &memStore{}, Cipher: testCipher(t), MaxTokenLifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	c := m.Config()
	if !slices.Equal(c.Algorithms, []string{RS256, ES256, EdDSA}) || c.DefaultAlgorithm != RS256 || c.AccessTokenAlgorithm != ES256 {
		t.Fatalf("algorithm defaults %v %s %s", c.Algorithms, c.DefaultAlgorithm, c.AccessTokenAlgorithm)
	}
	if c.RSABits != 2048 || c.ReloadInterval != 30*time.Second || c.JWKSMaxAge != 30*time.Second || c.ClockSkew != time.Minute {
		t.Fatalf("defaults %+v", c)
	}
	if c.SafePublishDelay() != time.Minute || m.MaxAge() != 30*time.Second {
		t.Fatalf("SafePublishDelay %s MaxAge %s", c.SafePublishDelay(), m.MaxAge())
	}
	if c.Now == nil || c.Logger == nil || c.RotationPeriod != 0 {
		t.Fatal("clock, logger or rotation default")
	}
	if m.IDTokenSigner().DefaultAlgorithm() != RS256 || m.AccessTokenSigner().DefaultAlgorithm() != ES256 {
		t.Fatal("signer defaults")
	}

	// The caller's slice is copied.
	algs := []string{ES256, RS256}
	m, err = NewManager(Config{Store: &memStore{}, Cipher: testCipher(t), MaxTokenLifetime: time.Hour, Algorithms: algs, AccessTokenAlgorithm: ES256})
	if err != nil {
		t.Fatal(err)
	}
	algs[0] = "HS256"
	if m.Config().Algorithms[0] != ES256 {
		t.Fatal("Config.Algorithms aliases the caller's slice")
	}
}
