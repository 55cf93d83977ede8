package config

import (
	"errors"
	"io/fs"
	"reflect"
	"strings"
	"testing"
	"time"
)

// minimalEnviron makes a defaults-only Load valid.
func minimalEnviron() []string {
	return []string{
		"WXOIDC_ISSUER=https://id.example.com",
		"WXOIDC_SECRETS_KEK_ENV=KEK", "KEK=" + testKEK,
		"WXOIDC_ADMIN_TOKENS=[{name: ops, token: {env: ADMIN_TOKEN}}]", "ADMIN_TOKEN=" + testAdminToken,
	}
}

func TestLoadDefaultsOnly(t *testing.T) {
	c, err := Load("", minimalEnviron())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := Default()
	want.Issuer = "https://id.example.com"
	want.Secrets.KEK = EnvSecret("KEK")
	want.Admin.Tokens = []AdminToken{{Name: "ops", Token: EnvSecret("ADMIN_TOKEN")}}
	want.Normalize()
	if !configsEqual(c, want) {
		t.Fatalf("Load = %+v\nwant %+v", c, want)
	}
	if c.Keys.JWKSMaxAge != c.Keys.ReloadInterval || c.Accounts.DefaultAudience != c.Issuer {
		t.Errorf("derived defaults not filled: %+v %+v", c.Keys, c.Accounts)
	}
}

func TestLoadDefaultsAloneReportRequiredKeys(t *testing.T) {
	_, err := Load("", nil)
	problems := problemsOf(t, err)
	for _, key := range []string{"issuer", "secrets.kek", "admin.tokens"} {
		if !hasProblem(problems, key, "") {
			t.Errorf("no problem for %s in %v", key, err)
		}
	}
	if len(problems) != 3 {
		t.Errorf("defaults should miss exactly issuer, kek and admin tokens, got:\n%v", err)
	}
}

func TestLoadYAML(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		check   func(t *testing.T, c *Config)
		wantErr string
	}{
		{name: "empty file keeps defaults", yaml: "", check: func(t *testing.T, c *Config) {
			want(t, "addr", c.HTTP.Addr, ":8080")
		}},
		{name: "comment-only file keeps defaults", yaml: "# nothing\n", check: func(t *testing.T, c *Config) {
			want(t, "addr", c.HTTP.Addr, ":8080")
		}},
		{name: "partial section keeps sibling defaults", yaml: "http:\n  addr: \":9090\"\n", check: func(t *testing.T, c *Config) {
			want(t, "addr", c.HTTP.Addr, ":9090")
			want(t, "read timeout default", c.HTTP.ReadTimeout, D(10*time.Second))
		}},
		{name: "list replaces the default, not appends", yaml: "wechat:\n  fallback_base_urls: [https://a.example.com/]\n", check: func(t *testing.T, c *Config) {
			want(t, "fallbacks", c.WeChat.FallbackBaseURLs, []string{"https://a.example.com"})
		}},
		{name: "empty list", yaml: "wechat:\n  fallback_base_urls: []\n", check: func(t *testing.T, c *Config) {
			want(t, "fallbacks", c.WeChat.FallbackBaseURLs, []string{})
		}},
		{name: "durations", yaml: "tokens:\n  refresh_token_grace: 2m30s\n  refresh_token_lifetime: 2160h\n", check: func(t *testing.T, c *Config) {
			want(t, "grace", c.Tokens.RefreshTokenGrace, D(150*time.Second))
			want(t, "lifetime", c.Tokens.RefreshTokenLifetime, D(2160*time.Hour))
		}},
		{name: "enum spelling normalised", yaml: "log: {level: DEBUG, format: Text}\nstorage: {sqlite_synchronous: normal}\ntokens: {access_token_format: OPAQUE}\n", check: func(t *testing.T, c *Config) {
			want(t, "level", c.Log.Level, "debug")
			want(t, "format", c.Log.Format, "text")
			want(t, "sync", c.Storage.SQLiteSynchronous, "NORMAL")
			want(t, "format", c.Tokens.AccessTokenFormat, "opaque")
		}},
		{name: "unknown top-level key", yaml: "isuer: https://x\n", wantErr: "field isuer not found"},
		{name: "unknown nested key", yaml: "http:\n  adr: \":1\"\n", wantErr: "field adr not found"},
		{name: "unknown key in a list item", yaml: "wechat:\n  apps:\n    - {appid: wx1, secret: {env: S}, extra: 1}\n", wantErr: "field extra not found"},
		{name: "bare-number duration", yaml: "http:\n  read_timeout: 30\n", wantErr: "missing unit"},
		{name: "mapping duration", yaml: "http:\n  read_timeout: {s: 1}\n", wantErr: "duration must be a scalar"},
		{name: "wrong type", yaml: "storage:\n  postgres_max_conns: many\n", wantErr: "cannot unmarshal"},
		{name: "inline secret string", yaml: "secrets:\n  kek: c2VjcmV0\n", wantErr: "a secret must be a mapping"},
		{name: "two documents", yaml: "issuer: https://a\n---\nissuer: https://b\n", wantErr: "more than one document"},
		{name: "syntax error", yaml: "http: [\n", wantErr: "parse YAML"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, "config.yaml", tt.yaml)
			c, err := Load(path, minimalEnviron())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Load error = %v, want …%s…", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), path) {
					t.Errorf("error does not name the file: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			tt.check(t, c)
		})
	}
}

