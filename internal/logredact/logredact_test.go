package logredact

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/wxoidc/wxoidc/internal/testharness"
)

// TestTheSafetyNet logs secrets under secret-like names on purpose: the
// single redaction point must catch them, in groups and in With too, and
// leave other attributes alone.
func TestTheSafetyNet(t *testing.T) {
	var logs testharness.Buffer
	log := slog.New(New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))).
		With("client_secret", "with-attrs-secret-value")
	log.Info("mistake", "code", "login-code-value", "session_key", "session-key-value",
		"phone_number", "+8613800000000", "refresh_token", "refresh-token-value", "client_id", "visible-client",
		slog.Group("req", "authorization", "Basic c2VjcmV0OnNlY3JldA==", "encrypted_data", "ciphertext-value"))
	log.WithGroup("grp").Info("grouped", "kek", "kek-value")
	out := logs.String()
	for _, v := range []string{"with-attrs-secret-value", "login-code-value", "session-key-value", "+8613800000000",
		"refresh-token-value", "c2VjcmV0OnNlY3JldA==", "ciphertext-value", "kek-value"} {
		if strings.Contains(out, v) {
			t.Errorf("%q reached the log: %s", v, out)
		}
	}
	if !strings.Contains(out, "[redacted]") || !strings.Contains(out, "visible-client") {
		t.Fatalf("want secrets redacted and client_id kept: %s", out)
	}
}
