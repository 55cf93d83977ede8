package config

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testKEK is a well-formed key-encryption key (32 bytes, base64).
var testKEK = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))

// testAdminToken is long enough for the admin-token rule.
const testAdminToken = "0123456789abcdef0123456789abcdef"

// baseEnviron is what validConfig's secrets read.
func baseEnviron() []string {
	return []string{
		"KEK=" + testKEK,
		"ADMIN_TOKEN=" + testAdminToken,
		"WX_SECRET=wechat-app-secret",
	}
}

// validConfig returns a normalised Config that passes Validate, with secrets
// resolved against baseEnviron (never the process environment).
func validConfig(t *testing.T) *Config {
	t.Helper()
	c := Default()
	c.Issuer = "https://id.example.com"
	c.Secrets.KEK = EnvSecret("KEK")
	c.Admin.Tokens = []AdminToken{{Name: "ops", Token: EnvSecret("ADMIN_TOKEN")}}
	c.WeChat.Apps = []WeChatApp{{AppID: "wx1234567890abcdef", Secret: EnvSecret("WX_SECRET")}}
	bindSecrets(c, newEnvironment(baseEnviron()))
	c.Normalize()
	if err := c.Validate(); err != nil {
		t.Fatalf("validConfig does not validate: %v", err)
	}
	return c
}

// writeFile writes content to a new file in a test temp dir and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// problemsOf returns the problems of a *ValidationError, failing otherwise.
func problemsOf(t *testing.T, err error) []Problem {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want *ValidationError, got %T: %v", err, err)
	}
	return ve.Problems
}

// hasProblem reports whether problems holds one for key whose message contains substr.
func hasProblem(problems []Problem, key, substr string) bool {
	for _, p := range problems {
		if p.Key == key && strings.Contains(p.Message, substr) {
			return true
		}
	}
	return false
}

// writeFileAt replaces the content of an existing file.
func writeFileAt(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
