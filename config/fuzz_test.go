package config

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// FuzzLoad feeds random YAML and random WXOIDC_* variables through the whole
// load path. It must never panic, and a config it accepts must stay valid
// and unchanged under a second Normalize.
func FuzzLoad(f *testing.F) {
	example, err := os.ReadFile(examplePath)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example, "WXOIDC_APP_SECRET_WX1234567890ABCDEF=x")
	f.Add([]byte("issuer: https://id.example.com\nsecrets:\n  kek: {env: KEK}\nadmin: {addr: \"\"}\n"), "KEK="+testKEK)
	f.Add([]byte(""), strings.Join(minimalEnviron(), "\n"))
	f.Add([]byte("wechat:\n  apps:\n    - {appid: wx1, secret: {env: S}}\n"), "WXOIDC_WECHAT_APPS=[{appid: a}]\nWXOIDC_KEYS_ALGORITHMS=RS256,,ES256")
	f.Add([]byte("keys: {algorithms: [RS256], jwks_max_age: 1h}\ntokens: {refresh_token_grace: -1s}\n"), "WXOIDC_SECRETS_KEK_FILE=\nWXOIDC_HTTP_TRUSTED_PROXIES=::/0")
	f.Add([]byte("a: &a [*a]\n"), "WXOIDC_ADMIN_TOKENS={}")
	f.Fuzz(func(t *testing.T, data []byte, envText string) {
		c, err := load(data, "fuzz.yaml", strings.Split(envText, "\n"))
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Load accepted a config that Validate rejects: %v", err)
		}
		before := *c
		before.WeChat.FallbackBaseURLs = slices.Clone(c.WeChat.FallbackBaseURLs) // Normalize edits it in place
		c.Normalize()
		if !configsEqual(&before, c) {
			t.Fatalf("Normalize is not idempotent")
		}
	})
}
