package app_test

import (
	"context"
	"testing"

	"github.com/wxoidc/wxoidc/storage"
)

// Introspection answers inactive for the tokens of a disabled account, as
// refresh and UserInfo refuse them, even when nothing revoked the tokens:
// the account is disabled in storage directly, skipping the revocation the
// admin service does, to test the introspection rule alone.
func TestIntrospectionRefusesDisabledAccount(t *testing.T) {
	s := newStack(t)
	tr := mustToken(t, s.token(wechatForm(miniA, s.login(appA, "dora"), "scope", "openid offline_access")))
	sub := s.verifyID(miniA, tr).Subject
	if got := s.introspect(tr.AccessToken); got["active"] != true || got["sub"] != sub {
		t.Fatalf("before the disable: %v", got)
	}
	if _, err := s.App.Store.UpdateAccount(context.Background(), sub, func(a storage.Account) (storage.Account, error) {
		a.Disabled = true
		return a, nil
	}); err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{"access": tr.AccessToken, "refresh": tr.RefreshToken} {
		if got := s.introspect(tok); got["active"] != false || len(got) != 1 {
			t.Errorf("%s token of a disabled account introspects as %v, want only active:false", name, got)
		}
	}
}
