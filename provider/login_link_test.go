package provider

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/wxoidc/wxoidc/storage"
)

// LinkLogin reads before it writes (a session usually signs in to the same
// client again): linking twice records the client once, every client is
// recorded, and a session that is gone still answers ErrNoLogin, linked
// before or not.
func TestLinkLogin(t *testing.T) {
	e := newAuthzEnv(t)
	ctx := context.Background()
	_, acc, err := e.store.ResolveWeChatLogin(ctx, storage.WeChatLogin{AppID: benchAppID, OpenID: "openid-link", NewAccountID: "acc-link", Now: time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	cookie, login, err := e.p.StartLogin(ctx, acc.ID, benchAppID)
	if err != nil {
		t.Fatal(err)
	}
	parse := func(client, redirect string) *AuthorizeRequest {
		r, err := e.p.ParseAuthorize(ctx, authzForm(client, redirect), time.Now())
		if err != nil {
			t.Fatalf("%s: %v", client, err)
		}
		return r
	}
	confidential, public := parse(authzConfidential, authzCallback), parse(authzPublic, authzLoopback)
	for _, r := range []*AuthorizeRequest{confidential, confidential, public, confidential} {
		if err := e.p.LinkLogin(ctx, r, login); err != nil {
			t.Fatalf("link %s: %v", r.ClientID, err)
		}
	}
	_, clients, err := e.p.EndLogin(ctx, cookie)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{authzPublic, authzConfidential}; !slices.Equal(slices.Sorted(slices.Values(clients)), slices.Sorted(slices.Values(want))) {
		t.Fatalf("linked clients %v, want %v", clients, want)
	}
	for _, r := range []*AuthorizeRequest{confidential, public} {
		if err := e.p.LinkLogin(ctx, r, login); !errors.Is(err, ErrNoLogin) {
			t.Fatalf("link %s to an ended session: %v, want ErrNoLogin", r.ClientID, err)
		}
	}
}
