package storagetest

import (
	"errors"
	"testing"

	"github.com/wxoidc/wxoidc/storage"
)

// testInputValidation: malformed input is refused by the backend itself,
// not stored for a later reader to trip over, and not mistaken for "not
// found".
func testInputValidation(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	signingKeys := func(ks ...storage.SigningKey) func() error {
		return func() error {
			_, err := s.UpdateSigningKeys(ctx, func([]storage.SigningKey) ([]storage.SigningKey, error) {
				return ks, nil
			})
			return err
		}
	}
	tests := []struct {
		name string
		call func() error
	}{
		{"create token of unknown kind", func() error {
			return s.CreateTokenSession(ctx, storage.TokenSession{Kind: "id_token", Signature: "s"})
		}},
		{"create token without signature", func() error {
			return s.CreateTokenSession(ctx, storage.TokenSession{Kind: storage.KindAccessToken})
		}},
		{"revoke unknown kind", func() error { _, err := s.RevokeTokenSessions(ctx, "nope", "r"); return err }},
		{"revoke empty kind", func() error { _, err := s.RevokeTokenSessions(ctx, "", "r"); return err }},
		{"revoke empty subject", func() error { _, err := s.RevokeSubjectTokens(ctx, ""); return err }},
		{"delete expired with zero limit", func() error {
			_, err := s.DeleteExpiredTokenSessions(ctx, baseTime, 0)
			return err
		}},
		{"list audit with zero limit", func() error { _, err := s.ListAudit(ctx, 0, 0); return err }},
		{"list audit before a negative id", func() error { _, err := s.ListAudit(ctx, -1, 10); return err }},
		{"create client without ID", func() error { return s.CreateClient(ctx, storage.Client{}) }},
		{"login without openid", func() error {
			_, _, err := s.ResolveWeChatLogin(ctx, storage.WeChatLogin{AppID: "wx", NewAccountID: "a", Now: baseTime})
			return err
		}},
		{"login without appid", func() error {
			_, _, err := s.ResolveWeChatLogin(ctx, storage.WeChatLogin{OpenID: "o", NewAccountID: "a", Now: baseTime})
			return err
		}},
		{"create login session without ID", func() error {
			return s.CreateLoginSession(ctx, storage.LoginSession{AccountID: "account-v"})
		}},
		{"create login session without account", func() error {
			return s.CreateLoginSession(ctx, storage.LoginSession{ID: "session-v"})
		}},
		{"link a login session to the empty client", func() error {
			return s.AddLoginSessionClient(ctx, "session-v", "")
		}},
		{"delete expired login sessions with zero limit", func() error {
			_, err := s.DeleteExpiredLoginSessions(ctx, baseTime, 0)
			return err
		}},
		{"delete expired login sessions with negative limit", func() error {
			_, err := s.DeleteExpiredLoginSessions(ctx, baseTime, -1)
			return err
		}},
		{"put consent without account", func() error {
			return s.PutConsent(ctx, storage.Consent{ClientID: "client-v"})
		}},
		{"put consent without client", func() error {
			return s.PutConsent(ctx, storage.Consent{AccountID: "account-v"})
		}},
		{"create auth flow without ID", func() error { return s.CreateAuthFlow(ctx, storage.AuthFlow{ClientID: "client-v"}) }},
		{"delete expired auth flows with zero limit", func() error {
			_, err := s.DeleteExpiredAuthFlows(ctx, baseTime, 0)
			return err
		}},
		{"key with empty kid", signingKeys(storage.SigningKey{Algorithm: "RS256", State: storage.KeyNext})},
		{"key with unknown state", signingKeys(storage.SigningKey{KID: "k", Algorithm: "RS256", State: "active"})},
		{"duplicate kid", signingKeys(
			storage.SigningKey{KID: "k", Algorithm: "RS256", State: storage.KeyNext, CreatedAt: baseTime},
			storage.SigningKey{KID: "k", Algorithm: "ES256", State: storage.KeyNext, CreatedAt: baseTime})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	// Nothing of the refused input was stored.
	clients, err := s.ListClients(ctx)
	mustNoErr(t, "ListClients", err)
	if len(clients) != 0 {
		t.Errorf("%d clients stored from refused input", len(clients))
	}
	for _, account := range []string{"", "account-v"} {
		sessions, err := s.ListAccountLoginSessions(ctx, account)
		mustNoErr(t, "ListAccountLoginSessions", err)
		consents, err := s.ListAccountConsents(ctx, account)
		mustNoErr(t, "ListAccountConsents", err)
		if len(sessions)+len(consents) != 0 {
			t.Errorf("account %q: %d login sessions and %d consents stored from refused input", account, len(sessions), len(consents))
		}
	}
	if _, err := s.TakeAuthFlow(ctx, "", baseTime); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("auth flow stored from refused input: take: %v", err)
	}
	ks, err := s.ListSigningKeys(ctx)
	mustNoErr(t, "ListSigningKeys", err)
	if len(ks) != 0 {
		t.Errorf("%d signing keys stored from refused input", len(ks))
	}
}