func TestLoadIssuerFromFileNormalised(t *testing.T) {
	path := writeFile(t, "config.yaml", "issuer: https://id.example.com/oidc/\n")
	c, err := Load(path, minimalEnviron()[1:]) // without WXOIDC_ISSUER
	if err != nil {
		t.Fatal(err)
	}
	want(t, "issuer", c.Issuer, "https://id.example.com/oidc")
	want(t, "default audience", c.Accounts.DefaultAudience, "https://id.example.com/oidc")
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("/nonexistent/wxoidc.yaml", minimalEnviron())
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load error = %v, want fs.ErrNotExist", err)
	}
}

// TestLoadResolvesSecretsAgainstEnviron checks that env sources read the
// environ given to Load, not the process environment.
func TestLoadResolvesSecretsAgainstEnviron(t *testing.T) {
	t.Setenv("KEK", "process-value-must-not-be-used")
	c, err := Load("", minimalEnviron())
	if err != nil {
		t.Fatal(err)
	}
	if v, err := c.Secrets.KEK.Reveal(); err != nil || v != testKEK {
		t.Fatalf("Reveal() = %q, %v; want the environ's value", v, err)
	}
}

func TestDurationFormat(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 30 * time.Second: "30s", 10 * time.Minute: "10m", time.Hour: "1h", 720 * time.Hour: "720h",
		90 * time.Minute: "1h30m", time.Hour + time.Second: "1h0m1s", 1500 * time.Millisecond: "1.5s",
		5 * time.Millisecond: "5ms", -time.Minute: "-1m",
	} {
		if got := D(d).String(); got != want {
			t.Errorf("D(%v).String() = %q, want %q", d, got, want)
		}
		if back, err := parseDuration(want); err != nil || back.Duration != d {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", want, back, err, d)
		}
	}
}

// configsEqual compares two configs, ignoring which environment their
// secrets are bound to.
func configsEqual(a, b *Config) bool {
	unbind := func(c *Config) *Config {
		cp := *c
		cp.Admin.Tokens = append([]AdminToken(nil), c.Admin.Tokens...)
		cp.WeChat.Apps = append([]WeChatApp(nil), c.WeChat.Apps...)
		eachSecret(&cp, func(_ string, s *Secret) { s.environ = nil })
		return &cp
	}
	return reflect.DeepEqual(unbind(a), unbind(b))
}
